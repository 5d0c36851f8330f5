//! vtsim: deterministic simulation testing for Vitess timing logic.
//!
//! vtsim pairs faithful Rust ports of three pieces of Vitess timing code with a virtual-clock
//! runtime, so that a flaky timing bug becomes a seed you can replay, event for event.
//!
//! - [`timer::RandTicker`]: fires every `d ± variance`, drops ticks nobody reads, and stops.
//! - [`discover::OrcClient`]: a tablet's periodic Orchestrator self-registration.
//! - [`shardconn::ShardConn`]: a vtgate connection to one shard, with markdown, retries, dial
//!   timeouts, a consolidated dial and connection rotation.
//!
//! Each port is faithful by default, latent bugs included; a [`Fixes`] knob turns on the fixed
//! behaviour, so a scenario can show a bug and its fix side by side.
//!
//! # Writing a simulation test
//!
//! Component code uses [`time`], [`task`] and [`rand`] instead of tokio's: inside a simulation they
//! are virtual and seeded, outside one they are real tokio, so the same code runs in production.
//!
//! ```
//! use std::time::Duration;
//! use vtsim::timer::RandTicker;
//! use vtsim::{time, Fixes, Sim};
//!
//! let mut sim = Sim::new(7);
//! let ticks = sim.block_on(async {
//!     let mut ticker = RandTicker::new("demo", Duration::from_secs(10), Duration::from_secs(2), &Fixes::default())
//!         .expect("a valid ticker");
//!     let mut times = Vec::new();
//!     for _ in 0..3 {
//!         times.push(ticker.recv().await.expect("a tick").since_start());
//!     }
//!     ticker.stop();
//!     times
//! }).unwrap();
//! // Every delay is 10s ± 2s from the previous fire; the same seed gives the same times.
//! assert!(ticks.windows(2).all(|w| w[1] - w[0] >= Duration::from_secs(8) && w[1] - w[0] < Duration::from_secs(12)));
//! assert_eq!(sim.trace().count_kind("ticker.tick"), 3);
//! ```
//!
//! `#[vtsim::test]` runs an async test under many seeds and prints the command that replays a
//! failing one:
//!
//! ```ignore
//! #[vtsim::test(seeds = 64)]
//! async fn rotation_never_kills_an_idle_query() { /* ... */ }
//! ```
//!
//! # Scenario files
//!
//! Most tests are TOML files in `sim-scenarios/`, which drive the components through outages,
//! hangs and slow tablets, and state what the trace must show. `cargo test` runs each file as a test
//! over many seeds; the `vtsim` command runs, replays, explores and checks them. See
//! `docs/scenarios.md`.
#![deny(missing_docs, missing_debug_implementations)]

pub use vtsim_runtime::{
    check_determinism, Config, Determinism, Report, Scheduler, Sim, SimBuilder, SimError,
    TimerOrder, Trace,
};
pub use vtsim_runtime::{rand, task, test, time, trace};
pub use vtsim_timer::Fixes;

/// The jittered ticker of `go/timer/randticker.go`.
pub mod timer {
    pub use vtsim_timer::*;
}

/// The Orchestrator self-registration loop of `go/vt/tabletmanager/orchestrator.go`.
pub mod discover {
    pub use vtsim_discover::*;
}

/// The vtgate shard connection of `go/vt/vtgate/shard_conn.go`, with its balancer and consolidator.
pub mod shardconn {
    pub use vtsim_shardconn::*;
}

/// Scenario files: the model, parsing and validation.
pub mod scenario {
    pub use vtsim_scenario::*;
}

/// The simulated world (Orchestrator, topo, tablets, workload) and the scenario runner.
pub mod world {
    pub use vtsim_world::*;
}

#[doc(hidden)]
pub use vtsim_runtime::__private;
