//! Spec 5 (Consolidator) and spec 6 (ConnectTimings).

mod common;

use std::sync::Arc;

use common::*;
use vtsim_runtime::time::{self, Duration};
use vtsim_runtime::{task, Sim, SimError};
use vtsim_shardconn::{ConnectTimings, Consolidator, BUCKET_CUTOFFS};

/// 5: the first Create creates, later ones join; Broadcast wakes every waiter with the value and
/// removes the key, so the next Create starts afresh.
#[test]
fn create_joins_broadcast_wakes_and_removes() {
    let (got, _) = run(1, async {
        let co: Arc<Consolidator<u32>> = Arc::new(Consolidator::new());
        let (first, created) = co.create("ks.-80.replica");
        assert!(created);
        let mut waiters = Vec::new();
        for _ in 0..3 {
            let (share, created) = co.create("ks.-80.replica");
            assert!(!created);
            waiters.push(task::spawn(async move { (share.wait().await, t()) }));
        }
        let (other, created) = co.create("ks.80-.replica");
        assert!(created, "keys are independent");
        time::sleep(ms(100)).await;
        first.broadcast(7);
        assert!(!co.is_pending("ks.-80.replica"));
        assert!(co.is_pending("ks.80-.replica"));
        let mut woke = Vec::new();
        for w in waiters {
            woke.push(w.await.unwrap());
        }
        let (fresh, created) = co.create("ks.-80.replica");
        assert!(created, "a Create after Broadcast starts fresh");
        fresh.broadcast(8);
        other.broadcast(9);
        woke
    });
    assert_eq!(got, vec![(7, ms(100)); 3]);
}

/// 5: Wait has no deadline. A creator that never broadcasts leaves its waiter hanging forever,
/// which the simulation reports as a deadlock.
#[test]
fn a_waiter_hangs_forever_when_the_creator_never_broadcasts() {
    let mut sim = Sim::new(2);
    let err = sim
        .block_on(async {
            let co: Consolidator<u32> = Consolidator::new();
            let (_creator, _) = co.create("k");
            let (share, _) = co.create("k");
            share.wait().await
        })
        .unwrap_err();
    assert!(matches!(err, SimError::Deadlock { .. }), "{err}");
}

/// The `consolidator_deadline` fix: a waiter gives up at exactly its own deadline.
#[test]
fn wait_until_gives_up_at_the_deadline() {
    let (got, _) = run(3, async {
        let co: Consolidator<u32> = Consolidator::new();
        let (creator, _) = co.create("k");
        let (share, _) = co.create("k");
        let gave_up = (share.wait_until(time::now() + SEC).await, t());
        creator.broadcast(1);
        let (late, _) = co.create("k");
        (gave_up, late.wait_until(time::now() + SEC).await.is_none())
    });
    assert_eq!(got.0, (None, SEC));
    assert!(got.1, "the fresh entry has not been broadcast");
}

/// 6: a histogram per label tuple, with count, total and Go's bucket cutoffs.
#[test]
fn connect_timings_count_total_and_buckets() {
    let timings = ConnectTimings::new();
    let shared = timings.clone();
    timings.record(["ks", "-80", "replica"], ms(10));
    shared.record(["ks", "-80", "replica"], Duration::from_micros(500));
    timings.record(["ks", "-80", "replica"], Duration::from_secs(11));
    timings.record(["ks", "80-", "rdonly"], ms(1));
    let h = timings.get("ks", "-80", "replica").unwrap();
    assert_eq!(h.count, 3);
    assert_eq!(
        h.total,
        ms(10) + Duration::from_micros(500) + Duration::from_secs(11)
    );
    // 500us is in the first bucket (<= cutoff), 10ms in the fourth, 11s past the last cutoff.
    let mut want = [0u64; BUCKET_CUTOFFS.len() + 1];
    want[0] = 1;
    want[3] = 1;
    want[BUCKET_CUTOFFS.len()] = 1;
    assert_eq!(h.buckets, want);
    assert_eq!(timings.get("ks", "80-", "rdonly").unwrap().count, 1);
    assert_eq!(timings.get("ks", "80-", "replica"), None);
    let keys: Vec<[String; 3]> = timings.snapshot().into_keys().collect();
    assert_eq!(
        keys,
        vec![
            ["ks", "-80", "replica"].map(String::from),
            ["ks", "80-", "rdonly"].map(String::from)
        ]
    );
    assert_eq!(timings.total_count(), 4);
}
