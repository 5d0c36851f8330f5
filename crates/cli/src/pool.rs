//! Runs seeds on worker threads, one simulation per thread, and hands results back as they come.
//!
//! This is harness code: the OS threads sit outside every simulation, and each runs its own
//! `Sim` from start to end, so a seed's result never depends on the thread or on `--jobs`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use crate::seeds::SeedSet;

/// The worker threads of one command, kept for all its scenarios: a thread's first simulation
/// pays for its tracing dispatcher and allocator heap, and starting threads per scenario made
/// `--jobs 2` no faster than `--jobs 1` at 16 seeds a scenario.
#[derive(Debug)]
pub(crate) struct Pool {
    /// `None` runs everything on the calling thread: one job, or no threads to be had.
    threads: Option<rayon::ThreadPool>,
}

impl Pool {
    /// A pool of `jobs` threads; with `jobs <= 1`, none.
    pub(crate) fn new(jobs: usize) -> Pool {
        if jobs <= 1 {
            return Pool { threads: None };
        }
        match rayon::ThreadPoolBuilder::new()
            .num_threads(jobs)
            .thread_name(|i| format!("vtsim-job-{i}"))
            .build()
        {
            Ok(threads) => Pool {
                threads: Some(threads),
            },
            Err(e) => {
                // Slower, not wrong: every seed still runs, on this thread.
                crate::commands::note(&format!(
                    "vtsim: cannot start {jobs} worker threads ({e}); running seeds one at a time"
                ));
                Pool { threads: None }
            }
        }
    }

    /// Runs `work` on every seed of `seeds`, over the pool's threads.
    ///
    /// `found(index, result)` runs on the calling thread as each seed finishes, in completion
    /// order; `index` is the seed's position in `seeds`, so callers can restore seed order.
    pub(crate) fn for_each_seed<T, W, F>(&self, seeds: &SeedSet, work: W, mut found: F)
    where
        T: Send,
        W: Fn(u64) -> T + Sync,
        F: FnMut(u64, T),
    {
        let len = seeds.len();
        let threads = match &self.threads {
            Some(threads) if len > 1 => threads,
            _ => {
                for i in 0..len {
                    found(i, work(seeds.get(i)));
                }
                return;
            }
        };
        let jobs = threads.current_num_threads();
        let next = AtomicU64::new(0);
        // Bounded, so fast workers wait for a slow printer instead of piling results up.
        let (tx, rx) = mpsc::sync_channel::<(u64, T)>(jobs * 4);
        let workers = jobs.min(usize::try_from(len).unwrap_or(usize::MAX));
        // The closure runs here, on the calling thread, which collects while the workers run.
        threads.in_place_scope(|scope| {
            for _ in 0..workers {
                let tx = tx.clone();
                let (next, work) = (&next, &work);
                scope.spawn(move |_| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= len {
                        break;
                    }
                    if tx.send((i, work(seeds.get(i)))).is_err() {
                        break;
                    }
                });
            }
            drop(tx);
            for (i, result) in rx {
                found(i, result);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(seeds: &SeedSet, jobs: usize) -> Vec<(u64, u64)> {
        let mut got = Vec::new();
        Pool::new(jobs).for_each_seed(seeds, |seed| seed * 3, |i, r| got.push((i, r)));
        got.sort_unstable();
        got
    }

    #[test]
    fn every_seed_runs_once_whatever_the_jobs() {
        let seeds = SeedSet::Progression {
            first: 5,
            step: 2,
            len: 101,
        };
        let serial = collect(&seeds, 1);
        assert_eq!(serial.len(), 101);
        assert_eq!(serial[0], (0, 15));
        assert_eq!(serial[100], (100, (5 + 200) * 3));
        for jobs in [2, 3, 8, 200] {
            assert_eq!(collect(&seeds, jobs), serial, "jobs {jobs}");
        }
        assert!(collect(&SeedSet::List(vec![]), 4).is_empty());
        assert_eq!(collect(&SeedSet::List(vec![9]), 4), vec![(0, 27)]);
    }

    #[test]
    fn results_arrive_on_the_calling_thread_as_they_finish() {
        let caller = std::thread::current().id();
        let seeds = SeedSet::List(vec![1, 2, 3, 4]);
        let mut on_caller = 0;
        let pool = Pool::new(2);
        pool.for_each_seed(
            &seeds,
            |seed| (seed, std::thread::current().id()),
            |_, _| {
                on_caller += usize::from(std::thread::current().id() == caller);
            },
        );
        assert_eq!(on_caller, 4);
        let mut worker_threads = std::collections::BTreeSet::new();
        pool.for_each_seed(
            &seeds,
            |_| format!("{:?}", std::thread::current().id()),
            |_, t| {
                worker_threads.insert(t);
            },
        );
        assert!(!worker_threads.contains(&format!("{caller:?}")));
    }
}
