//! vtsim-runtime: a deterministic, single-threaded executor with a virtual clock.
//!
//! A simulation is a seed, a virtual clock and the tasks that run on it. Time stands still while any
//! task is ready, and jumps to the next timer when none is, so an hour of timeouts takes
//! microseconds, and the same seed replays the same run, event for event.
//!
//! # A first simulation
//!
//! ```
//! use std::time::Duration;
//! use vtsim_runtime::{task, time, Sim};
//!
//! let mut sim = Sim::new(42);
//! let ticks = sim.block_on(async {
//!     let ticker = task::spawn_named("ticker", async {
//!         let mut n = 0;
//!         let mut interval = time::interval(Duration::from_secs(1));
//!         while n < 3600 {
//!             interval.tick().await;
//!             n += 1;
//!         }
//!         n
//!     });
//!     ticker.await.unwrap()
//! }).unwrap();
//! assert_eq!(ticks, 3600);
//! assert_eq!(sim.elapsed(), Duration::from_secs(3599));
//! ```
//!
//! # The facade
//!
//! Component code calls [`time`], [`task`] and [`rand`]. Inside a simulation they are virtual and
//! seeded; outside one they fall back to real tokio, so the same code runs in production under
//! `#[tokio::main]`. `tokio::sync` (channels, `Notify`, `Mutex`, `RwLock`) works in both, since it
//! needs no runtime. A task that nothing awaits, such as one per request, is cheapest started with
//! [`task::spawn_detached`], which skips the join state a [`task::JoinHandle`] needs.
//!
//! # Traces
//!
//! Every `tracing` event emitted inside a simulation is recorded with its virtual time and task in a
//! [`Trace`], which has a canonical text form and a stable hash. A `kind` field names the event
//! in the trace vocabulary:
//!
//! ```
//! # use vtsim_runtime::Sim;
//! let mut sim = Sim::new(1);
//! sim.block_on(async { tracing::info!(kind = "demo.hello", n = 1u64, "hello") }).unwrap();
//! assert_eq!(sim.trace().count_kind("demo.hello"), 1);
//! ```
//!
//! [`trace_event!`] records the same event as `tracing::event!`, but writes it straight into the
//! trace when the simulation's recorder is the only listener (no `VTSIM_LOG`); the components use
//! it for their events. An event costs 64 bytes plus 24 a field: level, target, kind and field
//! names live once per call site.
//!
//! [`check_determinism`] runs a seed twice and names the first event where the runs differ.
//!
//! # Failures
//!
//! A run fails with a [`SimError`]: a task panicked, a deadlock (tasks that nothing can wake), a
//! livelock (polls without time advancing), or a time, event or wall-time limit. Each names the seed.
//! [`Sim::report`] lists tasks stuck on something other than a timer when a run ends.
//!
//! # Tests
//!
//! `#[vtsim::test]` runs an async test under many seeds, and prints the command that replays a
//! failing one. `VTSIM_SEED` pins one seed, `VTSIM_SEEDS` sets how many run.
#![deny(missing_docs, missing_debug_implementations)]

extern crate self as vtsim_runtime;

mod config;
mod context;
mod determinism;
mod sim;
mod test_support;
mod timer_heap;

pub mod rand;
pub mod task;
pub mod time;
pub mod trace;

pub use config::{parse_duration, Config, Scheduler, TimerOrder};
pub use determinism::{check_determinism, Determinism};
pub use sim::{Report, Sim, SimBuilder, SimError, StuckTask, TaskInfo};
pub use trace::{Divergence, Event, Text, Trace, Value};
pub use vtsim_macros::test;

#[doc(hidden)]
pub mod __private {
    pub use crate::test_support::{run_test, TestBody, TestInfo, TestOutput};
}
