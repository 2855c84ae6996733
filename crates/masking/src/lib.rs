#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod checks;
mod policy;
mod redact;
mod secret;

pub use policy::{Grouping, MaskPolicy};
pub use redact::{Redactor, redact};
pub use secret::{ExposeSecret, REDACTED, Secret, redacted, redacted_option};
