//! The command line, as clap parses it.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::export::Format;
use crate::seeds::{parse_count, parse_seed, Shard};

const EXIT_CODES: &str = "\
Exit codes: 0 all passed; 1 an expectation failed or a task panicked; 2 bad input (usage, parse or
validation); 3 liveness (deadlock, livelock, a limit); 4 nondeterminism. Over many seeds and files
the most severe wins, in the order 2, 4, 3, 1.";

/// Deterministic simulation tests for Vitess timing logic: run, replay, explore and check
/// scenario files.
#[derive(Debug, Parser)]
#[command(name = "vtsim", version = crate::provenance::LONG_VERSION, after_help = EXIT_CODES)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run scenario files (or every *.toml below folders) over their seeds, one summary line each.
    #[command(after_help = "\
Examples:
  vtsim run sim-scenarios                      every scenario, each over its `seeds`
  vtsim run sim-scenarios/discover.toml --seed 0xdead
  vtsim run sim-scenarios --seeds 100 --jobs 2

The first seed of each scenario runs twice, to check that it gives the same trace.")]
    Run(RunArgs),
    /// Print the trace of one seed, in virtual time.
    #[command(after_help = "\
Examples:
  vtsim replay sim-scenarios/discover.toml --seed 3
  vtsim replay sim-scenarios/discover.toml --seed 3 --kind discover. --from 25s --until 1m
  vtsim replay sim-scenarios/discover.toml --seed 3 --format chrome -o trace.json
      (open trace.json in https://ui.perfetto.dev or chrome://tracing)
  vtsim replay sim-scenarios/discover.toml --seed 3 --hash

The exit code is the seed's: 0 pass, 1 failed, 3 liveness.")]
    Replay(ReplayArgs),
    /// Run a range of seeds, printing `FAIL seed=<n> ...` as soon as each failure is found.
    #[command(after_help = "\
Examples:
  vtsim explore sim-scenarios/discover.toml --seeds 10000 --jobs 2
  vtsim explore sim-scenarios/discover.toml --seeds 1000 --start 50000
  vtsim explore sim-scenarios/discover.toml --seeds 1000000 --shard $JOB_COMPLETION_INDEX/8 --json

With --shard K/N, seed s belongs to shard s mod N (K counts from 0), so N machines split the
range and the union of their output is one run's.")]
    Explore(ExploreArgs),
    /// Run one seed in two separate processes and compare their traces.
    #[command(after_help = "\
Examples:
  vtsim check-determinism sim-scenarios/discover.toml --seed 7
      prints `deterministic <hash>`, or the first event where the two runs differ (exit 4)")]
    CheckDeterminism(CheckArgs),
    /// Internal: one seed's hash, outcome and trace, for check-determinism's child processes.
    #[command(name = "__trace", hide = true)]
    Trace(SeedArgs),
}

/// `--seed N` and `--seeds N` of `vtsim run`.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// Scenario files, or folders searched recursively for *.toml files.
    #[arg(required = true, value_name = "PATH")]
    pub(crate) paths: Vec<PathBuf>,
    /// Run only this seed (decimal or 0x hex).
    #[arg(long, value_parser = parse_seed, conflicts_with = "seeds")]
    pub(crate) seed: Option<u64>,
    /// Run seeds 0..N instead of the file's `seeds`.
    #[arg(long, value_name = "N", value_parser = parse_count)]
    pub(crate) seeds: Option<u64>,
    #[command(flatten)]
    pub(crate) jobs: Jobs,
}

/// `--jobs J`.
#[derive(Debug, Args)]
pub(crate) struct Jobs {
    /// Run seeds on this many threads, one simulation each; results are the same as with 1.
    #[arg(long, short = 'j', value_name = "J", default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) jobs: u16,
}

/// A scenario file and one seed.
#[derive(Debug, Args)]
pub(crate) struct SeedArgs {
    /// The scenario file.
    pub(crate) file: PathBuf,
    /// The seed (decimal or 0x hex).
    #[arg(long, value_parser = parse_seed)]
    pub(crate) seed: u64,
}

#[derive(Debug, Args)]
pub(crate) struct ReplayArgs {
    #[command(flatten)]
    pub(crate) target: SeedArgs,
    /// Output format: the canonical text, JSON lines, or Chrome trace-event JSON for Perfetto.
    #[arg(long, value_enum, default_value = "text")]
    pub(crate) format: FormatArg,
    /// Write to this file instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
    /// Print only the hash of the whole trace.
    #[arg(long, conflicts_with_all = ["format", "kind", "from", "until"])]
    pub(crate) hash: bool,
    /// Keep only events whose kind starts with PREFIX (repeatable), such as `discover.` or `query.failed`.
    #[arg(long, value_name = "PREFIX")]
    pub(crate) kind: Vec<String>,
    /// Keep only events at or after this virtual time, such as `30s` or `1h5m`.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub(crate) from: Option<Duration>,
    /// Keep only events before this virtual time.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub(crate) until: Option<Duration>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum FormatArg {
    Text,
    Json,
    Chrome,
}

impl From<FormatArg> for Format {
    fn from(arg: FormatArg) -> Format {
        match arg {
            FormatArg::Text => Format::Text,
            FormatArg::Json => Format::Json,
            FormatArg::Chrome => Format::Chrome,
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct ExploreArgs {
    /// The scenario file.
    pub(crate) file: PathBuf,
    /// How many seeds: start..start+N.
    #[arg(long, value_name = "N", value_parser = parse_count)]
    pub(crate) seeds: u64,
    /// The first seed (decimal or 0x hex).
    #[arg(long, value_name = "S", default_value = "0", value_parser = parse_seed)]
    pub(crate) start: u64,
    /// Run only the seeds s with s mod N == K (K from 0, like JOB_COMPLETION_INDEX).
    #[arg(long, value_name = "K/N")]
    pub(crate) shard: Option<Shard>,
    /// Print one JSON object per seed on stdout, pass or fail, and nothing else.
    #[arg(long)]
    pub(crate) json: bool,
    #[command(flatten)]
    pub(crate) jobs: Jobs,
}

#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// The scenario file.
    pub(crate) file: PathBuf,
    /// The seed (decimal or 0x hex); by default the file's first seed.
    #[arg(long, value_parser = parse_seed)]
    pub(crate) seed: Option<u64>,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|err| {
        format!("{text:?} is not a duration ({err}); write e.g. 250ms, 30s or 1h30m")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_subcommand_help_shows_an_example() {
        let cli = Cli::command();
        for sub in cli.get_subcommands().filter(|s| !s.is_hide_set()) {
            let after = sub
                .get_after_help()
                .map(|h| h.to_string())
                .unwrap_or_default();
            assert!(
                after.contains(&format!("vtsim {} ", sub.get_name())),
                "{}: {after}",
                sub.get_name()
            );
        }
    }

    #[test]
    fn seeds_and_shards_parse_on_the_command_line() {
        let cli = Cli::try_parse_from([
            "vtsim", "explore", "f.toml", "--seeds", "10", "--start", "0x10", "--shard", "1/3",
        ])
        .unwrap();
        let Command::Explore(args) = cli.command else {
            panic!("not explore")
        };
        assert_eq!(
            (args.seeds, args.start, args.shard),
            (10, 16, Some(Shard { index: 1, count: 3 }))
        );
        assert_eq!(args.jobs.jobs, 1);
        for bad in [
            vec![
                "vtsim", "explore", "f.toml", "--seeds", "10", "--shard", "3/3",
            ],
            vec!["vtsim", "explore", "f.toml", "--seeds", "0"],
            vec!["vtsim", "run", "x", "--seed", "1", "--seeds", "2"],
            vec!["vtsim", "run", "x", "--jobs", "0"],
            vec!["vtsim", "run"],
            vec![
                "vtsim", "replay", "f.toml", "--seed", "1", "--hash", "--kind", "query",
            ],
            vec!["vtsim", "replay", "f.toml", "--seed", "1", "--from", "soon"],
        ] {
            let err = Cli::try_parse_from(&bad).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{bad:?}");
        }
        let cli = Cli::try_parse_from([
            "vtsim", "replay", "f.toml", "--seed", "7", "--from", "1m30s", "--kind", "a", "--kind",
            "b",
        ])
        .unwrap();
        let Command::Replay(args) = cli.command else {
            panic!("not replay")
        };
        assert_eq!(args.from, Some(Duration::from_secs(90)));
        assert_eq!(args.kind, ["a", "b"]);
    }
}
