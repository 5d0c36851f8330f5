//! Go's `sync2.Consolidator` (spec 5): callers asking for the same key share one result.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::oneshot;
use vtsim_runtime::time::{self, Instant};

type Entries<T> = Arc<Mutex<BTreeMap<String, Arc<Slot<T>>>>>;

/// One key's result. The waiters are woken one by one in the order they arrived: a
/// `tokio::sync::watch` would wake them in an order drawn from tokio's unseeded thread RNG.
struct Slot<T> {
    state: Mutex<SlotState<T>>,
}

struct SlotState<T> {
    value: Option<T>,
    waiters: Vec<oneshot::Sender<T>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Shares one in-flight result among every caller asking for the same key.
///
/// [`create`](Consolidator::create) returns `(result, created)`. The creator computes the value
/// and calls [`broadcast`](Consolidated::broadcast); the others call
/// [`wait`](Consolidated::wait). Broadcast removes the key, so a later `create` starts afresh, and
/// wakes the waiters in the order they began waiting.
///
/// Faithful to Go, `wait` has no deadline: if the creator never broadcasts (say it is dropped), its
/// waiters hang forever. [`wait_until`](Consolidated::wait_until) is the `consolidator_deadline`
/// fix.
pub struct Consolidator<T> {
    entries: Entries<T>,
}

impl<T> fmt::Debug for Consolidator<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let entries = lock(&self.entries);
        f.debug_struct("Consolidator")
            .field("pending", &entries.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl<T> Default for Consolidator<T> {
    fn default() -> Consolidator<T> {
        Consolidator {
            entries: Arc::new(Mutex::new(BTreeMap::new())),
        }
    }
}

impl<T: Clone + Send + Sync> Consolidator<T> {
    /// An empty consolidator.
    pub fn new() -> Consolidator<T> {
        Consolidator::default()
    }

    /// Joins the entry for `key`, creating it if there is none. `created` is true for the caller
    /// that must compute the result and broadcast it.
    pub fn create(&self, key: &str) -> (Consolidated<T>, bool) {
        let mut entries = lock(&self.entries);
        if let Some(slot) = entries.get(key) {
            return (self.handle(key, slot.clone()), false);
        }
        let slot = Arc::new(Slot {
            state: Mutex::new(SlotState {
                value: None,
                waiters: Vec::new(),
            }),
        });
        entries.insert(key.to_string(), slot.clone());
        (self.handle(key, slot), true)
    }

    /// True while an entry for `key` awaits its broadcast.
    pub fn is_pending(&self, key: &str) -> bool {
        lock(&self.entries).contains_key(key)
    }

    fn handle(&self, key: &str, slot: Arc<Slot<T>>) -> Consolidated<T> {
        Consolidated {
            key: key.to_string(),
            entries: self.entries.clone(),
            slot,
        }
    }
}

/// One caller's share of a consolidated result (Go: `*sync2.Result`).
pub struct Consolidated<T> {
    key: String,
    entries: Entries<T>,
    slot: Arc<Slot<T>>,
}

impl<T> fmt::Debug for Consolidated<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consolidated")
            .field("key", &self.key)
            .field("ready", &lock(&self.slot.state).value.is_some())
            .finish()
    }
}

impl<T: Clone + Send + Sync> Consolidated<T> {
    /// Publishes `value`, removes the key, and wakes every waiter.
    pub fn broadcast(self, value: T) {
        {
            let mut entries = lock(&self.entries);
            // Only our own entry: a fresh one under the same key belongs to someone else.
            if entries
                .get(&self.key)
                .is_some_and(|s| Arc::ptr_eq(s, &self.slot))
            {
                entries.remove(&self.key);
            }
        }
        let waiters = {
            let mut state = lock(&self.slot.state);
            state.value = Some(value.clone());
            std::mem::take(&mut state.waiters)
        };
        for waiter in waiters {
            // A waiter that gave up (wait_until) has dropped its receiver.
            let _ = waiter.send(value.clone());
        }
    }

    /// Waits for the broadcast, with no deadline (faithful: hangs forever if none comes).
    pub async fn wait(&self) -> T {
        let rx = {
            let mut state = lock(&self.slot.state);
            if let Some(value) = &state.value {
                return value.clone();
            }
            let (tx, rx) = oneshot::channel();
            state.waiters.push(tx);
            rx
        };
        match rx.await {
            Ok(value) => value,
            // The slot (and so the sender) lives as long as `self`; this cannot happen, and if it
            // did, never-broadcast would mean waiting forever.
            Err(_) => std::future::pending().await,
        }
    }

    /// Waits for the broadcast until `deadline` (the `consolidator_deadline` fix); `None` if it has
    /// not come by then.
    pub async fn wait_until(&self, deadline: Instant) -> Option<T> {
        time::timeout_at(deadline, self.wait()).await.ok()
    }
}
