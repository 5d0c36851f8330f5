//! Whole scenarios: seeds per second, and how much faster than real time they run.

use std::path::Path;

use vtsim_scenario::Scenario;

pub(crate) fn run(path: &Path, seeds: u64) -> Result<(), String> {
    let scenario = Scenario::load(path).map_err(|e| e.to_string())?;
    let start = crate::storm::stopwatch();
    let mut events = 0usize;
    let mut failed = 0u64;
    for seed in 0..seeds {
        let run = vtsim_world::run_seed(&scenario, seed);
        events += run.trace.len();
        if !run.outcome.is_pass() {
            failed += 1;
            eprintln!("seed {seed}: {}", run.outcome);
        }
    }
    let wall = start.elapsed().as_secs_f64();
    let virtual_secs = scenario.duration.as_secs_f64() * seeds as f64;
    println!(
        "scenario={} seeds={seeds} failed={failed} wall_ms={:.1} ms_per_seed={:.2} seeds_per_sec={:.1} speedup_over_real_time={:.0}x events_per_seed={}",
        scenario.name,
        wall * 1e3,
        wall * 1e3 / seeds as f64,
        seeds as f64 / wall,
        virtual_secs / wall,
        events / seeds.max(1) as usize,
    );
    Ok(())
}
