//! vtsim-world: the simulated world around the Vitess components, and the scenario runner.
//!
//! A scenario file (`vtsim_scenario::Scenario`) describes a world: an Orchestrator that may be
//! slow or down, a topo server whose endpoint list changes, tablets that refuse, hang or answer
//! with errors in given windows, and a query load. This crate builds that world inside a
//! deterministic simulation, starts the real components against it (the `DiscoverLoop`, a
//! `ShardConn`), runs it for the scenario's `duration`, and checks the `[[expect]]`s.
//!
//! # Running a scenario
//!
//! Spec bug 7.1: the Orchestrator black-holes requests for 65s, the discover interval is 5s and
//! the timeout 30s. Ticks pile up behind the hanging calls, so attempts start at 0, 30, 60 and 90s,
//! with one warning at 30s and one recovery just after 90s:
//!
//! ```
//! use vtsim_scenario::Scenario;
//! use vtsim_world::{run_seed, Outcome};
//!
//! let scenario = Scenario::parse(r#"
//!     duration = "2m"
//!     [discover]
//!     interval = "5s"
//!     timeout = "30s"
//!     [orchestrator]
//!     latency = "5ms"
//!     [[orchestrator.outage]]
//!     from = "0s"
//!     until = "65s"
//!     mode = "hang"
//!     [[expect]]
//!     event = "discover.failed"
//!     count = 1
//!     from = "30s"
//!     until = "30001ms"
//! "#, "discover-hang.toml")?;
//!
//! let run = run_seed(&scenario, 7);
//! assert_eq!(run.outcome, Outcome::Pass);
//! let recovered: Vec<_> = run.trace.of_kind("discover.recovered").map(|e| e.time()).collect();
//! assert_eq!(recovered, [std::time::Duration::from_millis(90_010)]); // 5ms there, 5ms back
//! # Ok::<(), vtsim_scenario::ScenarioError>(())
//! ```
//!
//! A failed expectation says what was wanted, what was seen, and which events matched:
//!
//! ```
//! # use vtsim_scenario::Scenario;
//! # use vtsim_world::{run_seed, Outcome};
//! let scenario = Scenario::parse(r#"
//!     duration = "1m"
//!     [discover]
//!     interval = "10s"
//!     [[expect]]
//!     event = "discover.failed"
//!     count = 1
//! "#, "healthy.toml")?;
//! let Outcome::Failed(failures) = run_seed(&scenario, 1).outcome else { panic!() };
//! assert_eq!(failures[0].to_string(), "expect[0] discover.failed: expected count = 1, observed 0");
//! # Ok::<(), vtsim_scenario::ScenarioError>(())
//! ```
//!
//! [`check_seed_determinism`] runs a seed twice and names the first event where the traces
//! differ. [`Outcome::exit_code`] is what `vtsim` exits with.
//!
//! # The peers
//!
//! Each peer is usable on its own, inside any simulation, and decides a fault by the time a
//! request **reaches** it:
//! - [`Orchestrator`]: the Orchestrator HTTP API behind `OrcClient`; latency each way, outages
//!   `refuse`, `hang` (never answered, even after the window) and `http-500`; the maintenance mark;
//! - [`TopoServer`]: the endpoint lists, changing at given times, with error windows;
//! - [`Tablets`] and [`Tablet`]: dial and query latency per tablet, faults `refuse`, `hang`,
//!   `retry-error`, `fatal-error`, `server-error` and `slow`; connections are `GuardedConn`s, so closing them
//!   behaves as Vitess's gRPC client did;
//! - the workload: Poisson arrivals at `qps` from t=0, bursts, transactions and streams, one task
//!   per query.
//!
//! [`World::start`] builds all of them for a scenario, for tests that look at a peer afterwards.
//!
//! # Trace events the world adds
//!
//! Beside the components' own (`discover.*`, `shardconn.*`, `query.ok|failed|retry`, ...):
//!
//! | kind | level | when | fields |
//! |---|---|---|---|
//! | `query.start` | debug | a workload query starts (no message: it is the hottest event) | `query` (its id, `q17`: also the query text, so the ShardConn's `query.ok`/`query.failed`/`query.retry` carry it too), `transaction`, `stream` |
//! | `orchestrator.request` | debug | a request reaches the Orchestrator | `call`, `path`, `answer`, `outage`, `in_maintenance` |
//! | `topo.error` | debug | a topo fetch starts in an error window | |
//! | `topo.change` | info | the topo endpoint list changes | `endpoints` |
//! | `shardconn.close` | info | vtgate is about to call `ShardConn::close` (`close_at`) | `call` (1, 2, ...) |
//! | `fault.start`, `fault.end` | info | a fault window opens or closes | `peer` (`orchestrator`, `topo`, `tablet/{uid}`), `mode` |
#![deny(missing_docs, missing_debug_implementations)]

mod faults;
mod orchestrator;
mod run;
mod tablet;
mod topo;
mod workload;
mod world;

pub use faults::Timeline;
pub use orchestrator::{OrcAnswer, OrcCall, Orchestrator, Received};
pub use run::{
    check_seed_determinism, run_seed, ExpectationFailure, Outcome, SeedRun, MAX_MATCHING_LINES,
};
pub use tablet::{Tablet, TabletStats, Tablets};
pub use topo::{TopoServer, TABLET_PORT};
pub use world::{World, ORC_API_URL};
