//! RandTicker, pinned to spec section 1: delays, the one-tick buffer, Stop and its races.

use std::time::Duration;

use vtsim_runtime::time::{self, Instant};
use vtsim_runtime::{task, Sim, SimError, Trace};
use vtsim_timer::{Fixes, RandTicker, TickerError};

const SECOND: Duration = Duration::from_secs(1);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn zero_variance() -> Fixes {
    let mut fixes = Fixes::faithful();
    fixes.ticker_zero_variance = true;
    fixes
}

fn zero_variance_and_stop_fixed() -> Fixes {
    let mut fixes = zero_variance();
    fixes.ticker_stop = true;
    fixes
}

fn now() -> Duration {
    Instant::now().since_start()
}

/// The virtual times of the first `n` ticks a prompt consumer receives.
async fn first_ticks(name: &str, d: Duration, v: Duration, n: usize) -> Vec<Duration> {
    let mut ticker = RandTicker::new(name, d, v, &Fixes::faithful()).unwrap();
    let mut ticks = Vec::new();
    for _ in 0..n {
        ticks.push(ticker.recv().await.unwrap().since_start());
    }
    ticker.stop();
    ticks
}

/// The gaps between consecutive instants, the first one measured from zero.
fn gaps(ticks: &[Duration]) -> Vec<Duration> {
    let mut previous = Duration::ZERO;
    ticks
        .iter()
        .map(|&t| {
            let gap = t - previous;
            previous = t;
            gap
        })
        .collect()
}

fn index_of(trace: &Trace, kind: &str) -> Option<usize> {
    trace.events().iter().position(|e| e.kind() == Some(kind))
}

fn indexes_of(trace: &Trace, kind: &str) -> Vec<usize> {
    let events = trace.events().iter().enumerate();
    events
        .filter(|(_, e)| e.kind() == Some(kind))
        .map(|(i, _)| i)
        .collect()
}

// 1.1, 1.2: the same seed gives the same jittered ticks, to the nanosecond. The numbers are the
// runtime's "ticker/exact" stream under seed 7; they change only if the stream derivation does.
#[test]
fn exact_tick_times_under_seed_7() {
    let run = |seed| {
        Sim::new(seed)
            .block_on(first_ticks("exact", 10 * SECOND, 2 * SECOND, 5))
            .unwrap()
    };
    let expected: Vec<Duration> = [
        11_960_564_383,
        22_142_714_684,
        33_371_445_145,
        41_834_431_656,
        50_485_925_932,
    ]
    .into_iter()
    .map(Duration::from_nanos)
    .collect();
    assert_eq!(run(7), expected);
    assert_eq!(run(7), expected, "a seed replays exactly");
    assert_ne!(run(8), expected, "another seed jitters differently");
}

// 1.2: every delay, the first one too, lies in [d - v, d + v), measured from the previous tick.
#[vtsim_runtime::test(crate = vtsim_runtime, seeds = 64)]
async fn delays_stay_in_the_jitter_range() -> Result<(), String> {
    let (d, v) = (10 * SECOND, 2 * SECOND);
    let ticks = first_ticks("range", d, v, 20).await;
    match gaps(&ticks)
        .into_iter()
        .find(|&gap| gap < d - v || gap >= d + v)
    {
        Some(gap) => Err(format!("delay {gap:?} outside [8s, 12s): {ticks:?}")),
        None => Ok(()),
    }
}

// 1.2: the jitter spans the whole range and centres on d; it is not a fixed period.
#[test]
fn jitter_spans_the_range() {
    let (d, v) = (10 * SECOND, 2 * SECOND);
    let mut all = Vec::new();
    for seed in 0..16 {
        let ticks = Sim::new(seed)
            .block_on(first_ticks("spread", d, v, 50))
            .unwrap();
        all.extend(gaps(&ticks));
    }
    let min = *all.iter().min().unwrap();
    let max = *all.iter().max().unwrap();
    let mean = all.iter().sum::<Duration>() / all.len() as u32;
    assert!(min < d - v + ms(100), "min {min:?}");
    assert!(max > d + v - ms(100), "max {max:?}");
    assert!(mean > d - ms(200) && mean < d + ms(200), "mean {mean:?}");
}

// 1.2 with the zero-variance fix: no jitter, and the first tick after one full period.
#[test]
fn zero_variance_fixed_ticks_every_period_exactly() {
    let ticks = Sim::new(1)
        .block_on(async {
            let mut ticker =
                RandTicker::new("exact-period", SECOND, Duration::ZERO, &zero_variance()).unwrap();
            let mut ticks = Vec::new();
            for _ in 0..3 {
                ticks.push(ticker.recv().await.unwrap().since_start());
            }
            ticks
        })
        .unwrap();
    assert_eq!(ticks, [SECOND, 2 * SECOND, 3 * SECOND]);
}

// 1.3: a busy consumer gets one stale tick at once, then waits a full delay; the rest drop.
#[test]
fn slow_consumer_sees_one_stale_tick_then_waits() {
    let mut sim = Sim::new(5);
    let (seen, dropped) = sim
        .block_on(async {
            let mut ticker =
                RandTicker::new("slow", SECOND, Duration::ZERO, &zero_variance()).unwrap();
            let mut seen = Vec::new();
            let first = ticker.recv().await.unwrap();
            seen.push((now(), first.since_start()));
            time::sleep_until(Instant::from_nanos(4_500_000_000)).await;
            for _ in 0..2 {
                let tick = ticker.recv().await.unwrap();
                seen.push((now(), tick.since_start()));
            }
            (seen, ticker.dropped())
        })
        .unwrap();
    assert_eq!(
        seen,
        [
            (SECOND, SECOND),
            (ms(4_500), 2 * SECOND), // stale: fired at 2s, read at 4.5s
            (5 * SECOND, 5 * SECOND),
        ]
    );
    assert_eq!(dropped, 2);
    let trace = sim.trace();
    let dropped_at: Vec<Duration> = trace.of_kind("ticker.dropped").map(|e| e.time()).collect();
    assert_eq!(dropped_at, [3 * SECOND, 4 * SECOND]);
    let last = trace.of_kind("ticker.dropped").last().unwrap();
    assert_eq!(last.field("dropped").and_then(|v| v.as_u64()), Some(2));
    assert_eq!(last.field("ticker").and_then(|v| v.as_str()), Some("slow"));
    let ticked_at: Vec<Duration> = trace.of_kind("ticker.tick").map(|e| e.time()).collect();
    assert_eq!(ticked_at, [SECOND, 2 * SECOND, 5 * SECOND]);
}

// 1.3 with jitter: the stale tick is the one right after the last read, and comes at once.
#[vtsim_runtime::test(crate = vtsim_runtime, seeds = 32)]
async fn stale_tick_then_wait_with_jitter() -> Result<(), String> {
    let mut ticker = RandTicker::new("stale", SECOND, ms(250), &Fixes::faithful()).unwrap();
    let first = ticker.recv().await.unwrap();
    time::sleep(5 * SECOND).await;
    let read_at = Instant::now();
    let stale = ticker.recv().await.unwrap();
    if Instant::now() != read_at || stale - first >= ms(1_250) || stale <= first {
        return Err(format!(
            "stale tick {stale} after {first}, read at {read_at}"
        ));
    }
    let fresh = ticker.recv().await.unwrap();
    if fresh <= read_at || ticker.dropped() < 3 {
        return Err(format!(
            "fresh {fresh} read at {read_at}, dropped {}",
            ticker.dropped()
        ));
    }
    Ok(())
}

// 1.5: a tick already buffered is still received after Stop, then the channel closes; with the
// fix, Stop is final and the buffered tick is ignored.
#[test]
fn buffered_tick_after_stop_faithful_and_fixed() {
    let run = |fixes: Fixes| {
        Sim::new(2)
            .block_on(async move {
                let mut ticker =
                    RandTicker::new("buffered", SECOND, Duration::ZERO, &fixes).unwrap();
                time::sleep(ms(1_500)).await; // the 1s tick waits in the buffer
                ticker.stop();
                let mut after = Vec::new();
                while let Some(tick) = ticker.recv().await {
                    after.push(tick.since_start());
                }
                (after, now())
            })
            .unwrap()
    };
    assert_eq!(run(zero_variance()), (vec![SECOND], ms(1_500)));
    assert_eq!(run(zero_variance_and_stop_fixed()), (vec![], ms(1_500)));
}

// 1.5: a recv waiting in another task ends when the ticker is stopped, in both modes.
#[test]
fn stop_ends_a_waiting_recv() {
    for fixes in [zero_variance(), zero_variance_and_stop_fixed()] {
        let ended_at = Sim::new(4)
            .block_on(async move {
                let ticker =
                    RandTicker::new("waiting", 10 * SECOND, Duration::ZERO, &fixes).unwrap();
                let (mut ticks, stop) = ticker.into_parts();
                let consumer = task::spawn(async move {
                    let tick = ticks.recv().await;
                    (tick, now())
                });
                time::sleep(SECOND).await;
                stop.stop();
                consumer.await.unwrap()
            })
            .unwrap();
        assert_eq!(ended_at, (None, SECOND), "{fixes:?}");
    }
}

/// How one run of the Stop race went.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Race {
    /// The tick fired before Stop, and was read from the buffer after it.
    BufferedBefore,
    /// The tick was delivered after Stop returned.
    LateTick,
    /// Stop won: no tick at all.
    NoTick,
}

/// Stops a d=1s ticker at exactly 1s, the instant its timer fires, and classifies the run.
fn stop_race(seed: u64, fixes: Fixes) -> Race {
    let mut sim = Sim::new(seed);
    let received = sim
        .block_on(async move {
            let mut ticker = RandTicker::new("race", SECOND, Duration::ZERO, &fixes).unwrap();
            time::sleep(SECOND).await;
            ticker.stop();
            tracing::info!(kind = "test.stopped", "stop returned");
            let mut received = Vec::new();
            while let Some(tick) = ticker.recv().await {
                received.push(tick.since_start());
            }
            received
        })
        .unwrap();
    let trace = sim.trace();
    let stopped = index_of(&trace, "test.stopped").unwrap();
    let ticks = indexes_of(&trace, "ticker.tick");
    assert!(ticks.len() <= 1, "seed {seed}: {}", trace.to_text());
    assert!(
        received.len() <= ticks.len(),
        "seed {seed}: received {received:?}"
    );
    match ticks.first() {
        None => Race::NoTick,
        Some(&i) if i > stopped => Race::LateTick,
        Some(_) => Race::BufferedBefore,
    }
}

// 1.5: faithfully, when the timer and Stop are ready at the same instant, a coin decides, so
// some seeds deliver one more tick after Stop returned (spec 7.8).
#[test]
fn stop_race_can_deliver_a_late_tick() {
    let races: Vec<Race> = (0..64)
        .map(|seed| stop_race(seed, zero_variance()))
        .collect();
    for race in [Race::LateTick, Race::NoTick, Race::BufferedBefore] {
        assert!(races.contains(&race), "{race:?} never happened: {races:?}");
    }
}

// 1.5 fixed: the same race never delivers a tick after Stop, and the buffered one is not read.
#[test]
fn stop_race_fixed_never_delivers_after_stop() {
    let mut buffered = 0;
    for seed in 0..64 {
        let mut sim = Sim::new(seed);
        let fixes = zero_variance_and_stop_fixed();
        let received = sim
            .block_on(async move {
                let mut ticker = RandTicker::new("race", SECOND, Duration::ZERO, &fixes).unwrap();
                time::sleep(SECOND).await;
                ticker.stop();
                tracing::info!(kind = "test.stopped", "stop returned");
                let received = ticker.recv().await;
                time::sleep(5 * SECOND).await;
                (received, ticker.recv().await)
            })
            .unwrap();
        assert_eq!(received, (None, None), "seed {seed}");
        let trace = sim.trace();
        let stopped = index_of(&trace, "test.stopped").unwrap();
        let ticks = indexes_of(&trace, "ticker.tick");
        assert!(
            ticks.iter().all(|&i| i < stopped),
            "seed {seed}: {}",
            trace.to_text()
        );
        buffered += ticks.len();
    }
    assert!(
        buffered > 0,
        "some seed must buffer the tick before Stop, or the fix is untested"
    );
}

// 1.5: a second faithful Stop panics, and the panic names the Vitess bug.
#[test]
fn double_stop_panics_naming_the_bug() {
    let err = Sim::new(3)
        .block_on(async {
            let ticker = RandTicker::new("twice", SECOND, ms(100), &Fixes::faithful()).unwrap();
            let handle = ticker.stop_handle();
            handle.stop();
            ticker.stop();
        })
        .unwrap_err();
    let SimError::Panic { message, .. } = err else {
        panic!("expected a panic, got {err:?}");
    };
    assert!(message.contains("close of closed channel"), "{message}");
    assert!(message.contains("Stop called twice"), "{message}");
    assert!(message.contains("go/timer/randticker.go"), "{message}");
}

// 1.5 fixed: Stop is idempotent.
#[test]
fn fixed_double_stop_is_fine() {
    let mut fixes = Fixes::faithful();
    fixes.ticker_stop = true;
    let after = Sim::new(3)
        .block_on(async move {
            let mut ticker = RandTicker::new("twice", SECOND, ms(100), &fixes).unwrap();
            ticker.stop();
            ticker.stop();
            ticker.stop_handle().stop();
            ticker.recv().await
        })
        .unwrap();
    assert_eq!(after, None);
}

// 1.4: a zero variance is Go's Int63n(0) panic, as an error; the fix makes it "no jitter".
#[test]
fn zero_variance_is_the_int63n_panic() {
    let err = RandTicker::new("orc", 3 * SECOND, Duration::ZERO, &Fixes::faithful()).unwrap_err();
    assert_eq!(
        err,
        TickerError::ZeroVariance {
            name: "orc".into(),
            period: 3 * SECOND
        }
    );
    let text = err.to_string();
    assert!(
        text.contains("Int63n(0)") && text.contains("randticker.go"),
        "{text}"
    );
    assert!(text.contains("ticker_zero_variance"), "{text}");
    let fixed = Sim::new(1).block_on(async {
        RandTicker::new("orc", 3 * SECOND, Duration::ZERO, &zero_variance())
            .map(|t| t.name().to_owned())
    });
    assert_eq!(fixed.unwrap(), Ok("orc".to_owned()));
}

// 1.4: a zero period is an error with or without the fixes; so is an overflowing one.
#[test]
fn bad_periods_are_errors() {
    for fixes in [Fixes::faithful(), Fixes::all()] {
        let err = RandTicker::new("zero", Duration::ZERO, SECOND, &fixes).unwrap_err();
        assert_eq!(
            err,
            TickerError::NonPositivePeriod {
                name: "zero".into()
            }
        );
        assert!(err.to_string().contains("must be positive"), "{err}");
    }
    let huge = Duration::from_secs(300 * 365 * 86_400);
    let err = RandTicker::new("huge", huge, SECOND, &Fixes::faithful()).unwrap_err();
    assert!(matches!(err, TickerError::OutOfRange { .. }), "{err:?}");
    assert!(err.to_string().contains("time.Duration"), "{err}");
}

// 1.6: with v > d, some delays are <= 0 and the ticker fires again in the same instant.
#[test]
fn variance_above_period_fires_at_once() {
    let mut sim = Sim::new(11);
    sim.block_on(async {
        // Nobody reads: the first tick stays buffered and every later fire is dropped.
        let ticker = RandTicker::new("wide", SECOND, 3 * SECOND, &Fixes::faithful()).unwrap();
        time::sleep(200 * SECOND).await;
        ticker.stop();
    })
    .unwrap();
    let trace = sim.trace();
    let fires: Vec<(Duration, u64)> = trace
        .events()
        .iter()
        .filter(|e| matches!(e.kind(), Some("ticker.tick" | "ticker.dropped")))
        .map(|e| {
            (
                e.time(),
                e.field("delay_ns").and_then(|v| v.as_u64()).unwrap(),
            )
        })
        .collect();
    assert!(fires.len() > 100, "{} fires", fires.len());
    let mut previous = Duration::ZERO;
    for &(at, delay_ns) in &fires {
        assert_eq!(
            at - previous,
            Duration::from_nanos(delay_ns),
            "measured from the last fire"
        );
        assert!(delay_ns < 4_000_000_000, "delay {delay_ns}ns >= d + v");
        previous = at;
    }
    let immediate = fires.iter().filter(|&&(_, delay)| delay == 0).count();
    // P(d + vr <= 0) = 2s / 6s.
    assert!(
        immediate > fires.len() / 5,
        "{immediate} of {} fired at once",
        fires.len()
    );
}

// Lifetime: dropping the receiving half ends the ticker task; a live ticker keeps it.
#[test]
fn dropping_the_ticks_ends_the_task() {
    for drop_ticks in [false, true] {
        let mut sim = Sim::new(9);
        sim.block_on(async move {
            let (ticks, stop) = RandTicker::new("dropped", SECOND, ms(10), &Fixes::faithful())
                .unwrap()
                .into_parts();
            let kept = (!drop_ticks).then_some(ticks);
            time::sleep(ms(3_500)).await;
            drop(stop);
            kept.map(|t| t.dropped())
        })
        .unwrap();
        assert_eq!(
            sim.report().live_tasks,
            usize::from(!drop_ticks),
            "drop_ticks={drop_ticks}"
        );
        let fires =
            sim.trace().count_kind("ticker.tick") + sim.trace().count_kind("ticker.dropped");
        assert_eq!(
            fires,
            if drop_ticks { 0 } else { 3 },
            "drop_ticks={drop_ticks}"
        );
    }
}

// Production: the same ticker runs on real tokio time, outside any simulation.
#[tokio::test]
async fn runs_on_real_tokio() {
    assert!(!task::in_simulation());
    let (d, v) = (ms(5), ms(1));
    let outcome = time::timeout(5 * SECOND, async {
        let mut ticker = RandTicker::new("real", d, v, &Fixes::faithful()).unwrap();
        let start = Instant::now();
        let mut previous = start;
        for _ in 0..3 {
            let tick = ticker.recv().await.unwrap();
            // A real timer can fire late, never early.
            assert!(tick - previous >= d - v, "gap {:?}", tick - previous);
            previous = tick;
        }
        ticker.stop();
        while ticker.recv().await.is_some() {}
        previous - start
    })
    .await;
    let elapsed = outcome.expect("three 5ms ticks and a stop within 5s");
    assert!(elapsed >= 3 * (d - v), "{elapsed:?}");
}
