//! The ticker-storm workload, on vtsim and on tokio's paused clock.

use std::fmt;
use std::time::Duration;

use vtsim_runtime::rand::Rng;
use vtsim_runtime::{task, time, Config, Scheduler, Sim};

use crate::{Engine, StormArgs};

/// One measured run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StormResult {
    engine: Engine,
    tasks: u64,
    ticks: u64,
    wall: Duration,
}

impl StormResult {
    fn ticks_per_sec(&self) -> f64 {
        self.ticks as f64 / self.wall.as_secs_f64()
    }
}

impl fmt::Display for StormResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "engine={} tasks={} ticks={} wall_ms={:.3} ticks_per_sec={:.0}",
            self.engine,
            self.tasks,
            self.ticks,
            self.wall.as_secs_f64() * 1e3,
            self.ticks_per_sec()
        )
    }
}

/// The delay before the next tick: the period ± 25%, uniform in whole nanoseconds.
#[inline]
fn next_delay(rng: &mut Rng, period: u64) -> u64 {
    let v = period / 4;
    period - v + rng.below(2 * v)
}

#[allow(clippy::disallowed_methods)] // the benchmark's own stopwatch, outside the simulated world
pub(crate) fn stopwatch() -> std::time::Instant {
    std::time::Instant::now()
}

pub(crate) fn run(engine: Engine, a: &StormArgs) -> StormResult {
    let period = a.period_ms * 1_000_000;
    let end = a.virtual_secs * 1_000_000_000;
    let start = stopwatch();
    let ticks = match engine {
        Engine::Vtsim => vtsim_storm(a.seed, a.tasks, period, end),
        Engine::TokioPaused => tokio_storm(a.seed, a.tasks, period, end),
        Engine::Bare => bare_storm(a.seed, a.tasks, period, end),
    };
    StormResult {
        engine,
        tasks: a.tasks,
        ticks,
        wall: start.elapsed(),
    }
}

/// One ticker of the storm, written once for every engine: `sleep_until(nanos)` is the engine's
/// timer. Returns the ticks whose deadline is at or before `end`.
async fn ticker<S: std::future::Future>(
    mut rng: Rng,
    period: u64,
    end: u64,
    sleep_until: impl Fn(u64) -> S,
) -> u64 {
    let mut ticks = 0u64;
    let mut next = 0u64;
    loop {
        next += next_delay(&mut rng, period);
        if next > end {
            return ticks;
        }
        sleep_until(next).await;
        ticks += 1;
    }
}

fn storm_rng(seed: u64, i: u64) -> Rng {
    Rng::derive(seed, &format!("storm/{i}"))
}

/// The runtime's defaults, with room for every task to poll at one instant: all of them start at
/// t=0, which the default livelock bound (a million polls) would take for a livelock.
fn config_for(tasks: u64) -> Config {
    let mut config = Config::default();
    config.max_polls_per_instant = config
        .max_polls_per_instant
        .max(tasks.saturating_mul(2).saturating_add(16));
    config
}

fn vtsim_storm(seed: u64, tasks: u64, period: u64, end: u64) -> u64 {
    let mut sim = Sim::builder(seed)
        .config(config_for(tasks))
        .scheduler(Scheduler::Fifo)
        .build();
    sim.block_on(async move {
        let sleep = |n| time::sleep_until(time::Instant::from_nanos(n));
        let handles: Vec<_> = (0..tasks)
            .map(|i| task::spawn(ticker(storm_rng(seed, i), period, end, sleep)))
            .collect();
        let mut total = 0;
        for h in handles {
            total += h.await.expect("ticker task finished");
        }
        total
    })
    .expect("the storm runs to completion")
}

fn tokio_storm(seed: u64, tasks: u64, period: u64, end: u64) -> u64 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a tokio runtime");
    // The comparison engine is plain tokio on purpose.
    #[allow(clippy::disallowed_methods)]
    rt.block_on(async move {
        let base = tokio::time::Instant::now();
        let sleep = move |n| tokio::time::sleep_until(base + Duration::from_nanos(n));
        let handles: Vec<_> = (0..tasks)
            .map(|i| tokio::spawn(ticker(storm_rng(seed, i), period, end, sleep)))
            .collect();
        let mut total = 0;
        for h in handles {
            total += h.await.expect("ticker task finished");
        }
        total
    })
}

/// The ceiling: the same draws and deadlines in a plain binary heap, with no tasks or futures.
/// A tick replaces the heap's top in place, one sift where a pop and a push take two, so this is
/// the faster of the two plain loops (about 15% here).
fn bare_storm(seed: u64, tasks: u64, period: u64, end: u64) -> u64 {
    use std::cmp::Reverse;
    use std::collections::binary_heap::PeekMut;
    let mut rngs: Vec<Rng> = (0..tasks).map(|i| storm_rng(seed, i)).collect();
    let mut heap = std::collections::BinaryHeap::with_capacity(tasks as usize);
    for (i, rng) in rngs.iter_mut().enumerate() {
        let next = next_delay(rng, period);
        if next <= end {
            heap.push(Reverse((next, i)));
        }
    }
    let mut ticks = 0;
    while let Some(mut top) = heap.peek_mut() {
        ticks += 1;
        let Reverse((at, i)) = *top;
        let next = at + next_delay(&mut rngs[i], period);
        if next <= end {
            *top = Reverse((next, i));
        } else {
            PeekMut::pop(top);
        }
    }
    ticks
}

pub(crate) fn compare(a: &StormArgs, rounds: u32) {
    let engines = [Engine::Vtsim, Engine::TokioPaused, Engine::Bare];
    let mut best = [None::<StormResult>; 3];
    // Each round runs the engines back to back, so its own ratio sees the machine at one speed:
    // on a noisy machine the spread of these says more than the best runs do.
    let mut pairs = Vec::new();
    for round in 0..rounds {
        let mut walls = [Duration::ZERO; 3];
        for (i, engine) in engines.into_iter().enumerate() {
            let r = run(engine, a);
            println!("round={round} {r}");
            // A ratio of unequal work would mean nothing.
            if let Some(first) = best[0].filter(|first| first.ticks != r.ticks) {
                eprintln!(
                    "vtsim-bench compare: {} counted {} ticks and {} counted {}: the engines ran different storms",
                    first.engine, first.ticks, r.engine, r.ticks
                );
                std::process::exit(1);
            }
            walls[i] = r.wall;
            if best[i].is_none_or(|b| r.wall < b.wall) {
                best[i] = Some(r);
            }
        }
        let [vtsim, tokio, _] = walls;
        pairs.push(tokio.as_secs_f64() / vtsim.as_secs_f64());
    }
    pairs.sort_by(f64::total_cmp);
    let [v, t, b] = best.map(|r| r.expect("ran"));
    println!(
        "speedup vtsim/tokio-paused = {:.2}x (tasks={} virtual_secs={} period_ms={}, best of {rounds}); round by round {:.2}x median, {:.2}-{:.2}x; vtsim runs at {:.0}% of the bare heap loop",
        v.ticks_per_sec() / t.ticks_per_sec(),
        a.tasks,
        a.virtual_secs,
        a.period_ms,
        median(&pairs),
        pairs[0],
        pairs[pairs.len() - 1],
        100.0 * v.ticks_per_sec() / b.ticks_per_sec(),
    );
}

/// The median of sorted, non-empty `xs`.
fn median(xs: &[f64]) -> f64 {
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

pub(crate) fn memory(tasks: u64) {
    let before = peak_rss_kib();
    let mut sim = Sim::builder(1).config(config_for(tasks)).build();
    sim.block_on(async move {
        let handles: Vec<_> = (0..tasks)
            .map(|_| task::spawn(async { time::sleep(Duration::from_secs(60)).await }))
            .collect();
        time::sleep(Duration::from_secs(1)).await;
        let after = peak_rss_kib();
        println!(
            "tasks={tasks} peak_rss_kib={after} delta_kib={} bytes_per_task={:.0}",
            after.saturating_sub(before),
            (after.saturating_sub(before) * 1024) as f64 / tasks as f64
        );
        for h in handles {
            h.abort();
        }
    })
    .expect("memory run");
}

/// Peak resident set size of this process, from /proc (Linux).
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// How a trace-cost loop records its event.
#[derive(Clone, Copy, PartialEq)]
enum Recording {
    None,
    Tracing,
    FastPath,
}

pub(crate) fn trace_cost(events: u64) {
    let run = |how: Recording| {
        let mut sim = Sim::builder(1).scheduler(Scheduler::Fifo).build();
        let start = stopwatch();
        sim.block_on(async move {
            for i in 0..events {
                match how {
                    Recording::None => {}
                    Recording::Tracing => {
                        tracing::debug!(kind = "query.ok", uid = 3u64, query = i, "query done");
                    }
                    Recording::FastPath => {
                        vtsim_runtime::trace_event!(
                            DEBUG,
                            kind = "query.ok",
                            uid = 3u64,
                            query = i,
                            "query done"
                        );
                    }
                }
                task::yield_now().await;
            }
        })
        .expect("trace-cost run");
        let wall = start.elapsed();
        let recorded = if how == Recording::None { 0 } else { events };
        assert_eq!(sim.trace().len() as u64, 1 + recorded);
        wall
    };
    let mut best = [Duration::MAX; 3];
    for _ in 0..3 {
        for (b, how) in
            best.iter_mut()
                .zip([Recording::None, Recording::Tracing, Recording::FastPath])
        {
            *b = (*b).min(run(how));
        }
    }
    let per = |d: Duration| d.saturating_sub(best[0]).as_nanos() as f64 / events as f64;
    println!(
        "events={events} ns_per_event={:.1} ns_per_event_fast_path={:.1} ns_per_step_without={:.1} (best of 3)",
        per(best[1]),
        per(best[2]),
        best[0].as_nanos() as f64 / events as f64,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_engine_counts_the_same_ticks() {
        for seed in 0..4 {
            let a = StormArgs {
                seed,
                tasks: 20,
                virtual_secs: 30,
                period_ms: 100,
            };
            let ticks =
                [Engine::Vtsim, Engine::TokioPaused, Engine::Bare].map(|e| run(e, &a).ticks);
            assert!(ticks[0] > 20 * 30 * 8, "seed {seed}: {ticks:?}");
            assert_eq!(
                ticks, [ticks[0]; 3],
                "seed {seed}: vtsim, tokio-paused, bare"
            );
        }
    }

    #[test]
    fn the_median_of_round_ratios() {
        assert_eq!(median(&[4.0]), 4.0);
        assert_eq!(median(&[3.0, 5.0, 9.0]), 5.0);
        assert_eq!(median(&[3.0, 5.0, 6.0, 9.0]), 5.5);
    }
}
