//! Criterion benches for cloudcard; run them with `cargo bench -p cloudcard-benches`.
//!
//! Each bench group measures a cloudcard operation beside the raw primitive it is built on (a
//! hand-written loop, a regex scanner, raw HMAC or AES-GCM), so that its cost reads as a ratio
//! to that baseline. This library itself is empty.
