//! Spec 3: ShardConn, pinned to exact virtual times and counts under fixed seeds.

mod common;

use std::sync::Arc;

use common::*;
use vtsim_runtime::task;
use vtsim_runtime::time::{self, Duration};
use vtsim_shardconn::{
    ConnectError, EndPoint, Fixes, ServerCode, ShardConnConfig, TabletError, TabletType,
};

fn retry_err() -> TabletError {
    TabletError::server(ServerCode::Retry, "retry: err")
}

/// 3: vtgate's flag defaults.
#[test]
fn defaults_are_vtgates_flags() {
    let c = ShardConnConfig::default();
    assert_eq!(c.retry_delay, ms(2));
    assert_eq!(c.retry_count, 2);
    assert_eq!(c.conn_timeout_total, Duration::from_secs(3));
    assert_eq!(c.conn_timeout_per_conn, ms(1500));
    assert_eq!(c.conn_life, Duration::from_secs(365 * 24 * 3600));
}

/// Go's `%+v` of a proto3 EndPoint: zero fields left out, trailing space kept.
#[test]
fn endpoints_display_as_proto_text() {
    assert_eq!(
        ep(1).to_string(),
        "uid:1 host:\"h1\" port_map:<key:\"vt\" value:15001 > "
    );
    assert_eq!(
        EndPoint::new(0, "-20", 1).to_string(),
        "host:\"-20\" port_map:<key:\"vt\" value:1 > "
    );
}

/// 3.4, 3.5, 6: one dial, then the connection is reused; the connect time is recorded under
/// `[keyspace, shard, lower(type)]`.
#[test]
fn reuses_the_connection_and_records_the_connect_timing() {
    let w = Arc::new(World::new(&[1]));
    w.tablet(1).dial_default(Dial::Ok(ms(10)));
    let (done, trace) = run(1, {
        let w = w.clone();
        async move {
            let sc = w.replica();
            let mut done = Vec::new();
            for _ in 0..5 {
                let rows = sc.execute("select 1", false, None).await.unwrap();
                assert_eq!(rows.rows, vec![vec!["1".to_string()]]);
                done.push(t());
            }
            assert_eq!(sc.current_endpoint().await, Some(ep(1)));
            let h = sc.connect_timings().get("ks", "-80", "replica").unwrap();
            (done, h.count, h.total)
        }
    });
    assert_eq!(done.0, vec![ms(11), ms(12), ms(13), ms(14), ms(15)]);
    assert_eq!((done.1, done.2), (1, ms(10)));
    assert_eq!(w.dials(), vec![(1, Duration::ZERO)]);
    assert_eq!(times(&trace, "shardconn.dial"), vec![Duration::ZERO]);
    assert_eq!(times(&trace, "shardconn.connected"), vec![ms(10)]);
    assert_eq!(trace.count_kind("query.ok"), 5);
    let first = trace.of_kind("query.ok").next().unwrap();
    assert_eq!(
        (field_u64(first, "attempts"), field_u64(first, "elapsed_ms")),
        (1, 11)
    );
}

/// 3.4: concurrent callers join the first caller's dial.
#[test]
fn concurrent_callers_share_one_dial() {
    let w = Arc::new(World::new(&[1]));
    w.tablet(1).dial_default(Dial::Ok(ms(100)));
    let (results, trace) = run(2, {
        let w = w.clone();
        async move {
            let sc = Arc::new(w.replica());
            concurrent_queries(&sc, 10, None).await
        }
    });
    assert!(results.iter().all(|(at, r)| *at == ms(101) && r.is_ok()));
    assert_eq!(w.tablet(1).dials(), 1);
    assert_eq!(times(&trace, "shardconn.consolidated"), vec![ms(100); 9]);
    for e in trace.of_kind("shardconn.consolidated") {
        assert_eq!(field_u64(e, "waited_ms"), 100);
        assert!(field_bool(e, "ok"));
    }
}

/// 3.4, 3.5: waiters ignore their own deadline and inherit the creator's timeout, which ends
/// `withRetry` at once; the dial ignores the caller's deadline too.
#[test]
fn waiters_ignore_their_deadline_and_share_the_timeout() {
    let w = Arc::new(World::new(&[1]));
    w.tablet(1).dial_default(Dial::Hang);
    let (results, trace) = run(3, {
        let w = w.clone();
        async move {
            let sc = Arc::new(w.replica());
            concurrent_queries(&sc, 10, Some(SEC)).await
        }
    });
    let want =
        "shard, host: ks.-80.replica, <nil>, vttablet: dial timed out after 3s uid:1 host:\"h1\" \
                port_map:<key:\"vt\" value:15001 > \ntimeout when connecting to uid:1 host:\"h1\" \
                port_map:<key:\"vt\" value:15001 > ";
    for (at, r) in &results {
        let err = r.as_ref().unwrap_err();
        assert_eq!(*at, Duration::from_secs(3));
        assert!(err.is_timeout());
        assert_eq!(err.to_string(), want);
    }
    assert_eq!(w.tablet(1).dials(), 1);
    let dial = trace.of_kind("shardconn.dial").next().unwrap();
    assert_eq!(
        field_u64(dial, "timeout_ms"),
        3000,
        "one endpoint: the whole budget"
    );
    let failed: Vec<_> = trace.of_kind("query.failed").collect();
    assert_eq!(failed.len(), 10);
    assert!(failed
        .iter()
        .all(|e| field_u64(e, "attempts") == 1 && field_bool(e, "timeout")));
    assert_eq!(trace.count_kind("query.retry"), 0);
}

/// 3.4, 3.6, 4.4: a non-timeout failure is shared too, and every caller sleeps retry_delay and
/// tries again; the retry at exactly markdown + retry_delay finds no valid endpoint.
#[test]
fn waiters_share_a_non_timeout_failure_and_retry_after_the_delay() {
    let w = Arc::new(World::new(&[1]));
    w.tablet(1).dial_default(Dial::Refuse(MS));
    let (results, trace) = run(4, {
        let w = w.clone();
        async move {
            let sc = Arc::new(w.replica());
            concurrent_queries(&sc, 5, None).await
        }
    });
    // Attempt 1 dials at 0 (refused at 1ms, retry time 3ms); attempt 2 at 3ms finds none; attempt
    // 3 at 5ms dials again and is refused at 6ms.
    assert_eq!(w.dials(), vec![(1, Duration::ZERO), (1, ms(5))]);
    let want =
        "shard, host: ks.-80.replica, <nil>, vttablet: connection refused uid:1 host:\"h1\" \
                port_map:<key:\"vt\" value:15001 > ";
    for (at, r) in &results {
        assert_eq!(*at, ms(6));
        assert_eq!(r.as_ref().unwrap_err().to_string(), want);
    }
    let retries: Vec<_> = trace.of_kind("query.retry").collect();
    assert_eq!(retries.len(), 10);
    assert!(retries
        .iter()
        .all(|e| field_str(e, "phase") == "connect" && field_u64(e, "sleep_ms") == 2));
    assert_eq!(
        retries
            .iter()
            .filter(|e| field_str(e, "error") == "no valid endpoint")
            .count(),
        5,
        "the second attempt of each query"
    );
    assert!(trace
        .of_kind("query.failed")
        .all(|e| field_u64(e, "attempts") == 3));
}

/// 3.5: a balancer error is returned as is, is not a timeout, and is retried after retry_delay.
#[test]
fn balancer_errors_are_returned_as_is_and_retried() {
    let w = Arc::new(World::new(&[1]));
    w.topo.fail("boom");
    let (r, trace) = run(5, {
        let w = w.clone();
        async move {
            let sc = w.replica();
            let r = sc.execute("select 1", false, None).await;
            (r, t())
        }
    });
    let err = r.0.unwrap_err();
    assert_eq!(r.1, ms(4));
    assert_eq!(
        err.to_string(),
        "shard, host: ks.-80.replica, <nil>, endpoints fetch error: boom"
    );
    assert!(!err.is_timeout());
    assert_eq!(w.topo.fetches(), 3);
    assert_eq!(times(&trace, "query.retry"), vec![Duration::ZERO, ms(2)]);
}

/// 3.5: `Get` taking the whole budget is "timeout when getting endpoints", a timeout; just under
/// the budget the dial goes ahead.
#[test]
fn a_balancer_call_that_uses_the_budget_is_a_timeout() {
    for (delay, want_timeout) in [(Duration::from_secs(3), true), (ms(2999), false)] {
        let w = Arc::new(World::new(&[1]));
        w.topo.set_delay(delay);
        let (r, _) = run(6, {
            let w = w.clone();
            async move {
                let sc = w.replica();
                (sc.execute("select 1", false, None).await, t())
            }
        });
        if want_timeout {
            let err = r.0.unwrap_err();
            assert_eq!(
                err.connect_error(),
                Some(&ConnectError::TimeoutGettingEndpoints)
            );
            assert!(err.is_timeout());
            assert_eq!(r.1, Duration::from_secs(3));
            assert_eq!(w.tablet(1).dials(), 0);
            assert_eq!(w.topo.fetches(), 1, "a timeout is not retried");
        } else {
            r.0.unwrap();
            assert_eq!(r.1, ms(3000), "2.999s topo + 1ms query");
        }
    }
}

/// 3.5: the per-connection timeout is the total budget with one endpoint, else min(perConn, total).
#[test]
fn per_conn_timeout_is_the_budget_for_one_endpoint_else_the_minimum() {
    let cases: [(&[u32], Duration, Vec<u64>, Duration); 3] = [
        (&[1], ms(1500), vec![3000], Duration::from_secs(3)),
        (&[1, 2], ms(1500), vec![1500, 1500], Duration::from_secs(3)),
        (
            &[1, 2],
            Duration::from_secs(5),
            vec![3000],
            Duration::from_secs(3),
        ),
    ];
    for (uids, per_conn, want_timeouts, want_end) in cases {
        let w = Arc::new(World::new(uids));
        for &u in uids {
            w.tablet(u).dial_default(Dial::Hang);
        }
        let (r, trace) = run(7, {
            let w = w.clone();
            async move {
                let sc = w.shard_conn(
                    TabletType::Replica,
                    config(|c| c.conn_timeout_per_conn = per_conn),
                    Fixes::faithful(),
                );
                (sc.execute("select 1", false, None).await, t())
            }
        });
        let got: Vec<u64> = trace
            .of_kind("shardconn.dial")
            .map(|e| field_u64(e, "timeout_ms"))
            .collect();
        assert_eq!(got, want_timeouts, "{uids:?} per_conn {per_conn:?}");
        assert!(r.0.unwrap_err().is_timeout());
        assert_eq!(r.1, want_end);
        assert!(trace
            .of_kind("shardconn.dial_failed")
            .all(|e| field_bool(e, "timeout")));
    }
}

/// 3.5: endpoints are dialled in the balancer's order, each failure is marked down at once, and
/// when all fail within the budget the collected errors (joined by ";") are not a timeout.
#[test]
fn dials_in_order_marks_each_failure_down_and_collects_the_errors() {
    let w = Arc::new(World::new(&[1, 2, 3]));
    for u in [1, 2, 3] {
        w.tablet(u).dial_default(Dial::Refuse(MS));
    }
    let (r, trace) = run(8, {
        let w = w.clone();
        async move {
            let sc = w.shard_conn(
                TabletType::Replica,
                config(|c| c.retry_count = 0),
                Fixes::faithful(),
            );
            sc.execute("select 1", false, None).await
        }
    });
    let err = r.unwrap_err();
    let dialled: Vec<u32> = w.dials().iter().map(|d| d.0).collect();
    assert_eq!(
        w.dials().iter().map(|d| d.1).collect::<Vec<_>>(),
        vec![Duration::ZERO, MS, ms(2)]
    );
    assert_eq!(
        uids(&trace, "shardconn.markdown"),
        dialled.iter().map(|&u| u64::from(u)).collect::<Vec<_>>()
    );
    assert_eq!(times(&trace, "shardconn.markdown"), vec![MS, ms(2), ms(3)]);
    let Some(ConnectError::AllFailed(failures)) = err.connect_error() else {
        panic!("{err:?}")
    };
    assert_eq!(
        failures.iter().map(|f| f.endpoint.uid).collect::<Vec<_>>(),
        dialled
    );
    assert!(!err.is_timeout());
    let want: Vec<String> = dialled
        .iter()
        .map(|&u| format!("vttablet: connection refused {}", ep(u)))
        .collect();
    assert_eq!(
        err.to_string(),
        format!("shard, host: ks.-80.replica, <nil>, {}", want.join(";"))
    );
}

/// 3.5: the dial ignores the caller's deadline; the query then fails on its expired deadline,
/// without markdown, and the new connection stays.
#[test]
fn the_dial_ignores_the_callers_deadline() {
    let w = Arc::new(World::new(&[1]));
    w.tablet(1).dial_default(Dial::Ok(SEC));
    let (r, trace) = run(9, {
        let w = w.clone();
        async move {
            let sc = w.replica();
            let r = sc
                .execute("select 1", false, Some(time::now() + ms(100)))
                .await;
            (r, t(), sc.current_endpoint().await)
        }
    });
    assert_eq!(
        r.0.unwrap_err().tablet_error(),
        Some(&TabletError::DeadlineExceeded)
    );
    assert_eq!(r.1, SEC);
    assert_eq!(r.2, Some(ep(1)));
    assert_eq!(times(&trace, "shardconn.connected"), vec![SEC]);
    assert_eq!(trace.count_kind("shardconn.markdown"), 0);
    assert_eq!(
        w.tablet(1).execs(),
        0,
        "an expired deadline never reaches the tablet"
    );
}

/// 3.5 bug: the total budget is checked only after a failed dial. perConn 1.4s, total 3s, three
/// hanging endpoints: the third dial starts at 2.8s and the query gives up at 4.2s.
/// `budget_before_dial` caps the third dial to the 0.2s left.
#[test]
fn the_total_budget_is_overshot_by_one_dial_unless_fixed() {
    for (fixes, want_end, want_timeouts) in [
        (Fixes::faithful(), ms(4200), vec![1400, 1400, 1400]),
        (
            fixes(|f| f.budget_before_dial = true),
            ms(3000),
            vec![1400, 1400, 200],
        ),
    ] {
        let w = Arc::new(World::new(&[1, 2, 3]));
        for u in [1, 2, 3] {
            w.tablet(u).dial_default(Dial::Hang);
        }
        let (r, trace) = run(10, {
            let w = w.clone();
            async move {
                let sc = w.shard_conn(
                    TabletType::Replica,
                    config(|c| c.conn_timeout_per_conn = ms(1400)),
                    fixes,
                );
                (sc.execute("select 1", false, None).await, t())
            }
        });
        assert!(r.0.unwrap_err().is_timeout());
        assert_eq!(r.1, want_end, "{fixes:?}");
        assert_eq!(
            times(&trace, "shardconn.dial"),
            vec![Duration::ZERO, ms(1400), ms(2800)]
        );
        let got: Vec<u64> = trace
            .of_kind("shardconn.dial")
            .map(|e| field_u64(e, "timeout_ms"))
            .collect();
        assert_eq!(got, want_timeouts);
        assert_eq!(trace.count_kind("shardconn.markdown"), 3);
    }
}

/// 3.6, 3.7: a server RETRY marks the tablet down and retries at once (no sleep) on a fresh
/// dial; a failed connect sleeps retry_delay; at most retry_count + 1 attempts.
#[test]
fn retry_errors_retry_at_once_and_connect_failures_after_the_delay() {
    let w = Arc::new(World::new(&[1, 2]));
    for u in [1, 2] {
        w.tablet(u).reply_then(Reply::Fail(MS, retry_err()));
    }
    let (r, trace) = run(11, {
        let w = w.clone();
        async move {
            let three = w.replica();
            let failed = (three.execute("select 1", false, None).await, t());
            three.close().await;
            (failed, t())
        }
    });
    // Attempts: 0 on the first tablet (RETRY at 1ms), 1ms on the other (RETRY at 2ms), 2ms: both
    // marked down, "no valid endpoint", and that was the last of 3 attempts.
    let (failed, _) = r;
    let err = failed.0.unwrap_err();
    assert_eq!(failed.1, ms(2));
    assert_eq!(err.connect_error(), Some(&ConnectError::NoValidEndpoint));
    assert_eq!(
        w.dials().iter().map(|d| d.1).collect::<Vec<_>>(),
        vec![Duration::ZERO, MS]
    );
    assert_eq!(times(&trace, "shardconn.markdown"), vec![MS, ms(2)]);
    let retries: Vec<_> = trace.of_kind("query.retry").collect();
    assert_eq!(retries.len(), 2);
    assert!(retries
        .iter()
        .all(|e| field_str(e, "phase") == "tablet" && field_u64(e, "sleep_ms") == 0));
    assert_eq!(
        field_u64(trace.of_kind("query.failed").next().unwrap(), "attempts"),
        3
    );

    // With retry_count 3 the fourth attempt, after a 2ms sleep, lands at 4ms on the tablet marked
    // first (retry time 3ms) and succeeds.
    let w = Arc::new(World::new(&[1, 2]));
    for u in [1, 2] {
        w.tablet(u).reply_then(Reply::Fail(MS, retry_err()));
    }
    let (ok, trace) = run(11, {
        let w = w.clone();
        async move {
            let sc = w.shard_conn(
                TabletType::Replica,
                config(|c| c.retry_count = 3),
                Fixes::faithful(),
            );
            (sc.execute("select 1", false, None).await, t())
        }
    });
    let rows = ok.0.unwrap();
    assert_eq!(ok.1, ms(5));
    let dials = w.dials();
    assert_eq!(
        dials.iter().map(|d| d.1).collect::<Vec<_>>(),
        vec![Duration::ZERO, MS, ms(4)]
    );
    assert_eq!(
        dials[2].0, dials[0].0,
        "the endpoint marked first recovers first"
    );
    assert_eq!(rows.rows[0][0], dials[0].0.to_string());
    assert_eq!(
        field_u64(trace.of_kind("query.ok").next().unwrap(), "attempts"),
        4
    );
}

/// 3.7: RETRY inside a transaction marks down but is not retried; the error keeps the endpoint,
/// the code and the transaction flag, and displays as Vitess did.
#[test]
fn retry_in_a_transaction_marks_down_without_retrying() {
    let w = Arc::new(World::new(&[1]));
    w.tablet(1).reply_then(Reply::Fail(MS, retry_err()));
    let (r, trace) = run(12, {
        let w = w.clone();
        async move {
            let sc = w.replica();
            let r = sc.execute("update t set a = 1", true, None).await;
            (r, t(), sc.current_endpoint().await)
        }
    });
    let err = r.0.unwrap_err();
    assert_eq!(r.1, MS);
    assert_eq!(err.code(), ServerCode::Retry);
    assert!(err.in_transaction);
    assert_eq!(err.endpoint, Some(ep(1)));
    assert_eq!(
        err.to_string(),
        "shard, host: ks.-80.replica, uid:1 host:\"h1\" port_map:<key:\"vt\" value:15001 > , retry: err"
    );
    assert_eq!(r.2, None, "markDown closed and cleared the connection");
    assert_eq!(uids(&trace, "shardconn.markdown"), vec![1]);
    assert_eq!(w.tablet(1).execs(), 1);
}

/// 3.7: FATAL is retried like RETRY for unary calls, but a stream start that fails FATAL is
/// neither retried nor marked down.
#[test]
fn fatal_is_retried_for_unary_calls_but_not_for_streams() {
    let fatal = TabletError::server(ServerCode::Fatal, "fatal: err");
    let w = Arc::new(World::new(&[1, 2]));
    for u in [1, 2] {
        w.tablet(u).reply_then(Reply::Fail(MS, fatal.clone()));
    }
    let (_, trace) = run(13, {
        let w = w.clone();
        async move {
            w.replica()
                .execute("select 1", false, None)
                .await
                .unwrap_err()
        }
    });
    assert_eq!(trace.count_kind("shardconn.markdown"), 2);
    assert_eq!(trace.count_kind("query.retry"), 2);

    let w = Arc::new(World::new(&[1]));
    w.tablet(1).stream(Stream::Fail(fatal.clone()));
    let (r, trace) = run(13, {
        let w = w.clone();
        async move {
            let sc = w.replica();
            let r = sc.stream_execute("select * from t", None).await;
            (r.map(|_| ()).unwrap_err(), sc.current_endpoint().await)
        }
    });
    assert_eq!(r.0.code(), ServerCode::Fatal);
    assert_eq!(r.1, Some(ep(1)), "no markdown: the connection stays");
    assert_eq!(trace.count_kind("shardconn.markdown"), 0);
    assert_eq!(trace.count_kind("query.retry"), 0);
}

/// 3.7: other server codes are not retried and keep the connection.
#[test]
fn other_server_codes_are_final_and_keep_the_connection() {
    for code in [
        ServerCode::Normal,
        ServerCode::TxPoolFull,
        ServerCode::NotInTx,
    ] {
        let w = Arc::new(World::new(&[1]));
        w.tablet(1)
            .reply_then(Reply::Fail(MS, TabletError::server(code, "error: err")));
        let (r, trace) = run(14, {
            let w = w.clone();
            async move {
                let sc = w.replica();
                let err = sc.execute("select 1", false, None).await.unwrap_err();
                sc.execute("select 1", false, None).await.unwrap();
                (err, t())
            }
        });
        assert_eq!(r.0.code(), code);
        assert_eq!(r.1, ms(2));
        assert_eq!(w.tablet(1).dials(), 1, "{code:?}: the connection was kept");
        assert_eq!(trace.count_kind("shardconn.markdown"), 0);
        assert_eq!(trace.count_kind("query.retry"), 0);
    }
}

/// 3.7: an operational error marks down, closes and clears the connection, and is not retried.
#[test]
fn operational_errors_mark_down_close_and_are_final() {
    let w = Arc::new(World::new(&[1]));
    w.tablet(1).reply_then(Reply::Fail(
        MS,
        TabletError::operational("vttablet: connection reset"),
    ));
    let (r, trace) = run(15, {
        let w = w.clone();
        async move {
            let sc = w.replica();
            let err = sc.execute("select 1", false, None).await.unwrap_err();
            let after = (sc.current_endpoint().await, t());
            time::sleep(ms(10)).await; // past the 2ms markdown
            sc.execute("select 1", false, None).await.unwrap();
            (err, after)
        }
    });
    assert_eq!(
        r.0.to_string(),
        format!(
            "shard, host: ks.-80.replica, {}, vttablet: connection reset",
            ep(1)
        )
    );
    assert_eq!(r.1, (None, MS));
    assert_eq!(
        w.tablet(1).closes.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    assert_eq!(w.tablet(1).dials(), 2, "the next query dialled again");
    assert_eq!(times(&trace, "shardconn.markdown"), vec![MS]);
    assert_eq!(trace.count_kind("query.retry"), 0);
}

/// 3.7: once the caller's context is done, nothing is retried or marked down.
#[test]
fn a_done_context_stops_retries_without_markdown() {
    let w = Arc::new(World::new(&[1]));
    w.tablet(1).reply_then(Reply::Hang);
    let (r, trace) = run(16, {
        let w = w.clone();
        async move {
            let sc = w.replica();
            let r = sc
                .execute("select sleep(10)", false, Some(time::now() + ms(100)))
                .await;
            (r, t(), sc.current_endpoint().await)
        }
    });
    assert_eq!(
        r.0.unwrap_err().tablet_error(),
        Some(&TabletError::DeadlineExceeded)
    );
    assert_eq!(r.1, ms(100));
    assert_eq!(r.2, Some(ep(1)));
    assert_eq!(trace.count_kind("shardconn.markdown"), 0);
    assert_eq!(trace.count_kind("query.retry"), 0);
}

/// 3.7: `markDown(conn)` acts only while the failing connection is the current one. Two queries fail
/// with RETRY on the same connection: only the first marks down; both retry on one new dial.
#[test]
fn mark_down_acts_only_on_the_current_connection() {
    let w = Arc::new(World::new(&[1, 2]));
    w.topo.set(&[1]);
    w.tablet(1).reply_then(Reply::Fail(MS, retry_err()));
    w.tablet(1).reply_then(Reply::Fail(MS, retry_err()));
    let (results, trace) = run(17, {
        let w = w.clone();
        async move {
            let sc = Arc::new(w.replica());
            let queries = {
                let sc = sc.clone();
                task::spawn(async move { concurrent_queries(&sc, 2, None).await })
            };
            time::sleep(Duration::from_micros(500)).await;
            w.topo.set(&[1, 2]);
            queries.await.unwrap()
        }
    });
    for (at, r) in &results {
        assert_eq!(*at, ms(2));
        assert_eq!(r.as_ref().unwrap().rows[0][0], "2");
    }
    assert_eq!(uids(&trace, "shardconn.markdown"), vec![1]);
    assert_eq!(w.dials(), vec![(1, Duration::ZERO), (2, MS)]);
}

/// 3.2, 3.3: Close stops the ticker and closes the connection in the background: the close waits
/// for the call in flight, counts as dangling until done, marks nothing down, and is no rotation.
#[test]
fn close_closes_in_the_background_and_counts_dangling() {
    let w = Arc::new(World::new(&[1]));
    w.tablet(1).reply_then(Reply::Ok(SEC));
    let (seen, trace) = run(18, {
        let w = w.clone();
        async move {
            let sc = Arc::new(w.shard_conn(
                TabletType::Replica,
                config(|c| c.conn_life = Duration::from_secs(10)),
                Fixes::faithful(),
            ));
            let q1 = {
                let sc = sc.clone();
                task::spawn(async move { (sc.execute("select 1", false, None).await.is_ok(), t()) })
            };
            time::sleep(ms(500)).await;
            sc.close().await;
            let at_close = (t(), sc.dangling(), sc.current_endpoint().await);
            time::sleep(ms(100)).await;
            let q2 = sc.execute("select 1", false, None).await.is_ok();
            let q1 = q1.await.unwrap();
            // The background close runs once q1 lets go of the read lock; whether it runs before
            // this task resumes is up to the scheduler, so give it the instant.
            time::sleep(Duration::from_nanos(1)).await;
            let after_q1 = sc.dangling();
            time::sleep(Duration::from_secs(60)).await; // well past several rotation lifetimes
            (at_close, q1, q2, after_q1)
        }
    });
    assert_eq!(seen.0, (ms(500), 1, None));
    assert_eq!(seen.1, (true, SEC), "the call in flight completes");
    assert!(seen.2, "after Close the ShardConn dials again, as Go's did");
    assert_eq!(seen.3, 0);
    assert_eq!(w.dials(), vec![(1, Duration::ZERO), (1, ms(600))]);
    assert_eq!(trace.count_kind("shardconn.markdown"), 0);
    assert_eq!(
        trace.count_kind("shardconn.rotated"),
        0,
        "Close is not a rotation, and stops the ticker"
    );
}

/// 3.1: rotation is timed from ShardConn creation, not from the connection: a connection made 100ms
/// before the first tick is closed at that tick.
#[test]
fn rotation_is_timed_from_creation_not_from_the_connection() {
    let life = Duration::from_secs(10);
    let tick = first_rotation(19, life);
    assert!(tick >= life / 2 && tick < life * 3 / 2, "{tick:?}");
    let w = Arc::new(World::new(&[1]));
    let (_, trace) = run(19, {
        let w = w.clone();
        async move {
            let sc = w.shard_conn(
                TabletType::Replica,
                config(|c| c.conn_life = life),
                Fixes::faithful(),
            );
            time::sleep(tick - ms(100)).await;
            sc.execute("select 1", false, None).await.unwrap();
            time::sleep(ms(200)).await;
            sc.execute("select 1", false, None).await.unwrap();
        }
    });
    // The second connect follows the 1ms first query and the 200ms sleep.
    assert_eq!(
        times(&trace, "shardconn.connected"),
        vec![tick - ms(100), tick + ms(101)]
    );
    assert_eq!(times(&trace, "shardconn.rotated"), vec![tick]);
    let rotated = trace.of_kind("shardconn.rotated").next().unwrap();
    assert_eq!(
        (field_u64(rotated, "uid"), field_bool(rotated, "deferred")),
        (1, false)
    );
    assert_eq!(
        trace.count_kind("shardconn.markdown"),
        0,
        "rotation marks nothing down"
    );
}

/// 3.1: masters have no rotation ticker, so they never rotate and can be closed twice.
#[test]
fn masters_never_rotate() {
    let w = Arc::new(World::new(&[1]));
    let (_, trace) = run(20, {
        let w = w.clone();
        async move {
            let sc = w.shard_conn(
                TabletType::Master,
                config(|c| c.conn_life = Duration::from_secs(10)),
                Fixes::faithful(),
            );
            for _ in 0..100 {
                sc.execute("select 1", false, None).await.unwrap();
                time::sleep(SEC).await;
            }
            sc.close().await;
            sc.close().await;
        }
    });
    assert_eq!(trace.count_kind("shardconn.rotated"), 0);
    assert_eq!(trace.count_kind("shardconn.dial"), 1);
}

/// Streams: chunks arrive as the tablet sends them, and the query is reported when the stream ends
/// (or is dropped early).
#[test]
fn streams_deliver_chunks_and_report_at_the_end() {
    let w = Arc::new(World::new(&[1]));
    w.tablet(1).stream(Stream::Chunks {
        count: 3,
        every: ms(10),
    });
    let (got, trace) = run(21, {
        let w = w.clone();
        async move {
            let sc = w.replica();
            let mut stream = sc.stream_execute("select * from t", None).await.unwrap();
            assert_eq!(stream.endpoint(), &ep(1));
            let mut got = Vec::new();
            while let Some(chunk) = stream.next().await {
                got.push((chunk.unwrap().rows[0][1].clone(), t()));
            }
            assert!(stream.next().await.is_none());
            let early = sc.stream_execute("select * from t", None).await.unwrap();
            drop(early);
            got
        }
    });
    let want: Vec<(String, Duration)> = (0..3).map(|i| (i.to_string(), ms(10 * (i + 1)))).collect();
    assert_eq!(got, want);
    let oks: Vec<bool> = trace
        .of_kind("query.ok")
        .map(|e| field_bool(e, "complete"))
        .collect();
    assert_eq!(oks, vec![true, false]);
    assert_eq!(times(&trace, "query.ok")[0], ms(30));
}
