//! Simulated tablets: latency per tablet, fault windows applied by arrival time, streams and
//! transactions.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use vtsim_runtime::time::{self, Instant};
use vtsim_runtime::{task, Sim};
use vtsim_scenario::{DurationRange, TabletConfig, TabletOutage, TabletOutageMode, Window};
use vtsim_shardconn::{EndPoint, ServerCode, TabletConn, TabletDialer, TabletError};
use vtsim_world::{Tablet, TabletStats, Tablets, TABLET_PORT};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn now() -> Duration {
    time::now().since_start()
}

async fn at(t: Duration) {
    time::sleep_until(Instant::from_nanos(t.as_nanos() as u64)).await;
}

fn deadline(after: Duration) -> Option<Instant> {
    Some(time::now() + after)
}

/// Tablet 1: dials take 5ms and queries 3ms, with one fault window [10s, 20s).
fn config(mode: TabletOutageMode) -> TabletConfig {
    TabletConfig {
        uid: 1,
        host: "tablet-1".into(),
        dial_latency: DurationRange::fixed(ms(5)),
        query_latency: DurationRange::fixed(ms(3)),
        send_latency: DurationRange::fixed(Duration::ZERO),
        outages: vec![TabletOutage {
            window: Window::new(ms(10_000), ms(20_000)),
            mode,
        }],
    }
}

const STREAM: DurationRange = DurationRange::fixed(Duration::from_secs(5));

/// Runs `body` with tablet 1 in a fresh simulation.
fn with_tablet<T: 'static, F: Future<Output = T> + 'static>(
    mode: TabletOutageMode,
    body: impl FnOnce(Tablet) -> F + 'static,
) -> T {
    Sim::new(1)
        .block_on(async move { body(Tablet::new(&config(mode), STREAM)).await })
        .unwrap()
}

/// Runs one call on `conn` at `t` in its own task; returns (result, when it ended).
fn call_at(
    conn: &Arc<dyn TabletConn>,
    t: Duration,
    wait: Duration,
) -> task::JoinHandle<(Result<(), TabletError>, Duration)> {
    let conn = conn.clone();
    task::spawn(async move {
        at(t).await;
        let result = conn.execute("q1", false, deadline(wait)).await.map(drop);
        (result, now())
    })
}

type Dialled = (Result<Arc<dyn TabletConn>, TabletError>, Duration);

fn dial_at(tablet: &Tablet, t: Duration) -> task::JoinHandle<Dialled> {
    let tablet = tablet.clone();
    task::spawn(async move {
        at(t).await;
        let result = tablet.dial().await;
        (result, now())
    })
}

fn is_operational(e: &TabletError) -> bool {
    matches!(e, TabletError::Operational(_))
}

#[test]
fn refuse_fails_dials_and_calls_at_once() {
    with_tablet(TabletOutageMode::Refuse, |tablet| async move {
        let conn = tablet.dial().await.unwrap();
        assert_eq!(now(), ms(5));
        // Opened before the window; a call made in it fails at once.
        let (refused, when) = call_at(&conn, ms(10_000), ms(1_000)).await.unwrap();
        assert_eq!(refused, Err(TabletError::refused()));
        assert_eq!(when, ms(10_000));
        let (dial, when) = dial_at(&tablet, ms(15_000)).await.unwrap();
        assert!(dial.is_err_and(|e| e == TabletError::refused()));
        assert_eq!(when, ms(15_000), "refused at once");
        // Back up after the window: the old connection works again.
        let (back, when) = call_at(&conn, ms(20_000), ms(1_000)).await.unwrap();
        assert_eq!(back, Ok(()));
        assert_eq!(when, ms(20_003));
        assert_eq!(tablet.stats().faulted, 2);
    });
}

#[test]
fn refuse_resets_a_call_in_flight_when_the_window_starts() {
    with_tablet(TabletOutageMode::Refuse, |tablet| async move {
        let conn = tablet.dial().await.unwrap();
        let (reset, when) = call_at(&conn, ms(9_999), ms(1_000)).await.unwrap();
        assert!(reset.as_ref().is_err_and(is_operational), "{reset:?}");
        assert_eq!(
            when,
            ms(10_000),
            "reset when the process died, not at the 3ms reply"
        );
        assert!(reset.unwrap_err().to_string().contains("connection reset"));
    });
}

#[test]
fn hang_never_answers_even_calls_already_in_flight() {
    with_tablet(TabletOutageMode::Hang, |tablet| async move {
        let conn = tablet.dial().await.unwrap();
        // In flight when the hang begins (it would have answered at 10.002s).
        let in_flight = call_at(&conn, ms(9_999), ms(60_000));
        // Arrives in the window; the window ends long before the deadline, but no answer comes.
        let inside = call_at(&conn, ms(19_000), ms(60_000));
        // After the window: served.
        let after = call_at(&conn, ms(20_000), ms(1_000));
        let hung_dial = task::spawn({
            let tablet = tablet.clone();
            async move {
                at(ms(12_000)).await;
                time::timeout(ms(600_000), tablet.dial()).await.is_err()
            }
        });
        assert_eq!(
            in_flight.await.unwrap(),
            (Err(TabletError::DeadlineExceeded), ms(69_999))
        );
        assert_eq!(
            inside.await.unwrap(),
            (Err(TabletError::DeadlineExceeded), ms(79_000))
        );
        assert_eq!(after.await.unwrap(), (Ok(()), ms(20_003)));
        assert!(
            hung_dial.await.unwrap(),
            "a dial in the window never completes"
        );
        assert_eq!(tablet.stats().faulted, 0, "a hang is silence, not an error");
    });
}

#[test]
fn slow_adds_the_extra_latency_to_dials_and_calls() {
    let slow = TabletOutageMode::Slow {
        extra_latency: DurationRange::fixed(ms(2_000)),
    };
    with_tablet(slow, |tablet| async move {
        let conn = tablet.dial().await.unwrap();
        let before = call_at(&conn, ms(9_999), ms(5_000));
        let slowed = call_at(&conn, ms(10_000), ms(5_000));
        let dial = dial_at(&tablet, ms(15_000));
        assert_eq!(
            before.await.unwrap(),
            (Ok(()), ms(10_002)),
            "arrived before the window"
        );
        assert_eq!(slowed.await.unwrap(), (Ok(()), ms(12_003)));
        let (dialled, when) = dial.await.unwrap();
        assert!(dialled.is_ok());
        assert_eq!(when, ms(17_005));
    });
}

#[test]
fn server_errors_come_after_a_successful_dial() {
    for (mode, code) in [
        (TabletOutageMode::RetryError, ServerCode::Retry),
        (TabletOutageMode::FatalError, ServerCode::Fatal),
        (TabletOutageMode::ServerError, ServerCode::Normal),
    ] {
        with_tablet(mode, move |tablet| async move {
            let (dial, when) = dial_at(&tablet, ms(10_000)).await.unwrap();
            let conn = dial.expect("the dial succeeds in an error window");
            assert_eq!(when, ms(10_005));
            let (result, when) = call_at(&conn, ms(11_000), ms(1_000)).await.unwrap();
            assert_eq!(result.unwrap_err().server_code(), Some(code));
            assert_eq!(when, ms(11_003), "the tablet answers with the code");
        });
    }
}

#[test]
fn a_fault_applies_by_the_time_the_request_reaches_the_tablet() {
    with_tablet(TabletOutageMode::RetryError, |tablet| async move {
        let conn = tablet.dial().await.unwrap();
        let edge = ms(10_000);
        let nanos = Duration::from_nanos;
        // The connection is older than the window: that does not matter, arrival does.
        let just_before = call_at(&conn, edge - nanos(1), ms(1_000));
        let at_start = call_at(&conn, edge, ms(1_000));
        let last = call_at(&conn, ms(20_000) - nanos(1), ms(1_000));
        let at_end = call_at(&conn, ms(20_000), ms(1_000));
        assert_eq!(
            just_before.await.unwrap().0,
            Ok(()),
            "finishes inside, arrived before"
        );
        assert!(at_start.await.unwrap().0.is_err());
        assert!(last.await.unwrap().0.is_err());
        assert_eq!(at_end.await.unwrap().0, Ok(()), "until is exclusive");
    });
}

#[test]
fn streams_run_their_duration_and_the_tablet_can_cut_them() {
    with_tablet(TabletOutageMode::Refuse, |tablet| async move {
        let conn = tablet.dial().await.unwrap();
        let mut rows = conn.stream_execute("q1", None).await.unwrap();
        assert_eq!(now(), ms(8), "started once the first chunk is ready");
        assert!(matches!(rows.next().await, Some(Ok(_))));
        assert_eq!(now(), ms(8));
        assert!(matches!(rows.next().await, Some(Ok(_))));
        assert_eq!(now(), ms(5_005), "the last chunk when it has run 5s");
        assert!(rows.next().await.is_none());
        assert_eq!(now(), ms(5_005));

        // A stream running when the tablet goes down is reset at that instant.
        at(ms(7_000)).await;
        let mut rows = conn.stream_execute("q2", None).await.unwrap();
        assert!(matches!(rows.next().await, Some(Ok(_))));
        let cut = rows.next().await;
        assert!(
            cut.as_ref()
                .is_some_and(|r| r.as_ref().is_err_and(is_operational)),
            "{cut:?}"
        );
        assert_eq!(now(), ms(10_000));
        assert!(rows.next().await.is_none());

        // Closing the connection cuts a stream too (GuardedConn's semantics).
        at(ms(30_000)).await;
        let mut rows = conn.stream_execute("q3", None).await.unwrap();
        let first = rows.next().await;
        assert!(matches!(first, Some(Ok(_))));
        conn.close().await;
        assert!(rows.next().await.is_some_and(|r| r.is_err()));
        assert_eq!(
            conn.execute("q4", false, None).await,
            Err(TabletError::ConnClosed)
        );
        assert_eq!(tablet.stats().streams, 3);
    });
}

#[test]
fn transactions_reach_the_tablet_like_other_calls() {
    with_tablet(TabletOutageMode::RetryError, |tablet| async move {
        let conn = tablet.dial().await.unwrap();
        let result = conn.execute("q1", true, None).await.unwrap();
        assert_eq!(result.rows_affected, 1);
        at(ms(10_000)).await;
        let err = conn.execute("q2", true, None).await.unwrap_err();
        assert_eq!(err.server_code(), Some(ServerCode::Retry));
        conn.execute("q3", false, None).await.unwrap_err();
        let stats = tablet.stats();
        assert_eq!((stats.dials, stats.executes, stats.transactions), (1, 3, 2));
    });
}

/// The times tablet `uid` takes for 50 calls in a row, in a world of `uids`.
fn latencies(uids: &[u32], uid: u32) -> Vec<Duration> {
    let configs: Vec<TabletConfig> = uids
        .iter()
        .map(|&u| TabletConfig {
            uid: u,
            host: format!("tablet-{u}"),
            dial_latency: DurationRange::new(ms(1), ms(3)),
            query_latency: DurationRange::new(ms(1), ms(50)),
            send_latency: DurationRange::fixed(Duration::ZERO),
            outages: Vec::new(),
        })
        .collect();
    Sim::new(9)
        .block_on(async move {
            let tablets = Tablets::new(&configs, STREAM);
            // Every other tablet is busy too, drawing from its own streams.
            for t in tablets.iter().filter(|t| t.endpoint().uid != uid) {
                let conn = t.dial().await.unwrap();
                for _ in 0..10 {
                    conn.execute("other", false, None).await.unwrap();
                }
            }
            let endpoint = EndPoint::new(uid, format!("tablet-{uid}"), TABLET_PORT);
            let conn = tablets.dial(&endpoint, ms(1_000)).await.unwrap();
            let mut out = Vec::new();
            for _ in 0..50 {
                let start = now();
                conn.execute("q", false, None).await.unwrap();
                out.push(now() - start);
            }
            out
        })
        .unwrap()
}

#[test]
fn latency_streams_are_per_tablet() {
    let alone = latencies(&[2], 2);
    assert!(alone.iter().all(|d| *d >= ms(1) && *d < ms(50)));
    assert!(alone.windows(2).any(|w| w[0] != w[1]), "drawn per call");
    assert_eq!(
        latencies(&[1, 2, 3], 2),
        alone,
        "other tablets do not reshuffle tablet 2"
    );
    assert_ne!(latencies(&[1, 2], 1), alone, "tablet 1 has its own stream");
}

#[test]
fn the_dialer_finds_tablets_by_uid_and_host() {
    let configs = [config(TabletOutageMode::Hang)];
    let (ok, wrong_host, unknown, stats) = Sim::new(1)
        .block_on(async move {
            let tablets = Tablets::new(&configs, STREAM);
            let ok = tablets
                .dial(&EndPoint::new(1, "tablet-1", TABLET_PORT), ms(1_000))
                .await
                .map(|c| c.endpoint().clone());
            let wrong_host = tablets
                .dial(&EndPoint::new(1, "elsewhere", TABLET_PORT), ms(1_000))
                .await
                .map(drop);
            let unknown = tablets
                .dial(&EndPoint::new(7, "tablet-7", TABLET_PORT), ms(1_000))
                .await
                .map(drop);
            let stats = tablets.get(1).unwrap().stats();
            (ok, wrong_host, unknown, stats)
        })
        .unwrap();
    assert_eq!(ok, Ok(EndPoint::new(1, "tablet-1", TABLET_PORT)));
    assert!(wrong_host.unwrap_err().to_string().contains("no such host"));
    assert!(unknown.is_err_and(|e| is_operational(&e)));
    assert_eq!((stats.dials, stats.executes, stats.faulted), (1, 0, 0));
    assert_ne!(stats, TabletStats::default());
}

/// Tablet 1 with a 100ms `send_latency` (queries 300ms, dials 5ms) and no fault.
fn sending_tablet() -> Tablet {
    let mut c = config(TabletOutageMode::Hang);
    c.outages.clear();
    c.query_latency = DurationRange::fixed(ms(300));
    c.send_latency = DurationRange::fixed(ms(100));
    Tablet::new(&c, STREAM)
}

#[test]
fn send_latency_delays_each_call_before_it_reaches_the_connection() {
    Sim::new(1)
        .block_on(async {
            let tablet = sending_tablet();
            let conn = tablet.dial().await.unwrap();
            assert_eq!(now(), ms(5), "the dial is not delayed");
            let (ok, when) = call_at(&conn, ms(1_000), ms(1_000)).await.unwrap();
            assert_eq!(ok, Ok(()));
            assert_eq!(when, ms(1_400), "100ms on the wire, then the 300ms query");
            // Close is not delayed.
            at(ms(2_000)).await;
            conn.close().await;
            assert_eq!(now(), ms(2_000));
        })
        .unwrap();
}

#[test]
fn a_call_on_the_wire_when_close_starts_stalls_and_fails_with_conn_closed() {
    // Spec 7.2: Q1 holds the read lock in [1.1s, 1.4s); Close starts at 1.2s and waits for it;
    // Q2, sent at 1.15s, reaches the lock at 1.25s, queues behind the waiting Close, and fails
    // with ConnClosed when Q1 ends and Close has run.
    Sim::new(1)
        .block_on(async {
            let tablet = sending_tablet();
            let conn = tablet.dial().await.unwrap();
            let q1 = call_at(&conn, ms(1_000), ms(5_000));
            let q2 = call_at(&conn, ms(1_150), ms(5_000));
            let closer = conn.clone();
            let close = task::spawn(async move {
                at(ms(1_200)).await;
                closer.close().await;
                now()
            });
            assert_eq!(q1.await.unwrap(), (Ok(()), ms(1_400)));
            assert_eq!(close.await.unwrap(), ms(1_400));
            assert_eq!(q2.await.unwrap(), (Err(TabletError::ConnClosed), ms(1_400)));
        })
        .unwrap();
}
