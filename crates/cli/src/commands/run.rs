//! `vtsim run`: every scenario over its seeds, one summary line each.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::cli::RunArgs;
use crate::commands::{emit, load, note, replay_hint};
use crate::files::scenario_files;
use crate::pool::Pool;
use crate::seeds::SeedOverride;
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
    let pool = Pool::new(usize::from(args.jobs.jobs));
    let mut worst = Severity::Pass;
    let (mut scenarios, mut failing, mut invalid, mut seeds_run) = (0u64, 0, 0, 0);
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
        let seeds = seeds_override.seed_set_for(&scenario);
        let first = seeds.get(0);
        let scenario_started = wall_now();
        let mut tally = Tally::default();
        // The first seed runs twice: the determinism self-check. Seeds of a set are unique.
        pool.for_each_seed(
            &seeds,
            |seed| judge(&scenario, seed, seed == first, false),
            |i, verdict| tally.add(i, verdict),
        );
        let rate = tally.seeds as f64 / scenario_started.elapsed().as_secs_f64().max(1e-9);
        seeds_run += tally.seeds;
        worst.absorb(tally.worst);
        let passed = tally.seeds - tally.failed;
        let Some(first_failure) = tally.first_failures.values().next() else {
            emit(&format!(
                "PASS {}: {passed}/{} seeds passed ({rate:.0} seeds/s)",
                scenario.name, tally.seeds
            ));
            continue;
        };
        failing += 1;
        emit(&format!(
            "{} {}: {passed}/{} seeds passed, {} failed; first failing seed {}: {} ({rate:.0} seeds/s)",
            label(tally.worst),
            scenario.name,
            tally.seeds,
            tally.failed,
            first_failure.seed,
            first_failure.what.as_deref().unwrap_or_default(),
        ));
        emit(&format!(
            "  replay: {}",
            replay_hint(file, first_failure.seed)
        ));
        // A worse outcome than the first failure's gets its own line: it sets the exit code.
        if let Some((_, worst_seed)) = &tally.worst_failure {
            if worst_seed.seed != first_failure.seed {
                emit(&format!(
                    "  worst: seed {}: {}",
                    worst_seed.seed,
                    worst_seed.what.as_deref().unwrap_or_default()
                ));
                emit(&format!("  replay: {}", replay_hint(file, worst_seed.seed)));
            }
        }
        if tally.failed > 1 {
            let mut list: Vec<String> = tally
                .first_failures
                .values()
                .map(|v| v.seed.to_string())
                .collect();
            if tally.failed > tally.first_failures.len() as u64 {
                list.push("...".to_owned());
            }
            emit(&format!("  failing seeds: {}", list.join(" ")));
        }
    }
    emit(&format!(
        "vtsim run: {}, {}, {failing} failing, {invalid} invalid ({:.2}s): exit {}",
        count(scenarios, "scenario"),
        count(seeds_run, "seed"),
        started.elapsed().as_secs_f64(),
        worst.code()
    ));
    worst
}

/// `1 seed`, `2 seeds`.
fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// How many failing seeds a summary lists.
const LISTED_FAILURES: usize = 20;

/// What a scenario's seeds add up to, in seed order whatever order they finish in, in bounded
/// memory however many seeds run.
#[derive(Debug, Default)]
struct Tally {
    seeds: u64,
    failed: u64,
    worst: Severity,
    /// The failures at the lowest positions (at most [`LISTED_FAILURES`]), by position.
    first_failures: BTreeMap<u64, Verdict>,
    /// The failure with the worst severity, the lowest position among equals.
    worst_failure: Option<(u64, Verdict)>,
}

impl Tally {
    /// Counts the verdict on the seed at position `index`.
    fn add(&mut self, index: u64, verdict: Verdict) {
        self.seeds += 1;
        if verdict.severity == Severity::Pass {
            return;
        }
        self.failed += 1;
        let replaces = match &self.worst_failure {
            None => true,
            Some((at, worst)) => {
                verdict.severity > worst.severity
                    || (verdict.severity == worst.severity && index < *at)
            }
        };
        if replaces {
            self.worst = verdict.severity;
            self.worst_failure = Some((index, verdict.clone()));
        }
        self.first_failures.insert(index, verdict);
        if self.first_failures.len() > LISTED_FAILURES {
            self.first_failures.pop_last();
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(seed: u64, severity: Severity) -> Verdict {
        Verdict {
            seed,
            severity,
            label: "x",
            what: (severity != Severity::Pass).then(|| format!("seed {seed}")),
            hash: None,
        }
    }

    fn summary(t: &Tally) -> (u64, u64, Severity, Vec<u64>, Option<u64>) {
        let listed = t.first_failures.values().map(|v| v.seed).collect();
        let worst = t.worst_failure.as_ref().map(|(_, v)| v.seed);
        (t.seeds, t.failed, t.worst, listed, worst)
    }

    #[test]
    fn the_tally_is_the_same_in_any_completion_order() {
        let severity = |seed: u64| match seed % 10 {
            3 => Severity::Failed,
            7 if seed > 40 => Severity::Liveness,
            _ => Severity::Pass,
        };
        let mut in_order = Tally::default();
        for i in 0..100 {
            in_order.add(i, verdict(1000 + i, severity(i)));
        }
        let mut reversed = Tally::default();
        for i in (0..100).rev() {
            reversed.add(i, verdict(1000 + i, severity(i)));
        }
        let s = summary(&in_order);
        assert_eq!(s, summary(&reversed));
        // 10 failures (3, 13, ..., 93) and 6 liveness (47, 57, ..., 97).
        assert_eq!((s.0, s.1, s.2), (100, 16, Severity::Liveness));
        assert_eq!(s.3.len(), LISTED_FAILURES.min(16));
        assert_eq!(s.3[..3], [1003, 1013, 1023]);
        assert_eq!(s.4, Some(1047), "the first seed with the worst outcome");
    }
}
