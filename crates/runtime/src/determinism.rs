//! The determinism self-check: one seed, two runs, the same trace.

use std::future::Future;

use crate::sim::{Sim, SimError};
use crate::trace::Divergence;

/// The outcome of [`check_determinism`].
#[derive(Debug, Clone, PartialEq)]
pub enum Determinism {
    /// Both runs gave this trace hash.
    Deterministic {
        /// The trace hash.
        hash: u64,
    },
    /// The runs differ, first at this event.
    Diverged(Divergence),
}

/// Runs `make(seed)` in two fresh simulations with the same seed and compares their traces.
///
/// A run that fails (a panic, a deadlock) is fine so long as both fail the same way: the traces up to
/// the failure are compared.
pub fn check_determinism<F, Fut>(seed: u64, mut make: F) -> Determinism
where
    F: FnMut() -> Fut,
    Fut: Future + 'static,
{
    let mut run = || {
        let mut sim = Sim::new(seed);
        let outcome: Result<(), SimError> = sim.block_on(make()).map(drop);
        (sim.take_trace(), outcome.err().map(|e| e.to_string()))
    };
    let (a, ea) = run();
    let (b, eb) = run();
    match a.first_difference(&b) {
        Some(d) => Determinism::Diverged(d),
        None if ea != eb => Determinism::Diverged(Divergence {
            index: a.len(),
            left: ea,
            right: eb,
        }),
        None => Determinism::Deterministic { hash: a.hash() },
    }
}
