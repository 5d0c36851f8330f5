//! vtsim-timer: the Vitess `RandTicker`, and the fix knobs shared by all components.
#![deny(missing_docs, missing_debug_implementations)]

mod fixes;

pub use fixes::Fixes;
