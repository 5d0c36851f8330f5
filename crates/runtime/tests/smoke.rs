use std::time::Duration;
use vtsim_runtime::{task, time, Sim};

#[test]
fn sleeps_and_spawns() {
    let mut sim = Sim::new(1);
    let out = sim
        .block_on(async {
            let h = task::spawn(async {
                time::sleep(Duration::from_millis(1500)).await;
                time::now()
            });
            time::sleep(Duration::from_nanos(1)).await;
            let t = h.await.unwrap();
            tracing::info!(kind = "x.done", at = %t, "done");
            t.as_nanos()
        })
        .unwrap();
    assert_eq!(out, 1_500_000_000);
    println!("{}", sim.trace().to_text());
    assert_eq!(sim.trace().count_kind("x.done"), 1);
}

#[vtsim_runtime::test(crate = vtsim_runtime, seeds = 4)]
async fn macro_works() {
    time::sleep(Duration::from_secs(1)).await;
    assert_eq!(time::now().as_nanos(), 1_000_000_000);
}
