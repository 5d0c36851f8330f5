//! Micro-benchmarks of the runtime's building blocks: spawning, sleeping, the timer queue, and
//! the cost of recording one trace event.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use vtsim_runtime::rand::Rng;
use vtsim_runtime::{task, time, Scheduler, Sim};

fn spawn(c: &mut Criterion) {
    let mut g = c.benchmark_group("spawn");
    g.throughput(Throughput::Elements(1000));
    g.bench_function("spawn_and_join_1000", |b| {
        b.iter_batched(
            || Sim::builder(1).scheduler(Scheduler::Fifo).build(),
            |mut sim| {
                sim.block_on(async {
                    let hs: Vec<_> = (0..1000u64)
                        .map(|i| task::spawn(async move { i }))
                        .collect();
                    let mut s = 0;
                    for h in hs {
                        s += h.await.unwrap();
                    }
                    s
                })
                .unwrap()
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn sleep(c: &mut Criterion) {
    let mut g = c.benchmark_group("sleep");
    g.throughput(Throughput::Elements(10_000));
    g.bench_function("sequential_10000", |b| {
        b.iter_batched(
            || Sim::new(1),
            |mut sim| {
                sim.block_on(async {
                    for _ in 0..10_000 {
                        time::sleep(Duration::from_micros(7)).await;
                    }
                })
                .unwrap()
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

/// The timer queue under load: 10,000 timers armed at random deadlines, then all fired.
fn timer_queue(c: &mut Criterion) {
    let mut g = c.benchmark_group("timer_queue");
    g.throughput(Throughput::Elements(10_000));
    for (name, cancel) in [("arm_fire_10000", false), ("arm_cancel_10000", true)] {
        g.bench_function(name, |b| {
            b.iter_batched(
                || Sim::builder(1).scheduler(Scheduler::Fifo).build(),
                |mut sim| {
                    sim.block_on(async move {
                        let mut rng = Rng::derive(1, "bench/timers");
                        let hs: Vec<_> = (0..10_000)
                            .map(|_| {
                                let d =
                                    rng.duration_between(Duration::ZERO, Duration::from_secs(10));
                                task::spawn(async move {
                                    if cancel {
                                        let _ = time::timeout(d, std::future::ready(())).await;
                                    } else {
                                        time::sleep(d).await;
                                    }
                                })
                            })
                            .collect();
                        for h in hs {
                            h.await.unwrap();
                        }
                    })
                    .unwrap()
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

/// What one recorded trace event costs: the same loop with and without an event per step.
fn trace_event(c: &mut Criterion) {
    let mut g = c.benchmark_group("trace");
    g.throughput(Throughput::Elements(10_000));
    for record in [false, true] {
        g.bench_function(
            if record {
                "yield_with_event_10000"
            } else {
                "yield_only_10000"
            },
            |b| {
                b.iter_batched(
                    || Sim::new(1),
                    |mut sim| {
                        sim.block_on(async move {
                            for i in 0..10_000u64 {
                                if record {
                                    tracing::debug!(kind = "query.ok", uid = 3u64, query = i, "ok");
                                }
                                task::yield_now().await;
                            }
                        })
                        .unwrap()
                    },
                    BatchSize::SmallInput,
                )
            },
        );
    }
    g.finish();
}

criterion_group!(benches, spawn, sleep, timer_queue, trace_event);
criterion_main!(benches);
