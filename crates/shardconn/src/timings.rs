//! Connect timings: Go's `stats.MultiTimings` keyed by `[keyspace, shard, tablet_type]` (spec 6).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use vtsim_runtime::time::Duration;

/// The upper bounds of the histogram buckets, as Go's `stats.Timings` had them; a last bucket holds
/// everything above 10s.
pub const BUCKET_CUTOFFS: [Duration; 10] = [
    Duration::from_micros(500),
    Duration::from_millis(1),
    Duration::from_millis(5),
    Duration::from_millis(10),
    Duration::from_millis(50),
    Duration::from_millis(100),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(5),
    Duration::from_secs(10),
];

/// The connect durations recorded under one label tuple.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnectHistogram {
    /// How many connects.
    pub count: u64,
    /// Their summed duration.
    pub total: Duration,
    /// Counts per bucket: `buckets[i]` holds durations `<= BUCKET_CUTOFFS[i]` (and above the
    /// previous cutoff); the last entry holds the rest.
    pub buckets: [u64; BUCKET_CUTOFFS.len() + 1],
}

impl ConnectHistogram {
    fn add(&mut self, d: Duration) {
        self.count += 1;
        self.total += d;
        let i = BUCKET_CUTOFFS
            .iter()
            .position(|cutoff| d <= *cutoff)
            .unwrap_or(BUCKET_CUTOFFS.len());
        self.buckets[i] += 1;
    }
}

/// Connect timings per `[keyspace, shard, tablet_type]`. Cloning shares the same histograms, so
/// several `ShardConn`s can record into one set, as vtgate's global did.
#[derive(Clone, Default)]
pub struct ConnectTimings {
    inner: Arc<Mutex<BTreeMap<[String; 3], ConnectHistogram>>>,
}

impl fmt::Debug for ConnectTimings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.snapshot()).finish()
    }
}

impl ConnectTimings {
    /// An empty set.
    pub fn new() -> ConnectTimings {
        ConnectTimings::default()
    }

    /// Records one connect that took `elapsed` under `labels`.
    pub fn record(&self, labels: [&str; 3], elapsed: Duration) {
        let key = labels.map(str::to_string);
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key)
            .or_default()
            .add(elapsed);
    }

    /// The histogram for one label tuple, if anything was recorded under it.
    pub fn get(&self, keyspace: &str, shard: &str, tablet_type: &str) -> Option<ConnectHistogram> {
        let key = [keyspace, shard, tablet_type].map(str::to_string);
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .cloned()
    }

    /// Every histogram, ordered by labels.
    pub fn snapshot(&self) -> BTreeMap<[String; 3], ConnectHistogram> {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The number of connects recorded under all labels.
    pub fn total_count(&self) -> u64 {
        self.snapshot().values().map(|h| h.count).sum()
    }
}
