use vtsim::scenario::Scenario;
use vtsim::world::run_seed;

/// A little of everything: a discover loop through an outage, a rotating replica ShardConn over
/// tablets with jittered latency and a refused window, Poisson queries.
const WORLD: &str = r#"
duration = "3m"

[discover]
interval = "5s"
timeout = "2s"

[orchestrator]
latency = "1ms..10ms"

[[orchestrator.outage]]
from = "20s"
until = "40s"
mode = "hang"

[shard_conn]
conn_life = "30s"

[[tablet]]
uid = 1
query_latency = "1ms..5ms"
[[tablet.outage]]
from = "1m"
until = "90s"
mode = "refuse"

[[tablet]]
uid = 2
query_latency = "2ms..8ms"

[workload]
qps = 5
"#;

/// If this changes, every recorded seed replays differently: a change to the runtime, a
/// component, the world, or a dependency altered the mapping from seed to trace. Update the
/// snapshot only on purpose, and say so in the commit.
#[test]
fn the_whole_stack_replays_the_same_trace() {
    let scenario = Scenario::parse(WORLD, "golden.toml").unwrap();
    let hashes: Vec<String> = (0..4)
        .map(|seed| run_seed(&scenario, seed).trace.hash_hex())
        .collect();
    insta::assert_debug_snapshot!(hashes);
    let run = run_seed(&scenario, 0);
    assert!(run.outcome.is_pass(), "{}", run.outcome);
    insta::assert_snapshot!(run.trace.tail(25));
}
