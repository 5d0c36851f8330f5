//! Exit codes, and which one wins when many seeds and files end differently.

use std::process::ExitCode;

/// How a seed, a file or a whole command ended, from least to most severe.
///
/// The declaration order is the precedence: `Ord` compares severity, so the worst of many
/// outcomes is their `max`. Bad input outranks everything (nothing it names was tested), then
/// nondeterminism (no other result can be trusted), then liveness, then ordinary failures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Everything passed: exit 0.
    #[default]
    Pass,
    /// An expectation failed or a task panicked: exit 1.
    Failed,
    /// Deadlock, livelock, or a time, event or wall-time limit: exit 3.
    Liveness,
    /// The same seed gave two different traces: exit 4.
    Nondeterministic,
    /// Usage, parse or validation errors: exit 2.
    BadInput,
}

impl Severity {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Severity::Pass => 0,
            Severity::Failed => 1,
            Severity::BadInput => 2,
            Severity::Liveness => 3,
            Severity::Nondeterministic => 4,
        }
    }

    /// The severity behind a runner exit code (0, 1 or 3; anything else is taken as a failure).
    pub fn from_code(code: i32) -> Severity {
        match code {
            0 => Severity::Pass,
            2 => Severity::BadInput,
            3 => Severity::Liveness,
            4 => Severity::Nondeterministic,
            _ => Severity::Failed,
        }
    }

    /// Keeps the more severe of `self` and `other`.
    pub fn absorb(&mut self, other: Severity) {
        *self = (*self).max(other);
    }

    /// The worst of many (`Pass` for none).
    pub fn worst(all: impl IntoIterator<Item = Severity>) -> Severity {
        all.into_iter().max().unwrap_or(Severity::Pass)
    }
}

impl From<Severity> for ExitCode {
    fn from(severity: Severity) -> ExitCode {
        ExitCode::from(severity.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_the_documented_table() {
        let codes: Vec<u8> = [
            Severity::Pass,
            Severity::Failed,
            Severity::BadInput,
            Severity::Liveness,
            Severity::Nondeterministic,
        ]
        .map(Severity::code)
        .to_vec();
        assert_eq!(codes, vec![0, 1, 2, 3, 4]);
        for code in [0, 1, 2, 3, 4] {
            assert_eq!(i32::from(Severity::from_code(code).code()), code);
        }
        assert_eq!(Severity::from_code(101), Severity::Failed);
    }

    #[test]
    fn bad_input_wins_then_nondeterminism_then_liveness_then_failure() {
        use Severity::*;
        assert_eq!(Severity::worst([]), Pass);
        assert_eq!(Severity::worst([Pass, Failed, Pass]), Failed);
        assert_eq!(Severity::worst([Failed, Liveness, Failed]), Liveness);
        assert_eq!(
            Severity::worst([Liveness, Nondeterministic, Failed]),
            Nondeterministic
        );
        assert_eq!(
            Severity::worst([Nondeterministic, BadInput, Liveness]),
            BadInput
        );
        let mut acc = BadInput;
        acc.absorb(Nondeterministic);
        assert_eq!(acc.code(), 2);
        let mut acc = Pass;
        acc.absorb(Liveness);
        acc.absorb(Failed);
        assert_eq!(acc.code(), 3);
    }
}
