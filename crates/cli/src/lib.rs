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
//! What each command prints:
//!
//! - `run`: one line per scenario, `PASS name: 8/8 seeds passed (… seeds/s)` or
//!   `FAIL name: 6/8 seeds passed, 2 failed; first failing seed 3: <why> (… seeds/s)`, then the
//!   replay line; the first seed of each scenario runs twice as a determinism check.
//! - `replay`: the trace (`--format text` is the canonical text the hash covers, `json` one
//!   object per line, `chrome` trace-event JSON with connection and query spans); stderr says
//!   the outcome. `--hash` prints the hash alone.
//! - `explore`: `FAIL seed=<n> <why> | replay: vtsim replay <file> --seed <n>  # vtsim <version>
//!   (commit <c>)` per failure as it is found, or with `--json` one
//!   `{"seed":..,"outcome":..,"failed":..,"hash":..}` per seed; both are the same set of lines
//!   for any `--jobs`, and `--shard K/N` slices are disjoint and add up to the whole range.
//! - `check-determinism`: `deterministic <hash>`, or the first event where two processes differ.
//!
//! The library half holds what the binary and the root `tests/scenarios.rs` harness share: seed
//! parsing and sharding, scenario discovery, exit-code precedence, trace exports and the replay
//! line every failure prints.
//!
//! ```
//! use vtsim_cli::{explore_seeds, parse_seed, Severity, Shard};
//!
//! assert_eq!(parse_seed("0xdead"), Ok(57005));
//! let shard: Shard = "1/4".parse()?;
//! let seeds: Vec<u64> = explore_seeds(0, 10, Some(shard))?.iter().collect();
//! assert_eq!(seeds, [1, 5, 9]);
//! assert_eq!(Severity::worst([Severity::Failed, Severity::Liveness]).code(), 3);
//! # Ok::<(), String>(())
//! ```
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
