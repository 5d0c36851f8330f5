//! Spec 4: the balancer, pinned to virtual times under fixed seeds.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::*;
use vtsim_runtime::task;
use vtsim_runtime::time::{self, Duration};
use vtsim_shardconn::{
    Balancer, ConnectError, Fixes, ShardConnConfig, TabletType, Target,
    DEFAULT_RESET_DOWN_CONN_DELAY,
};

fn balancer(topo: &Arc<FakeTopo>, retry: Duration, fixes: Fixes) -> Balancer {
    Balancer::new(
        Target::new("ks", "-80", TabletType::Replica),
        topo.clone(),
        retry,
        DEFAULT_RESET_DOWN_CONN_DELAY,
        fixes,
    )
}

fn uid_list(eps: &[vtsim_shardconn::EndPoint]) -> Vec<u32> {
    eps.iter().map(|e| e.uid).collect()
}

/// 4.1: the reset delay defaults to 10 minutes, in the balancer and the ShardConn config.
#[test]
fn reset_down_conn_delay_defaults_to_ten_minutes() {
    assert_eq!(DEFAULT_RESET_DOWN_CONN_DELAY, Duration::from_secs(600));
    assert_eq!(
        ShardConnConfig::default().reset_down_conn_delay,
        Duration::from_secs(600)
    );
}

/// 4.2: Get holds its lock across the topo fetch, so a MarkDown and a second Get wait for it.
#[test]
fn get_holds_its_lock_across_the_topo_fetch() {
    let topo = FakeTopo::new(&[1]);
    topo.set_delay(ms(100));
    let ((markdown_done, second_get_done), trace) = run(1, async move {
        let b = Arc::new(balancer(&topo, ms(2), Fixes::faithful()));
        let first = {
            let b = b.clone();
            task::spawn(async move { b.get().await.unwrap() })
        };
        time::sleep(ms(10)).await;
        let mark = {
            let b = b.clone();
            task::spawn(async move {
                b.mark_down(1, "test").await;
                t()
            })
        };
        let second = {
            let b = b.clone();
            task::spawn(async move {
                b.get().await.unwrap();
                t()
            })
        };
        assert_eq!(uid_list(&first.await.unwrap()), vec![1]);
        (mark.await.unwrap(), second.await.unwrap())
    });
    // The markdown waited for the first fetch (0..100ms), the second Get queued behind it.
    assert_eq!(markdown_done, ms(100));
    assert_eq!(second_get_done, ms(200));
    assert_eq!(times(&trace, "shardconn.markdown"), vec![ms(100)]);
}

/// 4.2: a markdown whose retry time is more than resetDelay in the past is cleared; at exactly
/// resetDelay it is kept.
#[test]
fn clears_markdowns_only_after_more_than_the_reset_delay() {
    let topo = FakeTopo::new(&[1, 2]);
    let (seen, _) = run(2, async move {
        let b = balancer(&topo, ms(2), Fixes::faithful());
        b.get().await.unwrap();
        b.mark_down(1, "test").await; // retry time 2ms
        let retry_at = time::Instant::from_nanos(2_000_000);
        time::sleep_until(retry_at + DEFAULT_RESET_DOWN_CONN_DELAY).await;
        b.get().await.unwrap();
        let at_limit = b.markdowns().await;
        time::sleep(Duration::from_nanos(1)).await;
        b.get().await.unwrap();
        let past_limit = b.markdowns().await;
        (at_limit, past_limit)
    });
    let marked =
        |m: &[(u32, Option<time::Instant>)]| m.iter().filter(|(_, at)| at.is_some()).count();
    assert_eq!(marked(&seen.0), 1);
    assert_eq!(
        seen.0.last().unwrap(),
        &(1, Some(time::Instant::from_nanos(2_000_000)))
    );
    assert_eq!(marked(&seen.1), 0);
}

/// 4.2: refresh adds new endpoints, keeps the markdown of existing ones, removes vanished ones; a
/// fetch error and an empty list are errors.
#[test]
fn refresh_adds_keeps_and_removes() {
    let topo = FakeTopo::new(&[1, 2]);
    let ((after, errors), _) = run(3, {
        let topo = topo.clone();
        async move {
            let b = balancer(&topo, SEC, Fixes::faithful());
            b.get().await.unwrap();
            b.mark_down(2, "test").await;
            topo.set(&[2, 3]);
            let got = b.get().await.unwrap();
            let after = (uid_list(&got), b.markdowns().await);
            topo.fail("boom");
            let e1 = b.get().await.unwrap_err();
            topo.set(&[]);
            let e2 = b.get().await.unwrap_err();
            (after, (e1, e2))
        }
    });
    // 1 vanished; 3 is new and usable; 2 is still marked down (until 1s), so not returned.
    assert_eq!(after.0, vec![3]);
    assert_eq!(
        after.1,
        vec![
            (3, None),
            (2, Some(time::Instant::from_nanos(1_000_000_000)))
        ]
    );
    assert_eq!(
        errors.0,
        ConnectError::Topo(vtsim_shardconn::TopoError::new("boom"))
    );
    assert_eq!(errors.0.to_string(), "endpoints fetch error: boom");
    assert!(!errors.0.is_timeout());
    assert_eq!(errors.1, ConnectError::NoAvailableAddresses);
    assert_eq!(errors.1.to_string(), "no available addresses");
    assert_eq!(topo.fetches(), 4);
}

/// 4.2: sorted by markdown time with never-marked first; only the never-marked prefix is shuffled;
/// an endpoint is returned once its retry time is strictly before now.
#[test]
fn sorts_by_markdown_and_shuffles_only_the_unmarked_prefix() {
    let mut prefixes = BTreeSet::new();
    for seed in 0..32 {
        let topo = FakeTopo::new(&[1, 2, 3, 4]);
        let (got, _) = run(seed, async move {
            let b = balancer(&topo, ms(10), Fixes::faithful());
            b.get().await.unwrap();
            b.mark_down(4, "test").await; // retry at 10ms
            time::sleep(MS).await;
            b.mark_down(3, "test").await; // retry at 11ms
            time::sleep_until(time::Instant::from_nanos(10_000_000)).await;
            let at_10ms = uid_list(&b.get().await.unwrap());
            time::sleep(Duration::from_nanos(1)).await;
            let after_10ms = uid_list(&b.get().await.unwrap());
            time::sleep(ms(5)).await;
            let after_11ms = uid_list(&b.get().await.unwrap());
            (at_10ms, after_10ms, after_11ms)
        });
        let (at_10ms, after_10ms, after_11ms) = got;
        // Strictly before: at exactly 10ms uid 4 is still down.
        assert_eq!(at_10ms.len(), 2, "seed {seed}: {at_10ms:?}");
        assert_eq!(after_10ms[2..], [4], "seed {seed}");
        assert_eq!(
            after_11ms[2..],
            [4, 3],
            "seed {seed}: marked ones keep markdown order"
        );
        let prefix: BTreeSet<u32> = after_11ms[..2].iter().copied().collect();
        assert_eq!(prefix, BTreeSet::from([1, 2]));
        prefixes.insert(at_10ms);
        prefixes.insert(after_10ms[..2].to_vec());
    }
    // The unmarked prefix comes in both orders across seeds.
    assert_eq!(prefixes, BTreeSet::from([vec![1, 2], vec![2, 1]]));
}

/// 4.2, 4.4: when every endpoint is down, Get returns an empty list at once, with no error.
#[test]
fn all_down_gives_an_empty_list_at_once() {
    let topo = FakeTopo::new(&[1, 2]);
    let (got, _) = run(4, async move {
        let b = balancer(&topo, SEC, Fixes::faithful());
        b.get().await.unwrap();
        b.mark_down(1, "test").await;
        b.mark_down(2, "test").await;
        let got = b.get().await;
        (got, t())
    });
    assert_eq!(got, (Ok(vec![]), Duration::ZERO));
}

/// 4.3: MarkDown sets now + retryDelay, ignores unknown uids, and marking again extends.
#[test]
fn mark_down_sets_extends_and_ignores_unknown() {
    let topo = FakeTopo::new(&[1]);
    let (seen, trace) = run(5, async move {
        let b = balancer(&topo, ms(10), Fixes::faithful());
        b.mark_down(1, "before any get").await; // not known yet: ignored
        let before = b.markdowns().await;
        b.get().await.unwrap();
        b.mark_down(99, "unknown").await;
        b.mark_down(1, "first").await;
        let first = b.markdowns().await;
        time::sleep(ms(7)).await;
        b.mark_down(1, "again").await;
        let again = b.markdowns().await;
        time::sleep(ms(5)).await; // 12ms: past the first retry time, not the extended one
        let at_12ms = uid_list(&b.get().await.unwrap());
        (before, first, again, at_12ms)
    });
    assert_eq!(seen.0, vec![]);
    assert_eq!(
        seen.1,
        vec![(1, Some(time::Instant::from_nanos(10_000_000)))]
    );
    assert_eq!(
        seen.2,
        vec![(1, Some(time::Instant::from_nanos(17_000_000)))]
    );
    assert_eq!(seen.3, Vec::<u32>::new());
    assert_eq!(
        times(&trace, "shardconn.markdown"),
        vec![Duration::ZERO, ms(7)]
    );
    let ev = trace.of_kind("shardconn.markdown").next().unwrap();
    assert_eq!(field_u64(ev, "uid"), 1);
    assert_eq!(field_str(ev, "reason"), "first");
    assert_eq!(field_u64(ev, "retry_at_ms"), 10);
}

/// 4.4 / 7.5 at the balancer: at exactly markdown + retryDelay the endpoint is still down;
/// `inclusive_markdown` makes it usable then.
#[test]
fn inclusive_markdown_fix_returns_the_endpoint_at_its_retry_time() {
    for (fixes, want) in [
        (Fixes::faithful(), Vec::<u32>::new()),
        (fixes(|f| f.inclusive_markdown = true), vec![1]),
    ] {
        let topo = FakeTopo::new(&[1]);
        let (got, _) = run(6, async move {
            let b = balancer(&topo, ms(2), fixes);
            b.get().await.unwrap();
            b.mark_down(1, "test").await;
            time::sleep(ms(2)).await;
            uid_list(&b.get().await.unwrap())
        });
        assert_eq!(got, want, "{fixes:?}");
    }
}

/// 4.4 / 7.6: after a markdown episode the recovered endpoints stay in markdown order, so every Get
/// for ten minutes puts the same endpoint first; `shuffle_recovered` shuffles them.
#[test]
fn recovered_endpoints_stay_unshuffled_unless_fixed() {
    for (fixes, want_many_firsts) in [
        (Fixes::faithful(), false),
        (fixes(|f| f.shuffle_recovered = true), true),
    ] {
        let topo = FakeTopo::new(&[1, 2, 3]);
        let (firsts, _) = run(7, async move {
            let b = balancer(&topo, ms(2), fixes);
            b.get().await.unwrap();
            for uid in [2, 3, 1] {
                b.mark_down(uid, "episode").await;
                time::sleep(MS).await;
            }
            let mut firsts = BTreeSet::new();
            // Sample for nine minutes, inside the reset delay.
            for _ in 0..54 {
                time::sleep(Duration::from_secs(10)).await;
                let got = uid_list(&b.get().await.unwrap());
                assert_eq!(got.len(), 3);
                if !fixes.shuffle_recovered {
                    assert_eq!(got, vec![2, 3, 1], "markdown order, unshuffled");
                }
                firsts.insert(got[0]);
            }
            firsts
        });
        assert_eq!(firsts.len() > 1, want_many_firsts, "{fixes:?}: {firsts:?}");
    }
}

/// 4.4: after the reset delay the markdowns are forgotten and the endpoints are shuffled again.
#[test]
fn recovered_endpoints_are_shuffled_again_after_the_reset_delay() {
    let topo = FakeTopo::new(&[1, 2, 3]);
    let (firsts, _) = run(8, async move {
        let b = balancer(&topo, ms(2), Fixes::faithful());
        b.get().await.unwrap();
        for uid in [2, 3, 1] {
            b.mark_down(uid, "episode").await;
            time::sleep(MS).await;
        }
        time::sleep(Duration::from_secs(601)).await;
        let mut firsts = BTreeSet::new();
        for _ in 0..30 {
            time::sleep(SEC).await;
            firsts.insert(b.get().await.unwrap()[0].uid);
        }
        firsts
    });
    assert_eq!(firsts, BTreeSet::from([1, 2, 3]));
}
