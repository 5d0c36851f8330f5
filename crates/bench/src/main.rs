//! vtsim-bench: side-by-side speed measurements.
//!
//! ```text
//! cargo run --release -p vtsim-bench -- ticker-storm --engine vtsim --tasks 1000 --virtual-secs 3600 --period-ms 1000
//! cargo run --release -p vtsim-bench -- ticker-storm --engine tokio-paused --tasks 1000 --virtual-secs 3600 --period-ms 1000
//! cargo run --release -p vtsim-bench -- compare --tasks 1000 --virtual-secs 3600 --period-ms 1000
//! ```
#![deny(missing_docs, missing_debug_implementations)]

// The allocator of the `vtsim` binary, so scenarios run here as they run there; every engine in
// this binary shares it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod scenario;
mod storm;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "vtsim-bench",
    about = "vtsim benchmarks, measured side by side"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// N tasks, each a ticker jittered by ±25% of its period, for a span of virtual time.
    ///
    /// Prints one line: `engine=<e> tasks=<n> ticks=<n> wall_ms=<float> ticks_per_sec=<float>`.
    TickerStorm {
        /// Which runtime runs the workload.
        #[arg(long, value_enum, default_value = "vtsim")]
        engine: Engine,
        #[command(flatten)]
        storm: StormArgs,
    },
    /// Runs ticker-storm on every engine, alternating, and prints the speed-up of vtsim over
    /// tokio-paused (and madsim), and how close it comes to the bare heap loop. Exits 1 when an
    /// engine fails or two count different ticks.
    Compare {
        #[command(flatten)]
        storm: StormArgs,
        /// Rounds per engine (1 to 1,000): the best of each engine, and each round's own ratio.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=1_000))]
        rounds: u32,
        /// Also runs this build of `crates/bench/madsim` in every round, just before vtsim, and
        /// prints the speed-up over madsim too (`crates/bench/compare-madsim.sh` builds and passes it).
        #[arg(long, value_name = "BINARY")]
        madsim: Option<std::path::PathBuf>,
    },
    /// The cost of one recorded trace event, through `tracing` and through `trace_event!`'s fast
    /// path: loops with an event per step against the same loop without, side by side.
    TraceCost {
        /// Steps in each loop.
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
    },
    /// Runs seeds 0..N of a scenario file and reports seeds per second and the speed-up over
    /// real time (virtual seconds per wall second), on one core.
    Scenario {
        /// The scenario file, e.g. crates/bench/scenarios/replica-hour.toml.
        file: std::path::PathBuf,
        /// How many seeds.
        #[arg(long, default_value_t = 8)]
        seeds: u64,
    },
    /// Peak RSS of 100,000 tasks sleeping in one simulation.
    Memory {
        /// How many sleeping tasks (1 to 100,000,000).
        #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
        tasks: u64,
    },
}

#[derive(Debug, Clone, clap::Args)]
struct StormArgs {
    /// Number of ticker tasks (1 to 100,000,000).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    tasks: u64,
    /// Virtual seconds to run (1 to 1,000,000,000: the span in nanoseconds must fit 64 bits).
    #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..=1_000_000_000))]
    virtual_secs: u64,
    /// Mean ticker period in milliseconds (1 to 1,000,000,000).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=1_000_000_000))]
    period_ms: u64,
    /// The seed of the jitter.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Engine {
    /// vtsim's virtual-clock executor.
    Vtsim,
    /// A tokio current-thread runtime with `start_paused`.
    TokioPaused,
    /// No runtime: a binary heap of deadlines and the same draws, the ceiling to approach.
    Bare,
}

/// The engine as `--engine` names it.
impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = self.to_possible_value().expect("no engine is skipped");
        f.write_str(name.get_name())
    }
}

fn main() {
    match Cli::parse().command {
        Command::TickerStorm { engine, storm } => {
            let r = storm::run(engine, &storm);
            println!("{r}");
        }
        Command::Compare {
            storm,
            rounds,
            madsim,
        } => {
            if let Err(e) = storm::compare(&storm, rounds, madsim.as_deref()) {
                eprintln!("vtsim-bench compare: {e}");
                std::process::exit(1);
            }
        }
        Command::Memory { tasks } => storm::memory(tasks),
        Command::TraceCost { events } => storm::trace_cost(events),
        Command::Scenario { file, seeds } => {
            if let Err(e) = scenario::run(&file, seeds) {
                eprintln!("{e}");
                std::process::exit(2);
            }
        }
    }
}
