//! The fix knobs: one switch per latent Vitess timing bug.

use serde::{Deserialize, Serialize};

/// Which latent Vitess bugs are fixed.
///
/// Every field is `false` by default, which is the faithful behaviour of the Go original, bugs
/// included. Scenario files set these as a `[fixes]` table, so a bug and its fix differ by one line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Fixes {
    /// A zero variance means no jitter, instead of an error (Go: `Int63n(0)` panics).
    pub ticker_zero_variance: bool,
    /// `Stop` is idempotent, and nothing is delivered after it returns.
    pub ticker_stop: bool,
    /// A non-2xx status is a Discover failure.
    pub http_status: bool,
    /// BeginMaintenance and EndMaintenance reach the Orchestrator in call order.
    pub maintenance_order: bool,
    /// Rotation closes a connection only when no call is in flight on it.
    pub rotate_idle_only: bool,
    /// The total connect budget is checked before each dial, and caps it.
    pub budget_before_dial: bool,
    /// Recovered endpoints are shuffled like never-marked ones.
    pub shuffle_recovered: bool,
    /// An endpoint is usable again at exactly `markdown + retry_delay`.
    pub inclusive_markdown: bool,
    /// A consolidator waiter gives up at its own deadline.
    pub consolidator_deadline: bool,
}

impl Fixes {
    /// The faithful Vitess behaviour: every bug left in (the same as `Fixes::default()`).
    pub fn faithful() -> Fixes {
        Fixes::default()
    }

    /// Every fix turned on.
    pub fn all() -> Fixes {
        Fixes {
            ticker_zero_variance: true,
            ticker_stop: true,
            http_status: true,
            maintenance_order: true,
            rotate_idle_only: true,
            budget_before_dial: true,
            shuffle_recovered: true,
            inclusive_markdown: true,
            consolidator_deadline: true,
        }
    }
}
