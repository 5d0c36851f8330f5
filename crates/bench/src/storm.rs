//! The ticker-storm workload, on vtsim and on tokio's paused clock.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use vtsim_runtime::rand::Rng;
use vtsim_runtime::{task, time, Config, Scheduler, Sim};

use crate::{Engine, StormArgs};

/// One measured run.
#[derive(Debug, Clone)]
pub(crate) struct StormResult {
    /// As `--engine` names it, or `madsim`.
    engine: String,
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
        engine: engine.to_string(),
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

/// Runs every engine `rounds` times, alternating, and prints each run, the speed-up of vtsim over
/// tokio-paused and, given its binary, over madsim, and how close vtsim comes to the bare loop.
///
/// A round runs madsim (if given), vtsim, tokio-paused and bare back to back, so vtsim sits next
/// to both engines it is compared with and each round's own ratio sees the machine at one speed:
/// on a noisy machine the spread of these says more than the best runs do.
pub(crate) fn compare(a: &StormArgs, rounds: u32, madsim: Option<&Path>) -> Result<(), String> {
    let mut ticks = None;
    // Every run is printed as it ends, and must count the ticks the first one counted: a ratio of
    // unequal work would mean nothing.
    let mut record = |round: u32, r: StormResult| -> Result<StormResult, String> {
        println!("round={round} {r}");
        match &ticks {
            Some((first, name)) if *first != r.ticks => Err(format!(
                "{name} counted {first} ticks and {} counted {}: the engines ran different storms",
                r.engine, r.ticks
            )),
            Some(_) => Ok(r),
            None => {
                ticks = Some((r.ticks, r.engine.clone()));
                Ok(r)
            }
        }
    };
    let (mut best_v, mut best_t, mut best_b, mut best_m) = (None, None, None, None);
    let (mut over_tokio, mut over_madsim) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let m = match madsim {
            Some(bin) => Some(record(round, run_madsim(bin, a)?)?),
            None => None,
        };
        let v = record(round, run(Engine::Vtsim, a))?;
        let t = record(round, run(Engine::TokioPaused, a))?;
        let b = record(round, run(Engine::Bare, a))?;
        over_tokio.push(t.wall.as_secs_f64() / v.wall.as_secs_f64());
        if let Some(m) = m {
            over_madsim.push(m.wall.as_secs_f64() / v.wall.as_secs_f64());
            keep_best(&mut best_m, m);
        }
        keep_best(&mut best_v, v);
        keep_best(&mut best_t, t);
        keep_best(&mut best_b, b);
    }
    let ran = "at least one round ran";
    let (v, t, b) = (best_v.expect(ran), best_t.expect(ran), best_b.expect(ran));
    println!(
        "speedup vtsim/tokio-paused = {:.2}x (tasks={} virtual_secs={} period_ms={}, best of {rounds}); round by round {}; vtsim runs at {:.0}% of the bare heap loop",
        v.ticks_per_sec() / t.ticks_per_sec(),
        a.tasks,
        a.virtual_secs,
        a.period_ms,
        spread(&mut over_tokio),
        100.0 * v.ticks_per_sec() / b.ticks_per_sec(),
    );
    if let Some(m) = best_m {
        println!(
            "speedup vtsim/madsim = {:.2}x (best of {rounds}); round by round {}",
            v.ticks_per_sec() / m.ticks_per_sec(),
            spread(&mut over_madsim),
        );
    }
    Ok(())
}

fn keep_best(best: &mut Option<StormResult>, r: StormResult) {
    if best.as_ref().is_none_or(|b| r.wall < b.wall) {
        *best = Some(r);
    }
}

/// `<median>x median, <least>-<most>x` of non-empty `ratios`.
fn spread(ratios: &mut [f64]) -> String {
    ratios.sort_by(f64::total_cmp);
    format!(
        "{:.2}x median, {:.2}-{:.2}x",
        median(ratios),
        ratios[0],
        ratios[ratios.len() - 1]
    )
}

/// Runs madsim's ticker-storm binary (`crates/bench/madsim`) on the same storm and reads the one
/// line it prints, which has the shape of ours.
fn run_madsim(bin: &Path, a: &StormArgs) -> Result<StormResult, String> {
    let out = std::process::Command::new(bin)
        .args([a.tasks, a.virtual_secs, a.period_ms, a.seed].map(|n| n.to_string()))
        .output()
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "{} failed ({}): {}",
            bin.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    stdout.lines().find_map(parse_result).ok_or_else(|| {
        format!(
            "{} printed no line with engine=, tasks=, ticks= and wall_ms=: {:?}",
            bin.display(),
            stdout.trim()
        )
    })
}

/// A result line: `engine=<e> tasks=<n> ticks=<n> wall_ms=<float> ...`, in any order.
fn parse_result(line: &str) -> Option<StormResult> {
    let field = |name: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))
    };
    let wall_ms: f64 = field("wall_ms")?.parse().ok()?;
    Some(StormResult {
        engine: field("engine")?.to_owned(),
        tasks: field("tasks")?.parse().ok()?,
        ticks: field("ticks")?.parse().ok()?,
        wall: Duration::try_from_secs_f64(wall_ms / 1e3).ok()?,
    })
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
    fn a_result_line_reads_back_as_it_was_printed() {
        let r = StormResult {
            engine: "madsim".to_owned(),
            tasks: 1000,
            ticks: 3_599_301,
            wall: Duration::from_micros(1_335_980),
        };
        let back = parse_result(&r.to_string()).expect("a result line");
        assert_eq!(
            (back.engine.as_str(), back.tasks, back.ticks),
            ("madsim", 1000, 3_599_301)
        );
        assert_eq!(back.wall, r.wall);
        assert!(
            parse_result("engine=madsim tasks=10 ticks=5").is_none(),
            "no wall_ms"
        );
        assert!(parse_result("engine=madsim tasks=10 ticks=x wall_ms=1.0").is_none());
    }

    #[test]
    fn the_median_of_round_ratios() {
        assert_eq!(median(&[4.0]), 4.0);
        assert_eq!(median(&[3.0, 5.0, 9.0]), 5.0);
        assert_eq!(median(&[3.0, 5.0, 6.0, 9.0]), 5.5);
    }
}
