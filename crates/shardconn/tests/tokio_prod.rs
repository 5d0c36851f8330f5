//! The same ShardConn on real tokio, outside any simulation: the facade falls back to tokio's
//! clock, tasks and an OS-seeded RNG. Durations are short and real; assertions leave room for a
//! busy machine.

mod common;

use std::sync::Arc;

use common::*;
use vtsim_runtime::task;
use vtsim_runtime::time::{self, Duration};
use vtsim_shardconn::{Fixes, TabletType};

#[tokio::test]
async fn a_shard_conn_runs_on_real_tokio() {
    assert!(!task::in_simulation());
    let w = Arc::new(World::new(&[1, 2]));
    // Tablet 1 is down: a dial that tries it first is refused and moves on to tablet 2.
    w.tablet(1).dial_default(Dial::Refuse(Duration::ZERO));
    w.tablet(2).dial_default(Dial::Ok(ms(20)));
    let sc = Arc::new(w.shard_conn(
        TabletType::Replica,
        config(|c| c.conn_life = ms(200)),
        Fixes::faithful(),
    ));

    // Ten concurrent callers share one connect.
    let start = time::now();
    let results = concurrent_queries(&sc, 10, None).await;
    assert!(results.iter().all(|(_, r)| r.is_ok()), "{results:?}");
    assert!(start.elapsed() >= ms(20));
    let dials = w.dials();
    assert!(
        dials.len() <= 2 && dials.last().unwrap().0 == 2,
        "{dials:?}"
    );
    assert_eq!(
        sc.connect_timings()
            .get("ks", "-80", "replica")
            .unwrap()
            .count,
        1
    );

    // A rotation comes within 3L/2 = 300ms of creation, and the next query dials again.
    time::sleep(ms(350)).await;
    sc.execute("select 1", false, None).await.unwrap();
    assert!(w.tablet(2).dials() >= 2, "{:?}", w.dials());
    assert!(
        sc.connect_timings()
            .get("ks", "-80", "replica")
            .unwrap()
            .count
            >= 2
    );

    // A deadline bounds a hung call in real time.
    w.tablet(2).reply_then(Reply::Hang);
    let err = sc
        .execute("select sleep(10)", false, Some(time::now() + ms(50)))
        .await
        .unwrap_err();
    assert_eq!(
        err.tablet_error(),
        Some(&vtsim_shardconn::TabletError::DeadlineExceeded)
    );
    sc.close().await;
}
