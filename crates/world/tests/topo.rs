//! The simulated topo server: endpoint lists that change at given times, error windows, latency.

use std::time::Duration;

use vtsim_runtime::time::{self, Instant};
use vtsim_runtime::Sim;
use vtsim_scenario::{DurationRange, EndpointChange, TabletConfig, TopoConfig, Window};
use vtsim_shardconn::{TabletType, Topo};
use vtsim_world::{TopoServer, TABLET_PORT};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn tablet(uid: u32) -> TabletConfig {
    TabletConfig {
        uid,
        host: format!("tablet-{uid}"),
        dial_latency: DurationRange::fixed(ms(1)),
        query_latency: DurationRange::fixed(ms(1)),
        send_latency: DurationRange::fixed(Duration::ZERO),
        outages: Vec::new(),
    }
}

fn server() -> TopoServer {
    let config = TopoConfig {
        latency: DurationRange::fixed(ms(2)),
        errors: vec![Window::new(ms(10_000), ms(20_000))],
        changes: vec![
            EndpointChange {
                at: ms(30_000),
                endpoints: vec![3, 2],
            },
            EndpointChange {
                at: ms(60_000),
                endpoints: vec![],
            },
        ],
    };
    TopoServer::new(
        "ks",
        "-80",
        TabletType::Replica,
        &config,
        &[tablet(1), tablet(2), tablet(3)],
    )
}

/// Fetches at each time (in its own task, so they overlap freely); returns
/// (uids or error text, when the answer came).
fn fetch_at(times: &[Duration]) -> Vec<(Result<Vec<u32>, String>, Duration)> {
    let times = times.to_vec();
    Sim::new(1)
        .block_on(async move {
            let topo = std::sync::Arc::new(server());
            let mut tasks = Vec::new();
            for t in times {
                let topo = topo.clone();
                tasks.push(vtsim_runtime::task::spawn(async move {
                    time::sleep_until(Instant::from_nanos(t.as_nanos() as u64)).await;
                    let got = topo
                        .endpoints("ks", "-80", TabletType::Replica)
                        .await
                        .map(|eps| {
                            assert!(eps.iter().all(|e| e.port == TABLET_PORT));
                            eps.iter().map(|e| e.uid).collect()
                        })
                        .map_err(|e| e.to_string());
                    (got, time::now().since_start())
                }));
            }
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.unwrap());
            }
            out
        })
        .unwrap()
}

#[test]
fn endpoint_lists_change_at_their_time() {
    let just_before = ms(30_000) - Duration::from_nanos(1);
    let got = fetch_at(&[ms(0), just_before, ms(30_000), ms(59_999), ms(60_000)]);
    assert_eq!(
        got[0],
        (Ok(vec![1, 2, 3]), ms(2)),
        "every tablet, in file order"
    );
    assert_eq!(got[1].0, Ok(vec![1, 2, 3]), "decided when the fetch starts");
    assert_eq!(got[1].1, just_before + ms(2));
    assert_eq!(got[2], (Ok(vec![3, 2]), ms(30_002)), "the change's order");
    assert_eq!(got[3].0, Ok(vec![3, 2]));
    assert_eq!(
        got[4],
        (Ok(vec![]), ms(60_002)),
        "an empty list is no error"
    );
}

#[test]
fn fetches_started_in_an_error_window_fail() {
    let got = fetch_at(&[ms(9_999), ms(10_000), ms(19_999), ms(20_000)]);
    assert_eq!(
        got[0],
        (Ok(vec![1, 2, 3]), ms(10_001)),
        "started before the window"
    );
    let unavailable = Err("zk: could not connect to a server".to_owned());
    assert_eq!(
        got[1],
        (unavailable.clone(), ms(10_002)),
        "fails after its latency"
    );
    assert_eq!(got[2].0, unavailable);
    assert_eq!(got[3].0, Ok(vec![1, 2, 3]), "until is exclusive");
}

#[test]
fn another_target_is_a_missing_node() {
    let err = Sim::new(1)
        .block_on(async {
            let topo = server();
            topo.endpoints("ks", "80-", TabletType::Replica)
                .await
                .unwrap_err()
        })
        .unwrap();
    assert_eq!(
        err.to_string(),
        "node doesn't exist: /keyspaces/ks/shards/80-/replica"
    );
}
