//! `vtsim check-determinism`: one seed in two processes, the same trace or the first difference.
//!
//! Two processes, not two runs in one: state that differs per process (hash seeds, addresses,
//! the environment a static caches once) only shows up across processes.

use std::process::{Command, Stdio};

use crate::cli::{CheckArgs, SeedArgs};
use crate::commands::{emit, load, note, replay_hint};
use crate::severity::Severity;
use crate::verdict::{run_seed, Verdict};

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
    let child = || {
        let mut command = Command::new(&exe);
        command
            .arg("__trace")
            .arg(&args.file)
            .arg("--seed")
            .arg(seed.to_string());
        command
    };
    let [a, b] = match run_children([child(), child()]) {
        Ok(runs) => runs,
        Err(severity) => return severity,
    };
    let (lines, severity) = compare(&a, &b);
    for line in &lines {
        emit(line);
    }
    if severity == Severity::Pass {
        note(&format!("seed {seed}: {}", a.outcome));
    } else {
        emit(&format!("  replay: {}", replay_hint(&args.file, seed)));
    }
    severity
}

/// Runs both children at once (two cores, half the wait) and reads what they printed. A child
/// that fails passes on its stderr and its exit code (2 for a bad file).
fn run_children(commands: [Command; 2]) -> Result<[ChildRun; 2], Severity> {
    let mut children = Vec::with_capacity(2);
    for mut command in commands {
        let spawned = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        match spawned {
            Ok(child) => children.push(child),
            Err(err) => {
                note(&format!(
                    "vtsim check-determinism: cannot start {:?}: {err}",
                    command.get_program()
                ));
                return Err(Severity::Failed);
            }
        }
    }
    let mut runs = Vec::with_capacity(2);
    for (n, child) in children.into_iter().enumerate() {
        let output = child.wait_with_output().map_err(|err| {
            note(&format!(
                "vtsim check-determinism: process {} failed: {err}",
                n + 1
            ));
            Severity::Failed
        })?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            note(stderr.trim_end());
            let code = output.status.code().unwrap_or(1);
            return Err(Severity::from_code(code).max(Severity::Failed));
        }
        let run = parse_child(&String::from_utf8_lossy(&output.stdout)).ok_or_else(|| {
            note(&format!(
                "vtsim check-determinism: process {} printed no trace; its stderr:\n{stderr}",
                n + 1
            ));
            Severity::Failed
        })?;
        runs.push(run);
    }
    let [a, b]: [ChildRun; 2] = runs.try_into().expect("two children were run");
    Ok([a, b])
}

/// The report on two runs of one seed: `deterministic <hash>`, or where they first differ.
fn compare(a: &ChildRun, b: &ChildRun) -> (Vec<String>, Severity) {
    if a == b {
        return (vec![format!("deterministic {}", a.hash)], Severity::Pass);
    }
    let mut lines = vec![
        "nondeterministic: the same seed gave two different runs".to_owned(),
        format!("  hashes: {} and {}", a.hash, b.hash),
    ];
    match first_difference(&a.trace, &b.trace) {
        Some((index, left, right)) => {
            lines.push(format!("  first difference at event {index}:"));
            lines.push(format!(
                "  first process:  {}",
                left.unwrap_or("<trace ended>")
            ));
            lines.push(format!(
                "  second process: {}",
                right.unwrap_or("<trace ended>")
            ));
        }
        None => {
            lines.push("  the traces are equal, the outcomes are not:".to_owned());
            lines.push(format!("  first process:  {}", a.outcome));
            lines.push(format!("  second process: {}", b.outcome));
        }
    }
    (lines, Severity::Nondeterministic)
}

/// The hidden `__trace` subcommand: hash, outcome and full trace of one seed, for the parent.
pub(crate) fn child(args: SeedArgs) -> Severity {
    let scenario = match load(&args.file) {
        Ok(scenario) => scenario,
        Err(severity) => return severity,
    };
    let (hash, outcome, trace) = match run_seed(&scenario, args.seed) {
        Ok(run) => {
            let verdict = Verdict::of(&run, true);
            let outcome = verdict.what.unwrap_or_else(|| "pass".to_owned());
            (
                verdict.hash.unwrap_or_default(),
                outcome,
                run.trace.to_text(),
            )
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
    let mut parts = stdout.splitn(3, '\n');
    let hash = parts.next()?.strip_prefix("hash ")?.to_owned();
    let outcome = parts.next()?.strip_prefix("outcome ")?.to_owned();
    let trace = parts.next().unwrap_or_default().to_owned();
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

    /// A stand-in child that prints `text`, as `vtsim __trace` would.
    fn printing(text: &str) -> Command {
        let mut command = Command::new("sh");
        command.arg("-c").arg(format!("printf '{text}'"));
        command
    }

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

    #[test]
    fn two_processes_with_the_same_run_are_deterministic() {
        let same = "hash 0a\\noutcome pass\\nA\\nB\\n";
        let [a, b] = run_children([printing(same), printing(same)]).unwrap();
        let (lines, severity) = compare(&a, &b);
        assert_eq!(severity, Severity::Pass);
        assert_eq!(lines, ["deterministic 0a"]);
    }

    #[test]
    fn two_processes_that_differ_name_the_first_differing_event() {
        let [a, b] = run_children([
            printing("hash 0a\\noutcome pass\\nA\\nB\\nC\\n"),
            printing("hash 0b\\noutcome pass\\nA\\nX\\n"),
        ])
        .unwrap();
        let (lines, severity) = compare(&a, &b);
        assert_eq!(severity, Severity::Nondeterministic);
        assert_eq!(severity.code(), 4);
        assert_eq!(
            lines,
            [
                "nondeterministic: the same seed gave two different runs",
                "  hashes: 0a and 0b",
                "  first difference at event 1:",
                "  first process:  B",
                "  second process: X",
            ]
        );
        // Same trace, different outcomes (a wall-time limit hit once) is nondeterminism too.
        let [a, b] = run_children([
            printing("hash 0a\\noutcome pass\\nA\\n"),
            printing("hash 0a\\noutcome liveness: wall\\nA\\n"),
        ])
        .unwrap();
        let (lines, severity) = compare(&a, &b);
        assert_eq!(severity, Severity::Nondeterministic);
        assert_eq!(lines[3], "  first process:  pass");
    }

    #[test]
    fn a_failing_child_passes_on_its_exit_code() {
        let mut bad_input = Command::new("sh");
        bad_input
            .arg("-c")
            .arg("echo 'x.toml:1:1: duration: missing' >&2; exit 2");
        let ok = printing("hash 0a\\noutcome pass\\n");
        assert_eq!(
            run_children([ok, bad_input]).unwrap_err(),
            Severity::BadInput
        );
        let mut garbage = Command::new("sh");
        garbage.arg("-c").arg("echo hello");
        let ok = printing("hash 0a\\noutcome pass\\n");
        assert_eq!(run_children([garbage, ok]).unwrap_err(), Severity::Failed);
    }
}
