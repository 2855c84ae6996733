//! Runnable cloudcard programs; see `examples/` and run one with `cargo run --example NAME`.
