//! Times the speed target of the runner: one hour of a replica ShardConn at 20 qps against four
//! tablets, rotating every minute, beside a DiscoverLoop.
//!
//! `cargo run --release -p vtsim-world --example replica_hour [SEEDS]`

use std::time::Duration;

use vtsim_scenario::Scenario;
use vtsim_world::run_seed;

const SCENARIO: &str = r#"
duration = "1h"

[discover]
interval = "5s"

[shard_conn]
tablet_type = "replica"
conn_life = "1m"

[[tablet]]
uid = 1
[[tablet]]
uid = 2
[[tablet]]
uid = 3
[[tablet]]
uid = 4

[workload]
qps = 20
"#;

fn main() {
    let seeds: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let scenario = Scenario::parse(SCENARIO, "replica-hour.toml").expect("the scenario is valid");
    // Wall time of the harness itself, outside any simulation.
    #[allow(clippy::disallowed_methods)]
    let start = std::time::Instant::now();
    let mut events = 0;
    for seed in 0..seeds {
        let run = run_seed(&scenario, seed);
        assert!(run.outcome.is_pass(), "seed {seed}: {}", run.outcome);
        events += run.trace.len();
    }
    let per_seed = start.elapsed() / u32::try_from(seeds).unwrap_or(u32::MAX).max(1);
    let speedup = Duration::from_secs(3600).as_secs_f64() / per_seed.as_secs_f64();
    println!(
        "{seeds} seeds: {:.1} ms per seed, {} events per seed, {speedup:.0}x real time",
        per_seed.as_secs_f64() * 1e3,
        events / seeds.max(1) as usize
    );
}
