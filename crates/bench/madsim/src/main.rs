//! ticker-storm on madsim: `vtsim-bench-madsim TASKS VIRTUAL_SECS PERIOD_MS [SEED]`.
//!
//! The same workload as `vtsim-bench ticker-storm`: N tasks, each a ticker jittered by ±25% of its
//! period with one ChaCha8 draw per tick; a tick counts when its deadline is at or before the end.
//! Prints the same line shape: `engine=madsim tasks=<n> ticks=<n> wall_ms=<float> ...`.

use std::time::Duration;

use vtsim_runtime::rand::Rng;

fn main() {
    let args: Vec<u64> = std::env::args().skip(1).map(|a| a.parse().expect("numbers")).collect();
    let (tasks, virtual_secs, period_ms) = (args[0], args[1], args[2]);
    let seed = args.get(3).copied().unwrap_or(1);
    let period = period_ms * 1_000_000;
    let end = virtual_secs * 1_000_000_000;
    #[allow(clippy::disallowed_methods)] // the benchmark's stopwatch
    let start = std::time::Instant::now();
    let rt = madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
    let ticks = rt.block_on(async move {
        let base = madsim::time::Instant::now();
        let handles: Vec<_> = (0..tasks)
            .map(|i| {
                let mut rng = Rng::derive(seed, &format!("storm/{i}"));
                madsim::task::spawn(async move {
                    let mut ticks = 0u64;
                    let mut next = 0u64;
                    loop {
                        let v = period / 4;
                        next += period - v + rng.below(2 * v);
                        if next > end {
                            return ticks;
                        }
                        madsim::time::sleep_until(base + Duration::from_nanos(next)).await;
                        ticks += 1;
                    }
                })
            })
            .collect();
        let mut total = 0;
        for h in handles {
            total += h.await.expect("ticker task");
        }
        total
    });
    let wall = start.elapsed();
    println!(
        "engine=madsim tasks={tasks} ticks={ticks} wall_ms={:.3} ticks_per_sec={:.0}",
        wall.as_secs_f64() * 1e3,
        ticks as f64 / wall.as_secs_f64()
    );
}
