//! `vtsim run`: every scenario over its seeds, one summary line each.

use std::time::Instant;

use crate::cli::RunArgs;
use crate::commands::{emit, load, note, replay_hint};
use crate::files::scenario_files;
use crate::pool::for_each_seed;
use crate::seeds::{SeedOverride, SeedSet};
use crate::severity::Severity;
use crate::verdict::{judge, Verdict};

pub(crate) fn run(args: RunArgs) -> Severity {
    let files = match scenario_files(&args.paths) {
        Ok(files) => files,
        Err(problems) => {
            note(&problems);
            return Severity::BadInput;
        }
    };
    let seeds_override = match (args.seed, args.seeds) {
        (Some(seed), _) => SeedOverride::One(seed),
        (None, Some(count)) => SeedOverride::Count(count),
        (None, None) => SeedOverride::File,
    };
    let started = wall_now();
    let mut worst = Severity::Pass;
    let (mut scenarios, mut failing, mut invalid, mut seeds_run) = (0, 0, 0, 0);
    for file in &files {
        let scenario = match load(file) {
            Ok(scenario) => scenario,
            Err(severity) => {
                worst.absorb(severity);
                invalid += 1;
                continue;
            }
        };
        scenarios += 1;
        let seeds = SeedSet::List(seeds_override.seeds_for(&scenario));
        let first = seeds.get(0);
        let scenario_started = wall_now();
        let mut verdicts: Vec<Option<Verdict>> = vec![None; seeds.len() as usize];
        // The first seed runs twice: the determinism self-check. Seeds of a list are unique.
        for_each_seed(
            &seeds,
            usize::from(args.jobs.jobs),
            |seed| judge(&scenario, seed, seed == first),
            |i, verdict| verdicts[i as usize] = Some(verdict),
        );
        let verdicts: Vec<Verdict> = verdicts.into_iter().flatten().collect();
        let rate = verdicts.len() as f64 / scenario_started.elapsed().as_secs_f64().max(1e-9);
        seeds_run += verdicts.len();
        let failed: Vec<&Verdict> = verdicts
            .iter()
            .filter(|v| v.severity != Severity::Pass)
            .collect();
        let scenario_worst = Severity::worst(verdicts.iter().map(|v| v.severity));
        worst.absorb(scenario_worst);
        let passed = verdicts.len() - failed.len();
        let Some(first_failure) = failed.first() else {
            emit(&format!(
                "PASS {}: {passed}/{} seeds passed ({rate:.0} seeds/s)",
                scenario.name,
                verdicts.len()
            ));
            continue;
        };
        failing += 1;
        emit(&format!(
            "{} {}: {passed}/{} seeds passed, {} failed; first failing seed {}: {} ({rate:.0} seeds/s)",
            label(scenario_worst),
            scenario.name,
            verdicts.len(),
            failed.len(),
            first_failure.seed,
            first_failure.what.as_deref().unwrap_or_default(),
        ));
        emit(&format!(
            "  replay: {}",
            replay_hint(file, first_failure.seed)
        ));
        // A worse outcome than the first failure's deserves its own line: it sets the exit code.
        if first_failure.severity != scenario_worst {
            if let Some(worst_seed) = failed.iter().find(|v| v.severity == scenario_worst) {
                emit(&format!(
                    "  worst: seed {}: {}",
                    worst_seed.seed,
                    worst_seed.what.as_deref().unwrap_or_default()
                ));
                emit(&format!("  replay: {}", replay_hint(file, worst_seed.seed)));
            }
        }
        if failed.len() > 1 {
            let mut list: Vec<String> =
                failed.iter().take(20).map(|v| v.seed.to_string()).collect();
            if failed.len() > 20 {
                list.push("...".to_owned());
            }
            emit(&format!("  failing seeds: {}", list.join(" ")));
        }
    }
    emit(&format!(
        "vtsim run: {scenarios} scenarios, {seeds_run} seeds, {failing} failing, {invalid} invalid ({:.2}s): exit {}",
        started.elapsed().as_secs_f64(),
        worst.code()
    ));
    worst
}

/// The summary label of a scenario whose worst seed ended with `severity`.
fn label(severity: Severity) -> &'static str {
    match severity {
        Severity::Pass => "PASS",
        Severity::Failed => "FAIL",
        Severity::Liveness => "LIVENESS",
        Severity::Nondeterministic => "NONDETERMINISTIC",
        Severity::BadInput => "INVALID",
    }
}

/// The wall clock, for seeds per second only. Harness code, outside every simulation.
#[allow(clippy::disallowed_methods)]
fn wall_now() -> Instant {
    Instant::now()
}
