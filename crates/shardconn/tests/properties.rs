//! Properties over many seeds, under seeded faults.

mod common;

use std::sync::Arc;

use common::*;
use vtsim_runtime::time::{self, Duration};
use vtsim_runtime::{check_determinism, task, Determinism, Trace};
use vtsim_shardconn::{Fixes, ShardConnConfig, TabletError, TabletType};

const SEEDS: u64 = 32;

/// Sequential queries against three chaotic tablets (refusals, hangs, RETRY, FATAL, resets).
fn chaos(seed: u64, fixes: Fixes) -> (Vec<(u64, u64, Duration)>, Trace) {
    let w = Arc::new(World::new(&[1, 2, 3]));
    for u in [1, 2, 3] {
        w.tablet(u)
            .dial_default(Dial::Chaos)
            .reply_default(Reply::Chaos);
    }
    run(seed, async move {
        let sc = w.shard_conn(
            TabletType::Replica,
            config(|c| c.conn_life = SEC * 5),
            fixes,
        );
        let mut per_query = Vec::new();
        for _ in 0..40 {
            let execs = || [1, 2, 3].iter().map(|&u| w.tablet(u).execs()).sum::<u64>();
            let (execs0, fetches0, start) = (execs(), w.topo.fetches(), t());
            let _ = sc
                .execute("select 1", false, Some(time::now() + ms(500)))
                .await;
            per_query.push((execs() - execs0, w.topo.fetches() - fetches0, t() - start));
            time::sleep(ms(100)).await;
        }
        per_query
    })
}

/// At most retry_count + 1 attempts per query, each with at most one tablet call and one topo
/// fetch; the attempts the trace reports match the retries it reports; and a query ends within
/// three worst-case connects.
#[test]
fn at_most_retry_count_plus_one_attempts() {
    let attempts_max = u64::from(ShardConnConfig::default().retry_count) + 1;
    for seed in 0..SEEDS {
        for fixes in [Fixes::faithful(), Fixes::all()] {
            let (per_query, trace) = chaos(seed, fixes);
            for (execs, fetches, elapsed) in &per_query {
                assert!(*execs <= attempts_max, "seed {seed}: {execs} tablet calls");
                assert!(
                    *fetches <= attempts_max,
                    "seed {seed}: {fetches} topo fetches"
                );
                // Per attempt: a connect of at most total + one per-conn overshoot, and a 500ms call.
                assert!(
                    *elapsed <= (ms(3000) + ms(1500) + ms(500)) * 3,
                    "seed {seed}: {elapsed:?}"
                );
            }
            let mut retries = 0;
            let mut ends = 0;
            for e in trace.events() {
                match e.kind() {
                    Some("query.retry") => retries += 1,
                    Some("query.ok" | "query.failed") => {
                        let attempts = field_u64(e, "attempts");
                        assert!(attempts <= attempts_max, "seed {seed}: {e}");
                        assert_eq!(attempts, retries + 1, "seed {seed}: {e}");
                        retries = 0;
                        ends += 1;
                    }
                    _ => {}
                }
            }
            assert_eq!(
                ends, 40,
                "seed {seed}: one query.ok or query.failed per query"
            );
        }
    }
}

/// Rotation delays fall in [L/2, 3L/2), the first one measured from ShardConn creation.
#[test]
fn rotation_delays_fall_within_half_to_three_halves_of_the_life() {
    let life = Duration::from_secs(10);
    for seed in 0..SEEDS {
        let w = Arc::new(World::new(&[1, 2]));
        let created = ms(1234);
        let (_, trace) = run(seed, {
            let w = w.clone();
            async move {
                time::sleep(created).await;
                let sc = w.shard_conn(
                    TabletType::Rdonly,
                    config(|c| c.conn_life = life),
                    Fixes::faithful(),
                );
                // A query every 100ms keeps a connection open at every tick.
                for _ in 0..2000 {
                    sc.execute("select 1", false, None).await.unwrap();
                    time::sleep(ms(100)).await;
                }
            }
        });
        let rotations = times(&trace, "shardconn.rotated");
        assert!(
            rotations.len() >= 13,
            "seed {seed}: {} rotations in 200s",
            rotations.len()
        );
        let mut previous = created;
        for at in rotations {
            let delay = at - previous;
            assert!(
                delay >= life / 2 && delay < life * 3 / 2,
                "seed {seed}: {delay:?}"
            );
            previous = at;
        }
        assert_eq!(
            trace.count_kind("shardconn.connected"),
            trace.count_kind("shardconn.rotated") + 1,
            "seed {seed}: every rotation leads to one new connection"
        );
    }
}

/// Concurrent long queries under frequent rotation: faithfully some fail with ConnClosed (7.2);
/// with `rotate_idle_only`, none ever fails, and every retired connection is closed in the end.
#[test]
fn rotate_idle_only_never_fails_a_query_under_rotation() {
    let mut faithful_failures = 0;
    for seed in 0..SEEDS {
        for fixes in [Fixes::faithful(), fixes(|f| f.rotate_idle_only = true)] {
            let w = Arc::new(World::new(&[1, 2, 3]));
            for u in [1, 2, 3] {
                *w.tablet(u).pre_call.lock().unwrap() = MS;
                w.tablet(u).reply_default(Reply::Ok(ms(150)));
            }
            let (failures, _) = run(seed, {
                let w = w.clone();
                async move {
                    let sc = Arc::new(w.shard_conn(
                        TabletType::Replica,
                        config(|c| c.conn_life = SEC),
                        fixes,
                    ));
                    let workers: Vec<_> = (0..8u64)
                        .map(|i| {
                            let sc = sc.clone();
                            task::spawn(async move {
                                time::sleep(ms(i * 37)).await;
                                let mut failures = Vec::new();
                                for _ in 0..100 {
                                    if let Err(e) = sc.execute("select 1", false, None).await {
                                        failures.push(e);
                                    }
                                    time::sleep(ms(13)).await;
                                }
                                failures
                            })
                        })
                        .collect();
                    let mut failures = Vec::new();
                    for h in workers {
                        failures.extend(h.await.unwrap());
                    }
                    time::sleep(SEC).await;
                    assert_eq!(sc.dangling(), 0, "every retired connection was closed");
                    failures
                }
            });
            if fixes.rotate_idle_only {
                assert!(failures.is_empty(), "seed {seed}: {:?}", failures.first());
            } else {
                assert!(failures
                    .iter()
                    .all(|e| e.tablet_error() == Some(&TabletError::ConnClosed)));
                faithful_failures += failures.len();
            }
        }
    }
    assert!(
        faithful_failures > 0,
        "rotation never hit a query in {SEEDS} seeds"
    );
}

/// The same seed replays the same trace, event for event.
#[test]
fn the_same_seed_replays_the_same_trace() {
    for seed in [1, 2, 3] {
        let verdict = check_determinism(seed, move || {
            let w = Arc::new(World::new(&[1, 2, 3]));
            for u in [1, 2, 3] {
                w.tablet(u)
                    .dial_default(Dial::Chaos)
                    .reply_default(Reply::Chaos);
            }
            async move {
                let sc = Arc::new(w.shard_conn(
                    TabletType::Replica,
                    config(|c| c.conn_life = SEC),
                    Fixes::faithful(),
                ));
                let _ = concurrent_queries(&sc, 20, Some(ms(300))).await;
                for _ in 0..20 {
                    let _ = sc
                        .execute("select 1", false, Some(time::now() + ms(300)))
                        .await;
                    time::sleep(ms(50)).await;
                }
            }
        });
        assert!(
            matches!(verdict, Determinism::Deterministic { .. }),
            "seed {seed}: {verdict:?}"
        );
    }
}
