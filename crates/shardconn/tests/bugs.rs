//! Spec 7: the timing bugs, each reproduced with the faithful port and removed by its fix knob.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use common::*;
use vtsim_runtime::time::{self, Duration};
use vtsim_runtime::{task, Sim, SimError, Trace};
use vtsim_shardconn::{
    ConnectError, Fixes, ShardConnConfig, ShardConnError, TabletError, TabletType,
};

const LIFE: Duration = Duration::from_secs(10);

type Outcome = (Result<(), ShardConnError>, Duration);

/// 7.2: REPLICA, L = 10s. Q1 is in flight on C1 when rotation closes C1; Q2 got C1 just before (it
/// spends 1ms marshalling before the connection's lock). Faithfully Q2 stalls behind the waiting
/// close until Q1 ends, then fails with ConnClosed, not retried. `rotate_idle_only` retires C1
/// instead: Q2 runs at once, and C1 closes when Q1 ends.
#[test]
fn rotation_fails_a_query_that_got_the_connection_just_before() {
    let seed = 22;
    let tick = first_rotation(seed, LIFE);
    for fixes in [Fixes::faithful(), fixes(|f| f.rotate_idle_only = true)] {
        let w = Arc::new(World::new(&[1]));
        let tablet = w.tablet(1);
        *tablet.pre_call.lock().unwrap() = MS;
        tablet
            .reply_then(Reply::Ok(MS))
            .reply_then(Reply::Ok(Duration::from_secs(2)));
        let ((q1, q2, dangling), trace) = run(seed, {
            let w = w.clone();
            async move {
                let sc = Arc::new(w.shard_conn(
                    TabletType::Replica,
                    config(|c| c.conn_life = LIFE),
                    fixes,
                ));
                sc.execute("q0", false, None).await.unwrap();
                let spawn_query = |at: Duration, name: &'static str| {
                    let sc = sc.clone();
                    task::spawn(async move {
                        time::sleep_until(time::Instant::from_nanos(at.as_nanos() as u64)).await;
                        let r = sc.execute(name, false, None).await.map(drop);
                        (r, t())
                    })
                };
                let q1 = spawn_query(tick - SEC, "q1");
                let q2 = spawn_query(tick - Duration::from_micros(500), "q2");
                time::sleep_until(time::Instant::from_nanos((tick + MS).as_nanos() as u64)).await;
                let dangling = sc.dangling();
                let q1: Outcome = q1.await.unwrap();
                let q2: Outcome = q2.await.unwrap();
                time::sleep(MS).await;
                (q1, q2, (dangling, sc.dangling()))
            }
        });
        let q1_end = tick + SEC + MS;
        assert_eq!(q1, (Ok(()), q1_end), "{fixes:?}");
        assert_eq!(dangling, (1, 0), "{fixes:?}: C1 dangles until Q1 ends");
        let rotated = trace.of_kind("shardconn.rotated").next().unwrap();
        assert_eq!(rotated.time(), tick);
        assert_eq!(field_u64(rotated, "in_flight"), 2);
        assert_eq!(field_bool(rotated, "deferred"), fixes.rotate_idle_only);
        if fixes.rotate_idle_only {
            assert_eq!(q2, (Ok(()), tick + Duration::from_micros(1500)));
            assert_eq!(w.tablet(1).closes.load(Ordering::SeqCst), 1);
        } else {
            let (err, at) = q2;
            let err = err.unwrap_err();
            assert_eq!(at, q1_end, "Q2 stalled until Q1 ended");
            assert_eq!(err.tablet_error(), Some(&TabletError::ConnClosed));
            assert_eq!(
                err.to_string(),
                format!(
                    "shard, host: ks.-80.replica, {}, vttablet: Connection Closed",
                    ep(1)
                )
            );
            let failed = trace.of_kind("query.failed").next().unwrap();
            assert_eq!(
                (field_str(failed, "query"), field_u64(failed, "attempts")),
                ("q2", 1)
            );
            assert_eq!(trace.count_kind("query.retry"), 0);
            assert_eq!(
                trace.count_kind("shardconn.markdown"),
                0,
                "C1 was no longer current"
            );
        }
    }
}

/// 7.3: a stream running across a rotation tick is cut off at the tick. With `rotate_idle_only`
/// it runs to the end and its connection closes after it.
#[test]
fn rotation_cuts_a_running_stream() {
    let seed = 23;
    let tick = first_rotation(seed, LIFE);
    let start = tick - ms(950);
    for fixes in [Fixes::faithful(), fixes(|f| f.rotate_idle_only = true)] {
        let w = Arc::new(World::new(&[1]));
        w.tablet(1).stream(Stream::Chunks {
            count: 30,
            every: ms(100),
        });
        let ((chunks, end, error), trace) = run(seed, {
            let w = w.clone();
            async move {
                let sc = w.shard_conn(TabletType::Replica, config(|c| c.conn_life = LIFE), fixes);
                sc.execute("q0", false, None).await.unwrap();
                time::sleep_until(time::Instant::from_nanos(start.as_nanos() as u64)).await;
                let mut stream = sc.stream_execute("select * from big", None).await.unwrap();
                let (mut chunks, mut error) = (0, None);
                while let Some(item) = stream.next().await {
                    match item {
                        Ok(_) => chunks += 1,
                        Err(e) => error = Some(e),
                    }
                }
                (chunks, t(), error)
            }
        });
        if fixes.rotate_idle_only {
            assert_eq!((chunks, end), (30, start + Duration::from_secs(3)));
            assert!(error.is_none());
            let rotated = trace.of_kind("shardconn.rotated").next().unwrap();
            assert!(field_bool(rotated, "deferred"));
            assert_eq!(times(&trace, "query.ok")[1], start + Duration::from_secs(3));
        } else {
            assert_eq!((chunks, end), (9, tick), "cut at the tick");
            let err = error.unwrap();
            assert!(
                err.to_string()
                    .ends_with("grpc: the client connection is closing"),
                "{err}"
            );
            let failed = trace.of_kind("query.failed").next().unwrap();
            assert_eq!(
                (failed.time(), field_str(failed, "phase")),
                (tick, "stream")
            );
        }
    }
}

/// 7.4: three hanging endpoints, perConn 1.4s, total 3s, 50 concurrent queries with a 1s deadline.
/// When a query finished, and how.
type Finished = (Duration, Result<(), ShardConnError>);

fn consolidated_overshoot(fixes: Fixes) -> (Vec<Finished>, Trace) {
    let w = Arc::new(World::new(&[1, 2, 3]));
    for u in [1, 2, 3] {
        w.tablet(u).dial_default(Dial::Hang);
    }
    let (results, trace) = run(24, async move {
        let sc = Arc::new(w.shard_conn(
            TabletType::Replica,
            config(|c| c.conn_timeout_per_conn = ms(1400)),
            fixes,
        ));
        concurrent_queries(&sc, 50, Some(SEC)).await
    });
    (
        results
            .into_iter()
            .map(|(at, r)| (at, r.map(drop)))
            .collect(),
        trace,
    )
}

/// 7.4 faithful: every query waits until 4.2s, then all fail together, despite their 1s deadline.
#[test]
fn consolidated_connect_overshoots_and_fails_everyone_together() {
    let (results, trace) = consolidated_overshoot(Fixes::faithful());
    assert_eq!(results.len(), 50);
    for (at, r) in &results {
        assert_eq!(*at, ms(4200));
        assert!(r.as_ref().unwrap_err().is_timeout());
    }
    assert_eq!(
        times(&trace, "shardconn.dial"),
        vec![Duration::ZERO, ms(1400), ms(2800)]
    );
    assert_eq!(times(&trace, "shardconn.consolidated"), vec![ms(4200); 49]);
    assert_eq!(times(&trace, "query.failed"), vec![ms(4200); 50]);
}

/// 7.4 with `budget_before_dial`: the connect gives up at the 3s budget, still for everyone.
#[test]
fn budget_before_dial_ends_the_consolidated_connect_at_the_budget() {
    let (results, _) = consolidated_overshoot(fixes(|f| f.budget_before_dial = true));
    assert!(results.iter().all(|(at, r)| *at == ms(3000) && r.is_err()));
}

/// 7.4 with `budget_before_dial` and `consolidator_deadline`: the 49 waiters fail at their own 1s
/// deadline, and the dialling caller by 3s.
#[test]
fn both_fixes_fail_waiters_at_their_deadline_and_the_dialler_by_the_budget() {
    let (results, trace) = consolidated_overshoot(fixes(|f| {
        f.budget_before_dial = true;
        f.consolidator_deadline = true;
    }));
    let at_deadline: Vec<_> = results.iter().filter(|(at, _)| *at == SEC).collect();
    let at_budget: Vec<_> = results.iter().filter(|(at, _)| *at == ms(3000)).collect();
    assert_eq!((at_deadline.len(), at_budget.len()), (49, 1));
    for (_, r) in at_deadline {
        let err = r.as_ref().unwrap_err();
        assert_eq!(err.connect_error(), Some(&ConnectError::WaitDeadline));
        assert!(
            err.to_string()
                .ends_with("<nil>, context deadline exceeded"),
            "{err}"
        );
    }
    assert!(at_budget[0].1.as_ref().unwrap_err().is_timeout());
    assert!(trace
        .of_kind("shardconn.consolidated")
        .all(|e| !field_bool(e, "ok") && e.time() == SEC));
}

/// 7.5: a retry that lands at exactly markdown + retryDelay still sees the endpoint down, and the
/// query fails spuriously; `inclusive_markdown` lets it through.
#[test]
fn a_retry_at_the_markdown_boundary_fails_spuriously() {
    for fixes in [Fixes::faithful(), fixes(|f| f.inclusive_markdown = true)] {
        let w = Arc::new(World::new(&[1]));
        w.tablet(1).dial_then(Dial::Refuse(Duration::ZERO));
        let (r, _) = run(25, {
            let w = w.clone();
            async move {
                let sc = w.shard_conn(TabletType::Replica, config(|c| c.retry_count = 1), fixes);
                (sc.execute("select 1", false, None).await.map(drop), t())
            }
        });
        if fixes.inclusive_markdown {
            assert_eq!(r, (Ok(()), ms(3)));
            assert_eq!(w.dials(), vec![(1, Duration::ZERO), (1, ms(2))]);
        } else {
            let err = r.0.unwrap_err();
            assert_eq!(r.1, ms(2));
            assert_eq!(err.connect_error(), Some(&ConnectError::NoValidEndpoint));
            assert_eq!(w.dials(), vec![(1, Duration::ZERO)]);
        }
    }
}

/// 7.6: after a markdown episode, every new connection for the next ten minutes goes to one tablet;
/// `shuffle_recovered` spreads them again.
#[test]
fn after_a_markdown_episode_every_connection_goes_to_one_tablet() {
    for fixes in [Fixes::faithful(), fixes(|f| f.shuffle_recovered = true)] {
        let w = Arc::new(World::new(&[1, 2, 3]));
        for u in [1, 2, 3] {
            w.tablet(u).dial_then(Dial::Refuse(Duration::ZERO));
        }
        let (_, trace) = run(26, {
            let w = w.clone();
            async move {
                let sc = w.shard_conn(TabletType::Replica, config(|c| c.conn_life = LIFE), fixes);
                for _ in 0..540 {
                    sc.execute("select 1", false, None).await.unwrap();
                    time::sleep(SEC).await;
                }
            }
        });
        assert_eq!(trace.count_kind("shardconn.markdown"), 3, "the episode");
        let connected: BTreeSet<u64> = uids(&trace, "shardconn.connected").into_iter().collect();
        assert!(trace.count_kind("shardconn.connected") >= 30);
        if fixes.shuffle_recovered {
            assert_eq!(connected, BTreeSet::from([1, 2, 3]));
        } else {
            assert_eq!(connected.len(), 1, "{connected:?}");
        }
    }
}

/// 7.8: a second Close panics (Go's double `ticker.Stop`); with `ticker_stop` it is a no-op.
#[test]
fn a_second_close_panics_unless_fixed() {
    for fixes in [Fixes::faithful(), fixes(|f| f.ticker_stop = true)] {
        let w = World::new(&[1]);
        let mut sim = Sim::new(27);
        let r = sim.block_on(async move {
            let sc = w.shard_conn(TabletType::Replica, ShardConnConfig::default(), fixes);
            sc.execute("select 1", false, None).await.unwrap();
            sc.close().await;
            sc.close().await;
        });
        if fixes.ticker_stop {
            r.unwrap();
        } else {
            match r.unwrap_err() {
                SimError::Panic { message, .. } => {
                    assert!(message.contains("Stop called twice"), "{message}")
                }
                other => panic!("{other}"),
            }
        }
    }
}

/// 7.8: a tick that lands at the same instant as Close can still rotate after Close returned (here it
/// closes the connection a query made right after Close, which may fail that query) for some seeds;
/// never with `ticker_stop`.
#[test]
fn a_tick_at_the_instant_of_close_can_still_rotate_unless_fixed() {
    let mut late_rotations = 0;
    for seed in 0..64 {
        let tick = first_rotation(seed, LIFE);
        for fixes in [Fixes::faithful(), fixes(|f| f.ticker_stop = true)] {
            let w = Arc::new(World::new(&[1]));
            let (_, trace) = run(seed, {
                let w = w.clone();
                async move {
                    let sc =
                        w.shard_conn(TabletType::Replica, config(|c| c.conn_life = LIFE), fixes);
                    sc.execute("q0", false, None).await.unwrap();
                    time::sleep_until(time::Instant::from_nanos(tick.as_nanos() as u64)).await;
                    sc.close().await;
                    tracing::info!(kind = "test.closed", "Close returned");
                    // A late rotation may close this query's fresh connection under it.
                    let q1 = sc.execute("q1", false, None).await;
                    assert!(q1.is_ok() || !fixes.ticker_stop, "{q1:?}");
                    time::sleep(LIFE * 3).await;
                }
            });
            let closed = trace
                .events()
                .iter()
                .position(|e| e.kind() == Some("test.closed"))
                .unwrap();
            let late = trace.events()[closed..]
                .iter()
                .filter(|e| e.kind() == Some("shardconn.rotated"))
                .count();
            if fixes.ticker_stop {
                assert_eq!(late, 0, "seed {seed}: no tick after Stop returned");
            } else {
                late_rotations += late;
            }
        }
    }
    assert!(
        late_rotations > 0,
        "the faithful ticker delivered no late tick in 64 seeds"
    );
}

/// 1.4 through ShardConn: a conn_life under 2ns makes the rotation ticker's variance zero, which
/// crashed Go's vtgate (`Int63n(0)`); with `ticker_zero_variance` the ShardConn is built.
#[test]
fn a_conn_life_under_two_nanoseconds_crashes_unless_fixed() {
    for fixes in [Fixes::faithful(), fixes(|f| f.ticker_zero_variance = true)] {
        let w = World::new(&[1]);
        let mut sim = Sim::new(28);
        let r = sim.block_on(async move {
            let sc = w.shard_conn(
                TabletType::Replica,
                config(|c| c.conn_life = Duration::from_nanos(1)),
                fixes,
            );
            sc.close().await;
        });
        if fixes.ticker_zero_variance {
            r.unwrap();
        } else {
            match r.unwrap_err() {
                SimError::Panic { message, .. } => {
                    assert!(message.contains("rand.Int63n(0)"), "{message}")
                }
                other => panic!("{other}"),
            }
        }
    }
}
