//! The vtgate balancer of the list era (`go/vt/vtgate/balancer.go`, spec 4).

use std::fmt;
use std::sync::Arc;

use tokio::sync::Mutex;
use vtsim_runtime::rand::{self, Rng};
use vtsim_runtime::time::{self, Duration, Instant};
use vtsim_timer::Fixes;

use crate::error::ConnectError;
use crate::tablet::{EndPoint, Target, Topo};

/// The Vitess default of `-reset-down-conn-delay`.
pub const DEFAULT_RESET_DOWN_CONN_DELAY: Duration = Duration::from_secs(600);

/// Chooses which endpoints of a target a new connection may try, in order, and remembers which
/// endpoints were marked down.
///
/// Faithful behaviour, per [`get`](Balancer::get):
/// 1. markdowns whose retry time is more than `reset_down_conn_delay` in the past are cleared;
/// 2. the list is refreshed from the topo, under the balancer lock (a slow topo blocks `mark_down`);
/// 3. endpoints are sorted by markdown time, never-marked first, and only the never-marked prefix is
///    shuffled;
/// 4. the prefix that is unmarked or whose retry time is strictly before now is returned.
pub struct Balancer {
    target: Target,
    topo: Arc<dyn Topo>,
    retry_delay: Duration,
    reset_delay: Duration,
    fixes: Fixes,
    // Held for the whole of `get`, topo fetch included, as Go's `blc.mu`.
    state: Mutex<State>,
}

struct State {
    nodes: Vec<Node>,
    rng: Rng,
}

struct Node {
    endpoint: EndPoint,
    // Go's `timeRetry`: markdown time + retry delay; None is Go's zero time.
    retry_at: Option<Instant>,
}

impl fmt::Debug for Balancer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Balancer")
            .field("target", &self.target)
            .field("retry_delay", &self.retry_delay)
            .field("reset_delay", &self.reset_delay)
            .finish_non_exhaustive()
    }
}

impl Balancer {
    /// A balancer for `target`. A markdown lasts `retry_delay` (vtgate passes its `retry_delay`, 2ms
    /// by default); a markdown is forgotten `reset_down_conn_delay` after it expired.
    ///
    /// The shuffle draws from the rand stream `balancer/{keyspace}/{shard}/{type}`.
    pub fn new(
        target: Target,
        topo: Arc<dyn Topo>,
        retry_delay: Duration,
        reset_down_conn_delay: Duration,
        fixes: Fixes,
    ) -> Balancer {
        let rng = rand::stream(&format!(
            "balancer/{}/{}/{}",
            target.keyspace,
            target.shard,
            target.tablet_type.lower()
        ));
        Balancer {
            target,
            topo,
            retry_delay,
            reset_delay: reset_down_conn_delay,
            fixes,
            state: Mutex::new(State {
                nodes: Vec::new(),
                rng,
            }),
        }
    }

    /// The endpoints a new connection should try, in order. Can be empty with no error, when every
    /// endpoint is marked down.
    pub async fn get(&self) -> Result<Vec<EndPoint>, ConnectError> {
        let mut state = self.state.lock().await;
        let state = &mut *state;

        let now = time::now();
        for node in &mut state.nodes {
            if node
                .retry_at
                .is_some_and(|at| now.saturating_duration_since(at) > self.reset_delay)
            {
                node.retry_at = None;
            }
        }

        let fetched = self
            .topo
            .endpoints(
                &self.target.keyspace,
                &self.target.shard,
                self.target.tablet_type,
            )
            .await
            .map_err(ConnectError::Topo)?;
        for endpoint in &fetched {
            match state
                .nodes
                .iter_mut()
                .find(|n| n.endpoint.uid == endpoint.uid)
            {
                Some(node) => node.endpoint = endpoint.clone(),
                None => state.nodes.push(Node {
                    endpoint: endpoint.clone(),
                    retry_at: None,
                }),
            }
        }
        state
            .nodes
            .retain(|n| fetched.iter().any(|e| e.uid == n.endpoint.uid));
        if state.nodes.is_empty() {
            return Err(ConnectError::NoAvailableAddresses);
        }

        // Stable, as Go's insertion sort is for the short lists a shard has; None sorts first.
        state.nodes.sort_by_key(|n| n.retry_at);
        let now = time::now();
        let usable = |n: &Node| match n.retry_at {
            None => true,
            Some(at) if self.fixes.inclusive_markdown => at <= now,
            Some(at) => at < now,
        };
        let shuffled = if self.fixes.shuffle_recovered {
            state.nodes.iter().take_while(|n| usable(n)).count()
        } else {
            state
                .nodes
                .iter()
                .take_while(|n| n.retry_at.is_none())
                .count()
        };
        shuffle(&mut state.rng, &mut state.nodes[..shuffled]);

        Ok(state
            .nodes
            .iter()
            .take_while(|n| usable(n))
            .map(|n| n.endpoint.clone())
            .collect())
    }

    /// Marks `uid` down until now + retry delay. Marking again extends it; an unknown uid is
    /// ignored. Waits for a `get` in progress, as it shares its lock.
    pub async fn mark_down(&self, uid: u32, reason: &str) {
        let mut state = self.state.lock().await;
        let Some(node) = state.nodes.iter_mut().find(|n| n.endpoint.uid == uid) else {
            return;
        };
        let retry_at = time::now() + self.retry_delay;
        node.retry_at = Some(retry_at);
        tracing::info!(
            kind = "shardconn.markdown",
            keyspace = self.target.keyspace.as_str(),
            shard = self.target.shard.as_str(),
            tablet_type = self.target.tablet_type.lower(),
            uid,
            host = %node.endpoint.host,
            reason,
            retry_at_ms = retry_at.since_start().as_millis() as u64,
            "Marking down endpoint"
        );
    }

    /// The retry time of every known endpoint, in the balancer's current order (`None`: not marked
    /// down). For tests and reports.
    pub async fn markdowns(&self) -> Vec<(u32, Option<Instant>)> {
        let state = self.state.lock().await;
        state
            .nodes
            .iter()
            .map(|n| (n.endpoint.uid, n.retry_at))
            .collect()
    }
}

/// Go's hand-written Fisher-Yates: `for i := len-1; i > 0; i-- { j := rand.Intn(i+1); swap }`.
fn shuffle<T>(rng: &mut Rng, items: &mut [T]) {
    for i in (1..items.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        items.swap(i, j);
    }
}
