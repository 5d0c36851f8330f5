//! `vtsim explore`: many seeds of one scenario, each failure printed as soon as it is found.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::ExploreArgs;
use crate::commands::{emit, load, note, replay_hint};
use crate::pool::Pool;
use crate::seeds::explore_seeds;
use crate::severity::Severity;
use crate::verdict::judge;

pub(crate) fn explore(args: ExploreArgs) -> Severity {
    let scenario = match load(&args.file) {
        Ok(scenario) => scenario,
        Err(severity) => return severity,
    };
    let seeds = match explore_seeds(args.start, args.seeds, args.shard) {
        Ok(seeds) => seeds,
        Err(problem) => {
            note(&format!("vtsim explore: {problem}"));
            return Severity::BadInput;
        }
    };
    let bar = progress_bar(seeds.len());
    let mut worst = Severity::Pass;
    let mut failed = 0u64;
    Pool::new(usize::from(args.jobs.jobs)).for_each_seed(
        &seeds,
        |seed| judge(&scenario, seed, false, args.json),
        |_, verdict| {
            worst.absorb(verdict.severity);
            if args.json {
                bar.suspend(|| emit(&verdict.to_json()));
            } else if let Some(what) = &verdict.what {
                let line = format!(
                    "FAIL seed={} {what} | replay: {}",
                    verdict.seed,
                    replay_hint(&args.file, verdict.seed)
                );
                bar.suspend(|| emit(&line));
            }
            if verdict.severity != Severity::Pass {
                failed += 1;
                bar.set_message(format!("{failed} failed"));
            }
            bar.inc(1);
        },
    );
    bar.finish_and_clear();
    let shard = args
        .shard
        .map(|s| format!(" (shard {s})"))
        .unwrap_or_default();
    note(&format!(
        "vtsim explore {}: {} seeds from {}{shard}, {failed} failed: exit {}",
        scenario.name,
        seeds.len(),
        args.start,
        worst.code()
    ));
    worst
}

/// A progress bar on stderr when a person watches it; otherwise none at all.
fn progress_bar(len: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{bar:40.cyan/blue} {human_pos}/{human_len} seeds  {per_sec}  eta {eta}  {msg}",
    ) {
        bar.set_style(style);
    }
    bar
}
