//! The demo data the default simulators hold, for examples and tests: three people, their
//! cards at five of the national banks, and their face samples. Simulators only.

use std::hash::{DefaultHasher, Hash, Hasher};

use cloudcard_core::ResidentId;
use cloudcard_wallet::FaceSample;

pub use cloudcard_wallet::{DEMO_PEOPLE, SimulatedCard, demo_cards};

/// The face sample the demo face service accepts for the person with `id`.
#[must_use]
pub fn face_of(id: &ResidentId) -> FaceSample {
    let mut h = DefaultHasher::new();
    id.hash(&mut h);
    FaceSample(format!("demo-face-{:016x}", h.finish()))
}
