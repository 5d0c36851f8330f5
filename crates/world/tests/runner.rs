//! The scenario runner on small inline scenarios: spec bug 7.1 end to end, expectation reports,
//! panics and liveness as outcomes, and determinism.

use std::time::Duration;

use vtsim_scenario::Scenario;
use vtsim_world::{check_seed_determinism, run_seed, ExpectationFailure, Outcome};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn scenario(text: &str) -> Scenario {
    Scenario::parse(text, "inline.toml").unwrap_or_else(|e| panic!("{e}"))
}

/// Spec 7.1: interval 5s, timeout 30s, the Orchestrator black-holed during [0, 65s).
const COALESCED_TICKS: &str = r#"
duration = "2m"
seeds = 8
[discover]
interval = "5s"
timeout = "30s"
[orchestrator]
latency = "1ms..10ms"
[[orchestrator.outage]]
from = "0s"
until = "65s"
mode = "hang"

[[expect]]
event = "discover.attempt"
count = 4
until = "90001ms"
[[expect]]
event = "discover.failed"
count = 1
[[expect]]
event = "discover.failed"
count = 1
from = "30s"
until = "30001ms"
[[expect]]
event = "discover.recovered"
count = 1
from = "90s"
until = "90020ms"
"#;

#[test]
fn bug_7_1_coalesced_ticks_end_to_end() {
    let s = scenario(COALESCED_TICKS);
    for seed in s.seeds.to_vec() {
        let run = run_seed(&s, seed);
        assert_eq!(run.outcome, Outcome::Pass, "seed {seed}");
        let attempts: Vec<Duration> = run
            .trace
            .of_kind("discover.attempt")
            .map(|e| e.time())
            .take(4)
            .collect();
        assert_eq!(
            attempts,
            [ms(0), ms(30_000), ms(60_000), ms(90_000)],
            "seed {seed}"
        );
        let failed: Vec<_> = run
            .trace
            .of_kind("discover.failed")
            .map(|e| e.time())
            .collect();
        assert_eq!(
            failed,
            [ms(30_000)],
            "one warning, when the first call times out"
        );
        let recovered: Vec<_> = run
            .trace
            .of_kind("discover.recovered")
            .map(|e| e.time())
            .collect();
        assert_eq!(recovered.len(), 1);
        // 90s plus a round trip of two draws from 1ms..10ms.
        assert!(
            recovered[0] >= ms(90_002) && recovered[0] < ms(90_020),
            "{recovered:?}"
        );
        // The ticks kept coming while the calls hung, and all but one were dropped.
        assert!(run.trace.count_kind("ticker.dropped") >= 6, "seed {seed}");
        assert_eq!(run.report.now, s.duration, "the run ends at duration");
    }
}

#[test]
fn an_expectation_failure_reports_the_observed_count_and_the_matching_events() {
    let text = format!(
        "{COALESCED_TICKS}
[[expect]]
event = \"discover.failed\"
count = 2
from = \"29s\"
until = \"31s\"
[[expect]]
event = \"discover.error\"
min = 1
max = 2
[[expect]]
event = \"discover.attempt\"
max = 100
"
    );
    let run = run_seed(&scenario(&text), 7);
    let Outcome::Failed(failures) = &run.outcome else {
        panic!("{}", run.outcome)
    };
    // Every expectation is checked: the first four and the last hold, two fail.
    assert_eq!(failures.len(), 2, "{failures:?}");
    let ExpectationFailure {
        index,
        event,
        wanted,
        observed,
        matching,
    } = &failures[0];
    assert_eq!((*index, event.as_str()), (4, "discover.failed"));
    assert_eq!(wanted, "count = 2 in [29s, 31s)");
    assert_eq!(*observed, 1);
    assert_eq!(matching.len(), 1);
    assert!(
        matching[0].starts_with("   30.000000000s ") && matching[0].contains(" discover.failed "),
        "{matching:?}"
    );
    assert_eq!(
        failures[0].to_string(),
        "expect[4] discover.failed: expected count = 2 in [29s, 31s), observed 1"
    );
    // The three timeouts, each a discover.error.
    assert_eq!((failures[1].index, failures[1].observed), (5, 3));
    assert_eq!(failures[1].wanted, "min = 1, max = 2");
    assert_eq!(failures[1].matching.len(), 3);
    assert_eq!(
        run.outcome.to_string(),
        format!("{}; {}", failures[0], failures[1])
    );
    assert_eq!(run.outcome.exit_code(), 1);
    assert!(!run.outcome.is_pass());
}

#[test]
fn field_filters_select_events_by_value() {
    let text = r#"
duration = "2m"
[shard_conn]
conn_life = "20s"
[[tablet]]
uid = 1
[[tablet.outage]]
from = "30s"
until = "60s"
mode = "refuse"
[[tablet]]
uid = 2
[workload]
qps = 20

[[expect]]
event = "shardconn.markdown"
count = 0
where = { uid = 2 }
[[expect]]
event = "shardconn.dial"
min = 1
where = { uid = 1, host = "tablet-1" }
[[expect]]
event = "shardconn.markdown"
count = 999
where = { uid = 1 }
"#;
    let run = run_seed(&scenario(text), 2);
    let Outcome::Failed(failures) = &run.outcome else {
        panic!("{}", run.outcome)
    };
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].index, 2);
    assert_eq!(failures[0].wanted, "count = 999 where uid = 1");
    let markdowns = run
        .trace
        .of_kind("shardconn.markdown")
        .filter(|e| e.field("uid").and_then(|v| v.as_u64()) == Some(1))
        .count();
    assert!(markdowns >= 1);
    assert_eq!(failures[0].observed, markdowns);
    assert!(failures[0].matching.iter().all(|l| l.contains("uid=1")));
}

#[test]
fn a_component_panic_is_an_outcome_panic() {
    // Validation rejects a 1ns conn_life (Go's rand.Int63n(0) panic); a scenario built in code
    // can still ask for it, and the ShardConn then panics as vtgate would.
    let mut s = scenario(
        r#"
duration = "1m"
[shard_conn]
[[tablet]]
uid = 1
"#,
    );
    s.shard_conn.as_mut().unwrap().conn_life = Duration::from_nanos(1);
    let run = run_seed(&s, 3);
    let Outcome::Panic(message) = &run.outcome else {
        panic!("{}", run.outcome)
    };
    assert!(
        message.contains("`world` panicked at 0.000000000s"),
        "{message}"
    );
    assert!(message.contains("NewRandTicker"), "{message}");
    assert!(message.contains("[seed 3]"), "{message}");
    assert_eq!(run.outcome.exit_code(), 1);
    assert!(run.outcome.to_string().starts_with("panic: "));
}

#[test]
fn a_discover_ticker_panic_is_an_outcome_panic() {
    let mut s = scenario("duration = \"1m\"\n[discover]\ninterval = \"5s\"\n");
    s.discover.as_mut().unwrap().interval = Duration::from_nanos(3);
    let run = run_seed(&s, 4);
    let Outcome::Panic(message) = &run.outcome else {
        panic!("{}", run.outcome)
    };
    assert!(message.contains("`discover-loop` panicked"), "{message}");
}

#[test]
fn limits_end_a_run_as_liveness() {
    // A busy world passes the limit mid-run; a quiet one at its end. Both are liveness failures.
    let busy = format!("{BUSY}\n[limits]\nmax_events = 1000\n");
    let quiet = format!("{COALESCED_TICKS}\n[limits]\nmax_events = 20\n");
    for (text, limit) in [(busy, 1000), (quiet, 20)] {
        let run = run_seed(&scenario(&text), 1);
        let Outcome::Liveness(message) = &run.outcome else {
            panic!("{}", run.outcome)
        };
        assert!(
            message.contains(&format!("event limit of {limit} ")),
            "{message}"
        );
        assert_eq!(run.outcome.exit_code(), 3);
        assert!(run.outcome.to_string().starts_with("liveness: "));
    }
}

#[test]
fn a_quiet_world_runs_to_its_duration() {
    let s = scenario("duration = \"10m\"\n[discover]\ninterval = \"0s\"\n");
    let run = run_seed(&s, 5);
    assert_eq!(run.outcome, Outcome::Pass);
    assert_eq!(run.outcome.exit_code(), 0);
    assert_eq!(run.outcome.to_string(), "pass");
    assert_eq!(run.report.now, Duration::from_secs(600));
    assert_eq!(
        run.trace.count_kind("discover.attempt"),
        0,
        "interval 0 means never"
    );
}

#[test]
fn the_scenario_sets_the_simulation_up() {
    let s = scenario("duration = \"1s\"\nscheduler = \"fifo\"\ntimer_slop = \"2ms\"\n");
    let run = run_seed(&s, 6);
    let start = &run.trace.events()[0];
    assert_eq!(start.kind(), Some("sim.start"));
    let text = start.to_string();
    for field in [
        "seed=6",
        "scheduler=\"fifo\"",
        "timer_order=\"fifo\"",
        "timer_slop_ns=2000000",
    ] {
        assert!(text.contains(field), "{text}");
    }
}

/// A world with every peer busy: discover with outages, a rotating ShardConn, faults, streams.
const BUSY: &str = r#"
duration = "5m"
[discover]
interval = "5s"
[[orchestrator.outage]]
from = "20s"
until = "50s"
mode = "refuse"
[shard_conn]
conn_life = "30s"
[[tablet]]
uid = 1
[[tablet.outage]]
from = "1m"
until = "2m"
mode = "hang"
[[tablet]]
uid = 2
[[topo.change]]
at = "3m"
endpoints = [2]
[workload]
qps = 30
transaction_share = 0.1
stream_share = 0.1
stream_duration = "100ms..3s"
"#;

#[test]
fn same_seed_same_trace_other_seeds_differ() {
    let s = scenario(BUSY);
    let hash = check_seed_determinism(&s, 11).unwrap_or_else(|d| panic!("{d}"));
    let run = run_seed(&s, 11);
    assert_eq!(run.outcome, Outcome::Pass);
    assert_eq!(hash, run.trace.hash());
    let others: Vec<u64> = (12..16)
        .map(|seed| run_seed(&s, seed).trace.hash())
        .collect();
    assert!(others.iter().all(|h| *h != hash), "{others:?}");
    // The world marks what it did in the trace.
    for kind in [
        "fault.start",
        "fault.end",
        "topo.change",
        "orchestrator.request",
        "query.start",
    ] {
        assert!(run.trace.count_kind(kind) > 0, "{kind}");
    }
}

/// A replica ShardConn closed at the given times; `extra` is appended (fixes, expectations).
fn closing(close_at: &str, extra: &str) -> Scenario {
    scenario(&format!(
        r#"
duration = "1m"
[shard_conn]
conn_life = "10s"
close_at = {close_at}
[[tablet]]
uid = 1
[workload]
qps = 5
{extra}
"#
    ))
}

const STOP_TWICE: &str = "RandTicker.Stop called twice";

#[test]
fn a_second_close_panics_faithfully_and_the_panic_can_be_the_expected_outcome() {
    let run = run_seed(&closing(r#"["10s", "20s"]"#, ""), 3);
    let Outcome::Panic(message) = &run.outcome else {
        panic!("{}", run.outcome)
    };
    assert!(message.contains(STOP_TWICE), "{message}");

    let expected = format!("[expect_panic]\nmessage = {STOP_TWICE:?}\n[[expect]]\nevent = \"shardconn.close\"\ncount = 2");
    let run = run_seed(&closing(r#"["10s", "20s"]"#, &expected), 3);
    assert_eq!(run.outcome, Outcome::Pass);
    // The expectations are still checked, on the trace up to the panic.
    let wrong = expected.replace("count = 2", "count = 3");
    let run = run_seed(&closing(r#"["10s", "20s"]"#, &wrong), 3);
    assert!(
        matches!(&run.outcome, Outcome::Failed(f) if f[0].to_string() == "expect[0] shardconn.close: expected count = 3, observed 2"),
        "{}",
        run.outcome
    );
}

#[test]
fn an_expected_panic_that_never_comes_fails_clearly() {
    let extra = format!("[fixes]\nticker_stop = true\n[expect_panic]\nmessage = {STOP_TWICE:?}");
    let run = run_seed(&closing(r#"["10s", "20s"]"#, &extra), 3);
    let Outcome::Failed(failures) = &run.outcome else {
        panic!("{}", run.outcome)
    };
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].event, ExpectationFailure::NO_PANIC);
    assert_eq!(
        failures[0].to_string(),
        "expect_panic: expected a panic whose message contains \"RandTicker.Stop called twice\", but the run reached its duration without one"
    );
    assert_eq!(run.outcome.exit_code(), 1);
}

#[test]
fn a_different_panic_is_still_a_panic() {
    let extra = "[expect_panic]\nmessage = \"something else\"";
    let run = run_seed(&closing(r#"["10s", "10s"]"#, extra), 3);
    let Outcome::Panic(message) = &run.outcome else {
        panic!("{}", run.outcome)
    };
    assert!(message.contains(STOP_TWICE), "{message}");
    assert!(message.contains("expect_panic wanted a panic containing \"something else\""));
}

#[test]
fn the_workload_stops_at_the_first_close() {
    let run = run_seed(&closing(r#"["30s"]"#, ""), 5);
    assert_eq!(run.outcome, Outcome::Pass);
    let starts: Vec<Duration> = run.trace.of_kind("query.start").map(|e| e.time()).collect();
    assert!(starts.len() > 50, "{}", starts.len());
    assert!(starts.iter().all(|t| *t < ms(30_000)));
    assert_eq!(run.trace.of_kind("ticker.stop").count(), 1);
}
