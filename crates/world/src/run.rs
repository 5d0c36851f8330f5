//! The scenario runner: one seed, one fresh simulation, every expectation checked.

use std::fmt;
use std::time::Duration;

use vtsim_runtime::{Config, Divergence, Event, Report, Scheduler, Sim, SimError, Trace, Value};
use vtsim_scenario::{
    Expectation, FieldFilter, FieldValue, Scenario, SchedulerKind, TimerOrder, Window,
};

use crate::world::World;

/// At most this many matching events are kept as text in an [`ExpectationFailure`]: the first
/// ones, in trace order. `observed` is always the full count.
pub const MAX_MATCHING_LINES: usize = 1000;

/// One seed of a scenario, run in a fresh simulation.
#[derive(Debug)]
pub struct SeedRun {
    /// The seed.
    pub seed: u64,
    /// How the run went.
    pub outcome: Outcome,
    /// The full trace: canonical text via `trace.to_text()`, hash via `trace.hash()`.
    pub trace: Trace,
    /// What was left when the run ended (stuck tasks etc.).
    pub report: Report,
}

/// How one seed of a scenario went.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The run reached `duration` and every `[[expect]]` held.
    Pass,
    /// One or more `[[expect]]` failed (every expectation is checked per seed).
    Failed(Vec<ExpectationFailure>),
    /// A task panicked (e.g. RandTicker Stop twice); the message names task and time. With an
    /// `[expect_panic]` whose message it contains, the run is checked like one that reached its
    /// duration instead (on the trace up to the panic).
    Panic(String),
    /// Deadlock, livelock, virtual time limit, event limit, wall-time limit.
    Liveness(String),
}

impl Outcome {
    /// The `vtsim` exit code of this outcome: Pass 0, Failed 1, Panic 1, Liveness 3.
    pub fn exit_code(&self) -> i32 {
        match self {
            Outcome::Pass => 0,
            Outcome::Failed(_) | Outcome::Panic(_) => 1,
            Outcome::Liveness(_) => 3,
        }
    }

    /// True for [`Outcome::Pass`].
    pub fn is_pass(&self) -> bool {
        matches!(self, Outcome::Pass)
    }
}

/// One line: `pass`, `expect[0] discover.failed: expected count = 1, observed 2` (failures joined
/// by `; `), `panic: ...` or `liveness: ...`.
impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Pass => f.write_str("pass"),
            Outcome::Failed(failures) => {
                for (i, failure) in failures.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{failure}")?;
                }
                Ok(())
            }
            Outcome::Panic(message) => write!(f, "panic: {message}"),
            Outcome::Liveness(message) => write!(f, "liveness: {message}"),
        }
    }
}

/// An `[[expect]]` that did not hold for one seed.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectationFailure {
    /// Position of the `[[expect]]` in the file, from 0.
    pub index: usize,
    /// The event kind.
    pub event: String,
    /// `"count = 1"`, `"min = 2, max = 5"`, plus `" in [29s, 31s)"` when windowed and
    /// `" where uid = 2"` when filtered.
    pub wanted: String,
    /// How many events matched.
    pub observed: usize,
    /// Canonical trace lines of the matching events, in order (at most [`MAX_MATCHING_LINES`]).
    pub matching: Vec<String>,
}

impl ExpectationFailure {
    /// The `event` of the failure an `[expect_panic]` gives when the run ends without a panic.
    pub const NO_PANIC: &'static str = "expect_panic";

    /// `[expect_panic]` wanted a panic containing `message`, and the run reached its duration.
    /// Its `index` is one past the last `[[expect]]`.
    fn no_panic(scenario: &Scenario, message: &str) -> ExpectationFailure {
        ExpectationFailure {
            index: scenario.expectations.len(),
            event: Self::NO_PANIC.to_owned(),
            wanted: format!("a panic whose message contains {message:?}"),
            observed: 0,
            matching: Vec::new(),
        }
    }
}

/// `expect[0] discover.failed: expected count = 1 in [29s, 31s), observed 2`; for a missing
/// expected panic, `expect_panic: expected a panic whose message contains "...", but the run
/// reached its duration without one`.
impl fmt::Display for ExpectationFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.event == Self::NO_PANIC {
            return write!(
                f,
                "{}: expected {}, but the run reached its duration without one",
                self.event, self.wanted
            );
        }
        write!(
            f,
            "expect[{}] {}: expected {}, observed {}",
            self.index, self.event, self.wanted, self.observed
        )
    }
}

/// The simulation configuration a scenario asks for.
fn sim_config(scenario: &Scenario) -> Config {
    let mut config = Config::default();
    config.scheduler = match scenario.scheduler {
        SchedulerKind::Random => Scheduler::Random,
        SchedulerKind::Fifo => Scheduler::Fifo,
        // The runtime's defaults for "pct".
        SchedulerKind::Pct => Scheduler::Pct {
            depth: 3,
            steps: 100_000,
        },
    };
    config.timer_order = match scenario.timer_order {
        TimerOrder::Random => vtsim_runtime::TimerOrder::Random,
        TimerOrder::Fifo => vtsim_runtime::TimerOrder::Fifo,
    };
    config.timer_slop = scenario.timer_slop;
    config.max_events = Some(config_limit(scenario));
    config.max_wall = Some(scenario.limits.max_wall);
    config
}

fn config_limit(scenario: &Scenario) -> usize {
    usize::try_from(scenario.limits.max_events).unwrap_or(usize::MAX)
}

/// Runs one seed of `scenario` in a fresh simulation: builds the [`World`], runs it for
/// `duration`, and checks every `[[expect]]` against the trace.
///
/// Never panics on a task panic: that is [`Outcome::Panic`]. Reaching `duration` ends the run
/// normally; timers due at exactly `duration` still fire, but an expectation's window (by default
/// `[0, duration)`) excludes that instant.
pub fn run_seed(scenario: &Scenario, seed: u64) -> SeedRun {
    let mut sim = Sim::with_config(seed, sim_config(scenario));
    let owned = scenario.clone();
    sim.spawn("world", async move {
        // The world's tasks run on; the handles are not needed here.
        drop(World::start(&owned));
    });
    let limit = config_limit(scenario);
    let outcome = match sim.run_for(scenario.duration) {
        // The simulation checks its event limit every so many polls; a run with few polls can
        // end just past it, and the limit should still hold.
        Ok(()) if sim.trace().len() > limit => Outcome::Liveness(
            SimError::EventLimit {
                seed,
                time: sim.elapsed(),
                limit,
            }
            .to_string(),
        ),
        Ok(()) => match &scenario.expect_panic {
            Some(wanted) => Outcome::Failed(vec![ExpectationFailure::no_panic(
                scenario,
                &wanted.message,
            )]),
            None => check(scenario, &sim.trace()),
        },
        Err(error @ SimError::Panic { .. }) => {
            let message = error.to_string();
            match &scenario.expect_panic {
                // The expected panic: the run passes when the trace up to it meets every
                // expectation.
                Some(wanted) if message.contains(&wanted.message) => check(scenario, &sim.trace()),
                Some(wanted) => Outcome::Panic(format!(
                    "{message} (expect_panic wanted a panic containing {:?})",
                    wanted.message
                )),
                None => Outcome::Panic(message),
            }
        }
        Err(error) => Outcome::Liveness(error.to_string()),
    };
    let report = sim.report();
    let trace = sim.take_trace();
    SeedRun {
        seed,
        outcome,
        trace,
        report,
    }
}

/// Runs `seed` of `scenario` twice and compares the traces: the determinism self-check.
///
/// # Errors
///
/// The first event where the two traces differ; or, when the traces agree but the outcomes do
/// not (a wall-time limit hit once), a divergence at the end of the trace naming both outcomes.
pub fn check_seed_determinism(scenario: &Scenario, seed: u64) -> Result<u64, Divergence> {
    let first = run_seed(scenario, seed);
    let second = run_seed(scenario, seed);
    // Comparing events is cheap; rendering them to text only pays when they differ.
    if first.trace != second.trace {
        if let Some(divergence) = first.trace.first_difference(&second.trace) {
            return Err(divergence);
        }
    }
    if first.outcome != second.outcome {
        return Err(Divergence {
            index: first.trace.len(),
            left: Some(first.outcome.to_string()),
            right: Some(second.outcome.to_string()),
        });
    }
    Ok(first.trace.hash())
}

/// Checks every expectation; all of them, so a report lists each one that failed.
fn check(scenario: &Scenario, trace: &Trace) -> Outcome {
    let whole = Window::new(Duration::ZERO, scenario.duration);
    let failures: Vec<ExpectationFailure> = scenario
        .expectations
        .iter()
        .enumerate()
        .filter_map(|(index, e)| check_one(index, e, whole, trace))
        .collect();
    if failures.is_empty() {
        Outcome::Pass
    } else {
        Outcome::Failed(failures)
    }
}

fn check_one(
    index: usize,
    e: &Expectation,
    whole: Window,
    trace: &Trace,
) -> Option<ExpectationFailure> {
    let matches = |ev: &&Event| {
        ev.kind() == Some(e.event)
            && e.window.contains(ev.time())
            && e.filters.iter().all(|f| field_matches(ev, f))
    };
    let observed = trace.events().iter().filter(matches).count();
    if e.count.allows(observed as u64) {
        return None;
    }
    let mut wanted = e.count.to_string();
    if e.window != whole {
        wanted.push_str(&format!(" in {}", e.window));
    }
    for (i, filter) in e.filters.iter().enumerate() {
        wanted.push_str(if i == 0 { " where " } else { ", " });
        wanted.push_str(&filter.to_string());
    }
    let matching = trace
        .events()
        .iter()
        .filter(matches)
        .take(MAX_MATCHING_LINES)
        .map(ToString::to_string)
        .collect();
    Some(ExpectationFailure {
        index,
        event: e.event.to_owned(),
        wanted,
        observed,
        matching,
    })
}

/// Whether `ev` has `filter.field` equal to `filter.value`. Integers and booleans compare by
/// value, anything else by its text.
fn field_matches(ev: &Event, filter: &FieldFilter) -> bool {
    let Some(value) = ev.field(&filter.field) else {
        return false;
    };
    match (value, &filter.value) {
        (Value::U64(v), FieldValue::Int(n)) => u64::try_from(*n) == Ok(*v),
        (Value::I64(v), FieldValue::Int(n)) => v == n,
        (Value::Bool(v), FieldValue::Bool(b)) => v == b,
        (Value::Str(s), wanted) => wanted.matches_text(s),
        (other, wanted) => wanted.matches_text(&other.to_string()),
    }
}
