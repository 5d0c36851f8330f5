//! vtsim-timer: the Vitess `RandTicker`, and the fix knobs shared by all components.
//!
//! [`RandTicker`] ports `go/timer/randticker.go`: a ticker whose every delay is jittered, with a
//! one-tick buffer that drops ticks while the consumer is busy. Vitess drives its Orchestrator
//! self-registration and its connection rotation with it, and most of the timing bugs vtsim
//! reproduces start here. [`Fixes`] holds one switch per latent bug; all off is the faithful Go.
//!
//! # A ticker in a simulation
//!
//! Time is virtual and the jitter is drawn from the simulation seed, so the same seed gives the
//! same ticks, to the nanosecond:
//!
//! ```
//! use std::time::Duration;
//! use vtsim_runtime::Sim;
//! use vtsim_timer::{Fixes, RandTicker};
//!
//! let mut sim = Sim::new(7);
//! let first = sim
//!     .block_on(async {
//!         let d = Duration::from_secs(10);
//!         let mut ticker = RandTicker::new("doc", d, d / 4, &Fixes::faithful()).unwrap();
//!         let first = ticker.recv().await.unwrap();
//!         ticker.stop();
//!         first.since_start()
//!     })
//!     .unwrap();
//! // The first tick comes after one full jittered delay, in [7.5s, 12.5s).
//! assert!(first >= Duration::from_millis(7_500) && first < Duration::from_millis(12_500));
//! ```
//!
//! Outside a simulation the same code runs on real tokio time, with an OS-seeded jitter.
//!
//! # The bugs, and their fixes
//!
//! | Go behaviour                                   | Faithful here                        | Fix knob               |
//! |------------------------------------------------|--------------------------------------|------------------------|
//! | `NewRandTicker(d, 0)` panics in `Int63n(0)`    | [`TickerError::ZeroVariance`]        | `ticker_zero_variance` |
//! | one tick may still arrive after `Stop`         | a coin decides, as in Go's `select`  | `ticker_stop`          |
//! | a second `Stop` panics (closed channel)        | a panic naming the bug               | `ticker_stop`          |
//!
//! # Trace events
//!
//! At debug level, each with `ticker = name`: `ticker.tick` (a tick went into the buffer, with
//! `delay_ns`), `ticker.dropped` (the buffer was full, with `delay_ns` and the running count
//! `dropped`) and `ticker.stop` (the first stop).
#![deny(missing_docs, missing_debug_implementations)]

mod error;
mod fixes;
mod ticker;

pub use error::TickerError;
pub use fixes::Fixes;
pub use ticker::{RandTicker, TickerStop, Ticks};
