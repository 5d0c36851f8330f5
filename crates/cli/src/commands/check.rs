//! `vtsim check-determinism`: one seed in two processes, the same trace or the first difference.
//!
//! Two processes, not two runs in one: state that differs per process (hash seeds, addresses,
//! the environment a static caches once) only shows up across processes.

use std::process::{Command, Stdio};

use crate::cli::{CheckArgs, SeedArgs};
use crate::commands::{emit, load, note, replay_hint};
use crate::severity::Severity;
use crate::verdict::run_seed;

/// What the hidden `__trace` subcommand prints, read back by the parent.
#[derive(Debug, PartialEq, Eq)]
struct ChildRun {
    hash: String,
    outcome: String,
    trace: String,
}

pub(crate) fn check(args: CheckArgs) -> Severity {
    let scenario = match load(&args.file) {
        Ok(scenario) => scenario,
        Err(severity) => return severity,
    };
    let seed = args.seed.unwrap_or_else(|| scenario.seeds.first());
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(err) => {
            note(&format!(
                "vtsim check-determinism: cannot find the vtsim executable to re-run: {err}"
            ));
            return Severity::Failed;
        }
    };
    let spawn = || {
        Command::new(&exe)
            .arg("__trace")
            .arg(&args.file)
            .arg("--seed")
            .arg(seed.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
    };
    // Both at once: two cores, half the wait.
    let children = match (spawn(), spawn()) {
        (Ok(a), Ok(b)) => [a, b],
        (Err(err), _) | (_, Err(err)) => {
            note(&format!(
                "vtsim check-determinism: cannot start {}: {err}",
                exe.display()
            ));
            return Severity::Failed;
        }
    };
    let mut runs = Vec::with_capacity(2);
    for (n, child) in children.into_iter().enumerate() {
        let output = match child.wait_with_output() {
            Ok(output) => output,
            Err(err) => {
                note(&format!(
                    "vtsim check-determinism: process {} failed: {err}",
                    n + 1
                ));
                return Severity::Failed;
            }
        };
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            note(stderr.trim_end());
            let code = output.status.code().unwrap_or(1);
            return Severity::from_code(code).max(Severity::Failed);
        }
        match parse_child(&String::from_utf8_lossy(&output.stdout)) {
            Some(run) => runs.push(run),
            None => {
                note(&format!(
                    "vtsim check-determinism: process {} printed no trace; its stderr:\n{stderr}",
                    n + 1
                ));
                return Severity::Failed;
            }
        }
    }
    let (a, b) = (&runs[0], &runs[1]);
    if a == b {
        emit(&format!("deterministic {}", a.hash));
        note(&format!("seed {seed}: {}", a.outcome));
        return Severity::Pass;
    }
    emit(&format!(
        "nondeterministic: seed {seed} of {} gave two different runs",
        args.file.display()
    ));
    emit(&format!("  hashes: {} and {}", a.hash, b.hash));
    match first_difference(&a.trace, &b.trace) {
        Some((index, left, right)) => {
            emit(&format!("  first difference at event {index}:"));
            emit(&format!(
                "  first process:  {}",
                left.unwrap_or("<trace ended>")
            ));
            emit(&format!(
                "  second process: {}",
                right.unwrap_or("<trace ended>")
            ));
        }
        None => {
            emit("  the traces are equal, the outcomes are not:");
            emit(&format!("  first process:  {}", a.outcome));
            emit(&format!("  second process: {}", b.outcome));
        }
    }
    emit(&format!("  replay: {}", replay_hint(&args.file, seed)));
    Severity::Nondeterministic
}

/// The hidden `__trace` subcommand: hash, outcome and full trace of one seed, for the parent.
pub(crate) fn child(args: SeedArgs) -> Severity {
    let scenario = match load(&args.file) {
        Ok(scenario) => scenario,
        Err(severity) => return severity,
    };
    let (hash, outcome, trace) = match run_seed(&scenario, args.seed) {
        Ok(run) => {
            let verdict = crate::verdict::Verdict::of(&run);
            let outcome = verdict.what.unwrap_or_else(|| "pass".to_owned());
            (verdict.hash, outcome, run.trace.to_text())
        }
        Err(verdict) => (
            String::new(),
            verdict.what.unwrap_or_default(),
            String::new(),
        ),
    };
    emit(&format!(
        "hash {hash}\noutcome {outcome}\n{}",
        trace.trim_end_matches('\n')
    ));
    Severity::Pass
}

fn parse_child(stdout: &str) -> Option<ChildRun> {
    let mut lines = stdout.splitn(3, '\n');
    let hash = lines.next()?.strip_prefix("hash ")?.to_owned();
    let outcome = lines.next()?.strip_prefix("outcome ")?.to_owned();
    let trace = lines.next().unwrap_or_default().to_owned();
    Some(ChildRun {
        hash,
        outcome,
        trace,
    })
}

/// The first line where two trace texts differ: its index and both lines (`None`: ended).
fn first_difference<'t>(
    a: &'t str,
    b: &'t str,
) -> Option<(usize, Option<&'t str>, Option<&'t str>)> {
    let (mut left, mut right) = (a.lines(), b.lines());
    let mut index = 0;
    loop {
        match (left.next(), right.next()) {
            (None, None) => return None,
            (l, r) if l != r => return Some((index, l, r)),
            _ => index += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_output_round_trips() {
        let run =
            parse_child("hash 00ab\noutcome pass\n  1.0s t1 INFO a\n  2.0s t1 INFO b\n").unwrap();
        assert_eq!(run.hash, "00ab");
        assert_eq!(run.outcome, "pass");
        assert_eq!(run.trace.lines().count(), 2);
        assert_eq!(parse_child("hash 1\noutcome x").unwrap().trace, "");
        assert_eq!(parse_child("oops"), None);
    }

    #[test]
    fn the_first_differing_line_is_found() {
        assert_eq!(first_difference("a\nb\n", "a\nb\n"), None);
        assert_eq!(
            first_difference("a\nb\n", "a\nc\n"),
            Some((1, Some("b"), Some("c")))
        );
        assert_eq!(
            first_difference("a\n", "a\nx\n"),
            Some((1, None, Some("x")))
        );
    }
}
