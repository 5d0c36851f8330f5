use std::time::Duration;

use vtsim::timer::RandTicker;
use vtsim::{task, time, Fixes, Sim};

/// A small ticker loop, written once against the facade.
async fn count_ticks(period: Duration, n: usize) -> (usize, Duration) {
    let start = time::now();
    let mut ticker = RandTicker::new("production-demo", period, period / 4, &Fixes::default())
        .expect("valid ticker");
    let worker = task::spawn(async move {
        let mut seen = 0;
        while seen < n {
            ticker.recv().await.expect("ticking");
            seen += 1;
        }
        ticker.stop();
        seen
    });
    let seen = worker.await.expect("worker finished");
    (seen, start.elapsed())
}

#[test]
fn the_ticker_loop_runs_on_real_tokio() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let (seen, took) = rt.block_on(count_ticks(Duration::from_millis(4), 5));
    assert_eq!(seen, 5);
    // Five delays of at least 3ms each, in real time.
    assert!(took >= Duration::from_millis(15), "{took:?}");
    assert!(!task::in_simulation());
}

#[test]
fn the_same_loop_runs_in_virtual_time() {
    let mut sim = Sim::new(3);
    let (seen, took) = sim
        .block_on(count_ticks(Duration::from_secs(3600), 5))
        .unwrap();
    assert_eq!(seen, 5);
    // Five hours of virtual time, each delay in [45m, 75m).
    assert!(
        took >= Duration::from_secs(5 * 2700) && took < Duration::from_secs(5 * 4500),
        "{took:?}"
    );
    assert_eq!(sim.trace().count_kind("ticker.tick"), 5);
}
