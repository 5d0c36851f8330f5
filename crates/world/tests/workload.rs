//! The workload generator, run through the whole world: Poisson arrivals from t=0, bursts,
//! shares of transactions and streams, and one terminal event per query.

use std::collections::BTreeMap;
use std::time::Duration;

use vtsim_runtime::{Event, Trace};
use vtsim_scenario::Scenario;
use vtsim_world::{run_seed, Outcome};

fn run(text: &str, seed: u64) -> Trace {
    let scenario = Scenario::parse(text, "workload.toml").unwrap();
    let run = run_seed(&scenario, seed);
    assert_eq!(run.outcome, Outcome::Pass, "seed {seed}");
    run.trace
}

fn query_id(e: &Event) -> String {
    e.field("query")
        .and_then(|v| v.as_str())
        .unwrap_or_else(|| panic!("no query field: {e}"))
        .to_owned()
}

fn flag(e: &Event, name: &str) -> bool {
    matches!(e.field(name), Some(vtsim_runtime::Value::Bool(true)))
}

#[test]
fn poisson_arrivals_at_qps_counted_from_zero() {
    let text = r#"
duration = "10m"
[shard_conn]
[[tablet]]
uid = 1
[workload]
qps = 20.0
"#;
    for seed in [1, 2] {
        let trace = run(text, seed);
        let starts: Vec<Duration> = trace.of_kind("query.start").map(|e| e.time()).collect();
        // 12,000 expected; a Poisson count has a standard deviation of about 110.
        assert!(
            (11_500..=12_500).contains(&starts.len()),
            "seed {seed}: {} arrivals",
            starts.len()
        );
        assert!(
            starts[0] > Duration::ZERO,
            "the first arrival is one gap after t=0"
        );
        assert!(starts.windows(2).all(|w| w[0] <= w[1]));
        // Exponential gaps: about as many above the mean as e^-1 of them.
        let gaps: Vec<Duration> = starts.windows(2).map(|w| w[1] - w[0]).collect();
        let long = gaps
            .iter()
            .filter(|g| **g > Duration::from_millis(50))
            .count();
        let share = long as f64 / gaps.len() as f64;
        assert!((0.33..0.40).contains(&share), "seed {seed}: {share}");
        let ids: Vec<String> = trace.of_kind("query.start").map(query_id).collect();
        assert_eq!(ids[0], "q1");
        assert_eq!(
            ids.last().map(String::as_str),
            Some(&*format!("q{}", ids.len()))
        );
    }
    assert_ne!(run(text, 1).hash(), run(text, 2).hash());
}

#[test]
fn every_query_ends_exactly_once_after_its_retries() {
    // Tablet 1 answers RETRY for a minute, then goes down; tablet 2 is slow for a while, and the
    // connection rotates every 5s to 15s. Queries are retried, fail and succeed; each must end
    // once.
    let text = r#"
duration = "4m"
[shard_conn]
retry_count = 2
conn_life = "10s"
[[tablet]]
uid = 1
[[tablet.outage]]
from = "30s"
until = "90s"
mode = "retry-error"
[[tablet.outage]]
from = "90s"
until = "150s"
mode = "refuse"
[[tablet]]
uid = 2
[[tablet.outage]]
from = "60s"
until = "120s"
mode = "slow"
extra_latency = "500ms..2s"
[workload]
qps = 50
stop = "3m"
transaction_share = 0.2
stream_share = 0.1
stream_duration = "1s..5s"
"#;
    let trace = run(text, 3);
    let mut ends: BTreeMap<String, usize> = BTreeMap::new();
    for e in trace.events() {
        match e.kind() {
            Some("query.start") => assert!(ends.insert(query_id(e), 0).is_none(), "{e}"),
            Some("query.ok" | "query.failed") => {
                *ends.get_mut(&query_id(e)).expect("started first") += 1;
            }
            _ => {}
        }
    }
    assert!(ends.len() > 8_000, "{}", ends.len());
    let wrong: Vec<_> = ends.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        wrong.is_empty(),
        "queries not ended exactly once: {wrong:?}"
    );
    assert!(trace.count_kind("query.retry") > 0);
    assert!(trace.count_kind("query.failed") > 0);
    assert!(trace.count_kind("shardconn.markdown") > 0);
}

#[test]
fn shares_of_transactions_and_streams() {
    let text = r#"
duration = "5m"
[shard_conn]
[[tablet]]
uid = 1
[workload]
qps = 40
transaction_share = 0.25
stream_share = 0.15
stream_duration = "2s"
query_timeout = "1s"
"#;
    let trace = run(text, 4);
    let starts: Vec<&Event> = trace.of_kind("query.start").collect();
    let n = starts.len() as f64;
    let tx = starts.iter().filter(|e| flag(e, "transaction")).count() as f64 / n;
    let streams: Vec<String> = starts
        .iter()
        .filter(|e| flag(e, "stream"))
        .map(|e| query_id(e))
        .collect();
    assert!((0.22..0.28).contains(&tx), "{tx}");
    let share = streams.len() as f64 / n;
    assert!((0.12..0.18).contains(&share), "{share}");
    // A stream runs its 2s, past the 1s query timeout, and ends cleanly.
    let ok_elapsed: BTreeMap<String, u64> = trace
        .of_kind("query.ok")
        .map(|e| {
            (
                query_id(e),
                e.field("elapsed_ms").and_then(|v| v.as_u64()).unwrap(),
            )
        })
        .collect();
    let finished: Vec<u64> = streams
        .iter()
        .filter_map(|q| ok_elapsed.get(q).copied())
        .collect();
    assert!(
        finished.len() + 100 > streams.len(),
        "streams end with query.ok"
    );
    assert!(
        finished.iter().all(|ms| (2_000..2_100).contains(ms)),
        "{finished:?}"
    );
    assert_eq!(trace.count_kind("query.failed"), 0);
}

#[test]
fn bursts_start_their_queries_at_one_instant() {
    let text = r#"
duration = "30s"
[shard_conn]
[[tablet]]
uid = 1
[workload]
qps = 0
burst = [{ at = "5s", count = 50 }, { at = "12s", count = 3 }]
"#;
    let trace = run(text, 5);
    let starts: Vec<Duration> = trace.of_kind("query.start").map(|e| e.time()).collect();
    let at = |s| Duration::from_secs(s);
    assert_eq!(starts.iter().filter(|t| **t == at(5)).count(), 50);
    assert_eq!(starts.iter().filter(|t| **t == at(12)).count(), 3);
    assert_eq!(starts.len(), 53, "qps = 0 leaves only the bursts");
    // The first query dials; the other 49 of the burst wait on its consolidated dial.
    assert_eq!(trace.count_kind("shardconn.consolidated"), 49);
    assert_eq!(trace.count_kind("query.ok"), 53);
}
