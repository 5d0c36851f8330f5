use std::time::Duration;

use vtsim::{rand, time};

#[vtsim::test(seeds = 32)]
async fn every_seed_gets_its_own_draws() {
    let mut r = rand::stream("seeds-demo");
    let d = r.duration_between(Duration::from_millis(1), Duration::from_millis(10));
    time::sleep(d).await;
    let now = time::now().since_start();
    assert!(
        now >= Duration::from_millis(1) && now < Duration::from_millis(10),
        "{now:?}"
    );
}

#[vtsim::test(seeds = 2)]
#[should_panic(
    expected = "cargo test -p vtsim --test integration -- seeds::the_replay_line_names_this_test --exact"
)]
async fn the_replay_line_names_this_test() {
    time::sleep(Duration::from_secs(1)).await;
    panic!("always fails, to show the replay line");
}
