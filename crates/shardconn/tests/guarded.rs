//! Spec 3.8: the close semantics of Vitess's gRPC tablet connection, as GuardedConn gives them.

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use common::*;
use vtsim_runtime::task;
use vtsim_runtime::time::{self, Duration};
use vtsim_shardconn::{TabletConn, TabletDialer, TabletError};

async fn connect(w: &World) -> Arc<dyn TabletConn> {
    w.dialer.dial(&ep(1), SEC).await.unwrap()
}

/// Close waits for a unary call in flight; a call arriving while Close waits queues behind it and
/// fails with ConnClosed when the close is done; a call after Close fails at once.
#[test]
fn close_waits_for_calls_in_flight_and_fails_the_ones_behind_it() {
    let w = Arc::new(World::new(&[1]));
    w.tablet(1).reply_then(Reply::Ok(SEC));
    let (seen, _) = run(1, {
        let w = w.clone();
        async move {
            let conn = connect(&w).await;
            let in_flight = {
                let conn = conn.clone();
                task::spawn(async move { (conn.execute("q1", false, None).await.is_ok(), t()) })
            };
            time::sleep(ms(100)).await;
            let closer = {
                let conn = conn.clone();
                task::spawn(async move {
                    conn.close().await;
                    t()
                })
            };
            time::sleep(ms(100)).await;
            // Queues behind the waiting close, and its deadline does not bound the lock wait.
            let behind = conn.execute("q2", false, Some(time::now() + ms(300))).await;
            let behind = (behind, t());
            let after = (conn.execute("q3", false, None).await, t());
            (
                in_flight.await.unwrap(),
                closer.await.unwrap(),
                behind,
                after,
            )
        }
    });
    assert_eq!(seen.0, (true, SEC));
    assert_eq!(seen.1, SEC, "close waited for the call in flight");
    assert_eq!(seen.2, (Err(TabletError::ConnClosed), SEC));
    assert_eq!(seen.3, (Err(TabletError::ConnClosed), SEC));
    assert_eq!(
        seen.2 .0.as_ref().unwrap_err().to_string(),
        "vttablet: Connection Closed"
    );
    assert_eq!(w.tablet(1).execs(), 1, "q2 and q3 never reached the tablet");
    assert_eq!(w.tablet(1).closes.load(Ordering::SeqCst), 1);
}

/// A stream holds the lock only while it starts: close does not wait for it, and cuts it.
#[test]
fn close_cuts_running_streams() {
    let w = Arc::new(World::new(&[1]));
    w.tablet(1).stream(Stream::Chunks {
        count: 10,
        every: ms(100),
    });
    let (seen, _) = run(2, {
        let w = w.clone();
        async move {
            let conn = connect(&w).await;
            let mut rows = conn.stream_execute("select * from t", None).await.unwrap();
            let closer = {
                let conn = conn.clone();
                task::spawn(async move {
                    time::sleep(ms(250)).await;
                    conn.close().await;
                    t()
                })
            };
            let mut got = Vec::new();
            while let Some(item) = rows.next().await {
                got.push((item.map(|c| c.rows[0][1].clone()), t()));
            }
            (got, closer.await.unwrap())
        }
    });
    let cut = TabletError::operational(
        "vttablet: rpc error: code = 1 desc = grpc: the client connection is closing",
    );
    assert_eq!(
        seen.0,
        vec![
            (Ok("0".to_string()), ms(100)),
            (Ok("1".to_string()), ms(200)),
            (Err(cut), ms(250)),
        ]
    );
    assert_eq!(seen.1, ms(250), "close did not wait for the stream");
}

/// The caller's deadline bounds the call itself.
#[test]
fn the_deadline_bounds_the_call() {
    let w = Arc::new(World::new(&[1]));
    w.tablet(1).reply_then(Reply::Hang);
    let (seen, _) = run(3, {
        let w = w.clone();
        async move {
            let conn = connect(&w).await;
            let hung = conn.execute("q", false, Some(time::now() + ms(100))).await;
            let expired = conn.execute("q", false, Some(time::now())).await;
            (hung, expired, t())
        }
    });
    assert_eq!(
        seen,
        (
            Err(TabletError::DeadlineExceeded),
            Err(TabletError::DeadlineExceeded),
            ms(100)
        )
    );
    assert_eq!(
        w.tablet(1).execs(),
        1,
        "an expired deadline never reaches the tablet"
    );
}

/// Closing twice closes the transport once.
#[test]
fn closing_twice_is_a_no_op() {
    let w = Arc::new(World::new(&[1]));
    let (_, _) = run(4, {
        let w = w.clone();
        async move {
            let conn = connect(&w).await;
            conn.close().await;
            conn.close().await;
            assert_eq!(
                conn.execute("q", false, None).await,
                Err(TabletError::ConnClosed)
            );
            assert_eq!(t(), Duration::ZERO);
        }
    });
    assert_eq!(w.tablet(1).closes.load(Ordering::SeqCst), 1);
}
