//! vtsim-cli: the `vtsim` command, which runs, replays, explores and checks scenario files.
//!
//! ```text
//! vtsim run sim-scenarios --jobs 2              # every scenario over its seeds
//! vtsim replay sim-scenarios/x.toml --seed 7    # the trace of one seed, in virtual time
//! vtsim explore sim-scenarios/x.toml --seeds 100000 --shard 0/4 --json
//! vtsim check-determinism sim-scenarios/x.toml --seed 7
//! ```
//!
//! Exit codes: 0 all passed, 1 an expectation failed or a task panicked, 2 bad input (usage,
//! parse or validation), 3 liveness, 4 nondeterminism; over many seeds and files the most
//! severe wins, in the order 2, 4, 3, 1 ([`Severity`]).
//!
//! The library half holds what the binary and the root `tests/scenarios.rs` harness share: seed
//! parsing and sharding, scenario discovery, exit-code precedence, trace exports and the replay
//! line every failure prints.
#![deny(missing_docs, missing_debug_implementations)]

mod app;
mod chrome;
mod cli;
mod commands;
mod export;
mod files;
mod pool;
mod provenance;
mod seeds;
mod severity;
mod verdict;

pub use app::main_with;
pub use export::{write_trace, Format, TraceFilter};
pub use files::scenario_files;
pub use provenance::{replay_command, shell_quote, version_line, COMMIT, LONG_VERSION, VERSION};
pub use seeds::{explore_seeds, parse_count, parse_seed, SeedOverride, SeedSet, Shard};
pub use severity::Severity;
