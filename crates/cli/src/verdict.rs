//! One seed's result as the commands report it, from vtsim-world's runner.

use std::panic::{self, AssertUnwindSafe};

use vtsim_scenario::Scenario;
use vtsim_world::{Outcome, SeedRun};

use crate::severity::Severity;

/// How one seed went, in the deterministic terms every command prints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Verdict {
    /// The seed.
    pub(crate) seed: u64,
    /// Its exit-code class.
    pub(crate) severity: Severity,
    /// `pass`, `failed`, `panic`, `liveness` or `nondeterministic` (the `outcome` of `--json`).
    pub(crate) label: &'static str,
    /// What failed, on one line; `None` for a pass.
    pub(crate) what: Option<String>,
    /// The trace hash, 16 hex digits, when asked for (hashing formats every event, which costs
    /// as much as a cheap run) and when there is a trace (the runner itself may panic).
    pub(crate) hash: Option<String>,
}

impl Verdict {
    /// The verdict on a finished run, with the trace hash when `hashed`.
    pub(crate) fn of(run: &SeedRun, hashed: bool) -> Verdict {
        let (label, severity) = match &run.outcome {
            Outcome::Pass => ("pass", Severity::Pass),
            Outcome::Failed(_) => ("failed", Severity::Failed),
            Outcome::Panic(_) => ("panic", Severity::Failed),
            Outcome::Liveness(_) => ("liveness", Severity::Liveness),
        };
        Verdict {
            seed: run.seed,
            severity,
            label,
            what: (!run.outcome.is_pass()).then(|| one_line(&run.outcome.to_string())),
            hash: hashed.then(|| run.trace.hash_hex()),
        }
    }

    /// `{"seed":3,"outcome":"failed","failed":"expect[0] ...","hash":"..."}`: deterministic
    /// fields only, in a fixed order.
    pub(crate) fn to_json(&self) -> String {
        format!(
            "{{\"seed\":{},\"outcome\":{},\"failed\":{},\"hash\":{}}}",
            self.seed,
            serde_json::Value::from(self.label),
            self.what
                .as_deref()
                .map_or(serde_json::Value::Null, serde_json::Value::from),
            self.hash
                .as_deref()
                .map_or(serde_json::Value::Null, serde_json::Value::from),
        )
    }
}

/// Runs one seed. A panic of the runner itself (a bug in vtsim, not in the simulated code)
/// becomes an error instead of taking the whole command down.
pub(crate) fn run_seed(scenario: &Scenario, seed: u64) -> Result<SeedRun, Verdict> {
    panic::catch_unwind(AssertUnwindSafe(|| vtsim_world::run_seed(scenario, seed))).map_err(
        |payload| {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "<non-string panic payload>".to_owned());
            Verdict {
                seed,
                severity: Severity::Failed,
                label: "panic",
                what: Some(one_line(&format!("the vtsim runner panicked: {message}"))),
                hash: None,
            }
        },
    )
}

/// Runs one seed; with `twice`, runs it again and compares the traces (the determinism check).
pub(crate) fn judge(scenario: &Scenario, seed: u64, twice: bool, hashed: bool) -> Verdict {
    let first = match run_seed(scenario, seed) {
        Ok(run) => run,
        Err(verdict) => return verdict,
    };
    let verdict = Verdict::of(&first, hashed);
    if !twice {
        return verdict;
    }
    let second = match run_seed(scenario, seed) {
        Ok(run) => run,
        Err(verdict) => return verdict,
    };
    // Events compare without formatting them; only a difference is worth the text.
    let divergence = (first.trace != second.trace)
        .then(|| first.trace.first_difference(&second.trace))
        .flatten()
        .map(|d| d.to_string());
    let divergence = divergence.or_else(|| {
        (first.outcome != second.outcome).then(|| {
            format!(
                "same trace, different outcomes: first run: {}; second run: {}",
                first.outcome, second.outcome
            )
        })
    });
    match divergence {
        None => verdict,
        Some(what) => Verdict {
            severity: Severity::Nondeterministic,
            label: "nondeterministic",
            what: Some(one_line(&format!("nondeterministic: {what}"))),
            ..verdict
        },
    }
}

/// `text` on one line: its lines trimmed and joined with `; `.
pub(crate) fn one_line(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines().map(str::trim).filter(|line| !line.is_empty()) {
        if !out.is_empty() {
            // "event 3:" introduces what follows; anything else is a separate clause.
            out.push_str(if out.ends_with(':') { " " } else { "; " });
        }
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_line_reasons_become_one_line() {
        assert_eq!(
            one_line("traces differ at event 3:\n  first run:  a\n  second run: b\n"),
            "traces differ at event 3: first run:  a; second run: b"
        );
        assert_eq!(one_line("pass"), "pass");
    }

    #[test]
    fn json_has_exactly_the_deterministic_fields_in_order() {
        let verdict = Verdict {
            seed: 7,
            severity: Severity::Failed,
            label: "failed",
            what: Some("expect[0] q: expected \"x\"".into()),
            hash: Some("00ff".into()),
        };
        assert_eq!(
            verdict.to_json(),
            r#"{"seed":7,"outcome":"failed","failed":"expect[0] q: expected \"x\"","hash":"00ff"}"#
        );
        let pass = Verdict {
            what: None,
            label: "pass",
            ..verdict
        };
        assert_eq!(
            pass.to_json(),
            r#"{"seed":7,"outcome":"pass","failed":null,"hash":"00ff"}"#
        );
    }
}
