//! Every scenario file under `sim-scenarios/` (recursively) is its own test case, named by its
//! path relative to that folder with `.toml` kept, such as `discover/outage-hang.toml`.
//!
//! Each case runs the file's seeds (`VTSIM_SEED=<n>` runs only that one, `VTSIM_SEEDS=<n>` runs
//! seeds `0..n`), and runs its first seed twice to check that both traces hash the same. A failure
//! prints the seed, each expectation that failed with the observed count and the matching events,
//! the last 30 trace lines, and the two commands that reproduce it, with the vtsim version and
//! commit it replays on. `VTSIM_SCENARIO_DIR` points the harness at another folder.
//!
//! ```text
//! cargo test --test scenarios                                   # every scenario
//! cargo test --test scenarios -- discover/outage-hang.toml      # one
//! VTSIM_SEED=123 cargo test --test scenarios -- discover/outage-hang.toml --exact
//! cargo nextest run --test scenarios
//! ```

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use libtest_mimic::{Arguments, Failed, Trial};
use vtsim_cli::{parse_count, parse_seed, shell_quote, version_line, SeedOverride};
use vtsim_scenario::Scenario;
use vtsim_world::{run_seed, Outcome, SeedRun};

/// How many trace lines a failure shows, ending at the run's end.
const TAIL_LINES: usize = 30;
/// How many matching events a failed expectation lists.
const MATCHING_LINES: usize = 20;

fn main() -> ExitCode {
    let args = Arguments::from_args();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::var_os("VTSIM_SCENARIO_DIR")
        .map_or_else(|| workspace.join("sim-scenarios"), PathBuf::from);
    let seeds = match seed_override() {
        Ok(seeds) => seeds,
        Err(problem) => {
            eprintln!("vtsim scenarios: {problem}");
            return ExitCode::from(2);
        }
    };
    let mut files = Vec::new();
    if let Err(problem) = walk(&dir, &mut files) {
        eprintln!("vtsim scenarios: {problem}");
        return ExitCode::from(2);
    }
    files.sort();
    if files.is_empty() {
        eprintln!("vtsim scenarios: no *.toml files under {}", dir.display());
    }
    let trials = files
        .into_iter()
        .map(|file| {
            let name = file
                .strip_prefix(&dir)
                .unwrap_or(&file)
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            let shown = file.strip_prefix(workspace).unwrap_or(&file).to_owned();
            let case = Case {
                file,
                shown,
                name: name.clone(),
                seeds,
            };
            Trial::test(name, move || case.run())
        })
        .collect();
    libtest_mimic::run(&args, trials).exit_code()
}

/// `VTSIM_SEED` pins one seed (decimal or 0x hex); else `VTSIM_SEEDS` sets how many.
fn seed_override() -> Result<SeedOverride, String> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    if let Some(seed) = var("VTSIM_SEED") {
        return parse_seed(&seed)
            .map(SeedOverride::One)
            .map_err(|e| format!("VTSIM_SEED: {e}"));
    }
    match var("VTSIM_SEEDS") {
        Some(count) => parse_count(&count)
            .map(SeedOverride::Count)
            .map_err(|e| format!("VTSIM_SEEDS: {e}")),
        None => Ok(SeedOverride::File),
    }
}

/// Every `*.toml` below `dir`, skipping hidden entries. A missing folder has none (a fresh clone
/// has no empty `sim-scenarios/`).
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(format!("{}: {err}", dir.display())),
    };
    for entry in entries {
        let path = entry
            .map_err(|err| format!("{}: {err}", dir.display()))?
            .path();
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        {
            continue;
        }
        if path.is_dir() {
            walk(&path, out)?;
        } else if path.extension().is_some_and(|ext| ext == "toml") {
            out.push(path);
        }
    }
    Ok(())
}

/// One scenario file as a test case.
#[derive(Debug)]
struct Case {
    file: PathBuf,
    /// The file as the replay command names it: relative to the workspace when inside it.
    shown: PathBuf,
    name: String,
    seeds: SeedOverride,
}

impl Case {
    fn run(&self) -> Result<(), Failed> {
        let scenario = Scenario::load(&self.file).map_err(|err| Failed::from(err.to_string()))?;
        let seeds = self.seeds.seeds_for(&scenario);
        // The banner first, straight to stderr: a case that hangs or is killed still says what it ran.
        eprintln!("vtsim: {} seeds {}", self.name, describe(&seeds));
        let mut failed: Vec<(SeedRun, Option<String>)> = Vec::new();
        let mut passed = 0;
        for (i, &seed) in seeds.iter().enumerate() {
            let run = run_seed(&scenario, seed);
            // The first seed twice: the same code and seed must give the same trace.
            let divergence = (i == 0)
                .then(|| divergence(&run, &run_seed(&scenario, seed)))
                .flatten();
            if run.outcome.is_pass() && divergence.is_none() {
                passed += 1;
            } else {
                failed.push((run, divergence));
            }
        }
        let Some((first, divergence)) = failed.first() else {
            return Ok(());
        };
        let mut report = format!(
            "scenario {} ({}): {} of {} seeds failed ({})\n",
            self.shown.display(),
            scenario.name,
            failed.len(),
            passed + failed.len(),
            failed
                .iter()
                .map(|(r, _)| r.seed.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        let _ = writeln!(report, "seed {}: {}", first.seed, first.outcome);
        if let Some(divergence) = divergence {
            let _ = writeln!(
                report,
                "nondeterministic: two runs of seed {} differ: {divergence}",
                first.seed
            );
        }
        if let Outcome::Failed(failures) = &first.outcome {
            for failure in failures {
                let none = if failure.matching.is_empty() {
                    " none"
                } else {
                    ""
                };
                let _ = writeln!(report, "{failure}; matching events:{none}");
                for line in failure.matching.iter().take(MATCHING_LINES) {
                    let _ = writeln!(report, "  {line}");
                }
                if failure.observed > MATCHING_LINES {
                    let _ = writeln!(report, "  ... {} more", failure.observed - MATCHING_LINES);
                }
            }
        }
        let _ = writeln!(
            report,
            "--- last {TAIL_LINES} trace lines (virtual time) ---"
        );
        report.push_str(&first.trace.tail(TAIL_LINES));
        let _ = writeln!(report, "--- reproduce ({}) ---", version_line());
        let _ = writeln!(
            report,
            "VTSIM_SEED={} cargo test --test scenarios -- {} --exact",
            first.seed,
            shell_quote(&self.name)
        );
        let _ = writeln!(
            report,
            "cargo run --release -p vtsim-cli -- replay {} --seed {}",
            shell_quote(&self.shown.display().to_string()),
            first.seed
        );
        Err(report.into())
    }
}

/// Where two runs of one seed differ, if they do: their trace hashes, then the first differing
/// event, then the outcomes (a wall-time limit hit in one run only).
fn divergence(a: &SeedRun, b: &SeedRun) -> Option<String> {
    let (ha, hb) = (a.trace.hash_hex(), b.trace.hash_hex());
    if ha != hb {
        let at = a
            .trace
            .first_difference(&b.trace)
            .map(|d| d.to_string())
            .unwrap_or_default();
        return Some(format!("trace hashes {ha} and {hb}; {at}"));
    }
    (a.outcome != b.outcome)
        .then(|| format!("same trace, outcomes {} and {}", a.outcome, b.outcome))
}

fn describe(seeds: &[u64]) -> String {
    match seeds {
        [one] => one.to_string(),
        many if many.iter().copied().eq(0..many.len() as u64) => format!("0..{}", many.len()),
        many => many
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    }
}
