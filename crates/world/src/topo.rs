//! The simulated topology server: which tablets serve the shard, changing at given times.

use std::fmt;
use std::sync::{Mutex, PoisonError};

use vtsim_runtime::rand::{self, Rng};
use vtsim_runtime::time::{self, Duration};
use vtsim_scenario::{DurationRange, TabletConfig, TopoConfig};
use vtsim_shardconn::{BoxFuture, EndPoint, TabletType, Topo, TopoError};

use crate::faults::Timeline;

/// The `vt` port every simulated tablet listens on; tablets differ by host.
pub const TABLET_PORT: u16 = 15001;

/// What a fetch in a topo error window gets.
pub(crate) const TOPO_UNAVAILABLE: &str = "zk: could not connect to a server";

/// The simulated topology server behind a ShardConn's balancer (a [`Topo`]).
///
/// It serves one target. Before the first change it lists every tablet in file order; from each
/// `[[topo.change]]` on it lists exactly that change's uids. A fetch takes `latency` (rand stream
/// `topo/latency`); what it returns is decided when it **starts**, as is whether it falls in an
/// error window:
///
/// ```text
///  changes:     t=0 [1, 2, 3]          t=30s [2, 3]
///  fetches:     |--latency-->|         |--latency-->|
///  returns:     [1, 2, 3]              [2, 3]      (a fetch started at 29.999s still lists 1)
/// ```
///
/// Asking for another keyspace, shard or tablet type is an error, as a missing topo node was.
/// Create it inside the simulation, so that its latency stream derives from the seed.
pub struct TopoServer {
    keyspace: String,
    shard: String,
    tablet_type: TabletType,
    latency: DurationRange,
    errors: Timeline<()>,
    // (from, endpoints), the first at 0s; looked up by fetch start.
    lists: Vec<(Duration, Vec<EndPoint>)>,
    rng: Mutex<Rng>,
}

impl fmt::Debug for TopoServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TopoServer")
            .field("keyspace", &self.keyspace)
            .field("shard", &self.shard)
            .field("tablet_type", &self.tablet_type)
            .field("latency", &self.latency)
            .field("errors", &self.errors)
            .field("lists", &self.lists)
            .finish_non_exhaustive()
    }
}

/// The endpoint a tablet is listed as.
pub(crate) fn endpoint_of(tablet: &TabletConfig) -> EndPoint {
    EndPoint::new(tablet.uid, tablet.host.clone(), TABLET_PORT)
}

impl TopoServer {
    /// A topo server for `keyspace`/`shard`/`tablet_type`, listing `tablets` as `config` says.
    ///
    /// A change naming a uid with no tablet lists nothing for it (a validated scenario has none).
    pub fn new(
        keyspace: &str,
        shard: &str,
        tablet_type: TabletType,
        config: &TopoConfig,
        tablets: &[TabletConfig],
    ) -> TopoServer {
        let mut lists = vec![(Duration::ZERO, tablets.iter().map(endpoint_of).collect())];
        for change in &config.changes {
            let listed = change
                .endpoints
                .iter()
                .filter_map(|uid| tablets.iter().find(|t| t.uid == *uid))
                .map(endpoint_of)
                .collect();
            lists.push((change.at, listed));
        }
        // A change at 0s replaces the initial list; later ones keep their order.
        lists.sort_by_key(|(at, _)| *at);
        TopoServer {
            keyspace: keyspace.to_owned(),
            shard: shard.to_owned(),
            tablet_type,
            latency: config.latency,
            errors: Timeline::new(config.errors.iter().map(|w| (*w, ()))),
            lists,
            rng: Mutex::new(rand::stream("topo/latency")),
        }
    }

    /// The endpoints listed at virtual time `t`.
    pub fn listed_at(&self, t: Duration) -> &[EndPoint] {
        self.lists
            .iter()
            .rev()
            .find(|(from, _)| *from <= t)
            .map_or(&[], |(_, list)| list.as_slice())
    }

    /// The error windows.
    pub fn errors(&self) -> &Timeline<()> {
        &self.errors
    }

    /// Whether a fetch started at `t` fails.
    pub fn fails_at(&self, t: Duration) -> bool {
        self.errors.at(t).is_some()
    }
}

impl Topo for TopoServer {
    fn endpoints<'a>(
        &'a self,
        keyspace: &'a str,
        shard: &'a str,
        tablet_type: TabletType,
    ) -> BoxFuture<'a, Result<Vec<EndPoint>, TopoError>> {
        let start = time::now().since_start();
        let latency = {
            let mut rng = self.rng.lock().unwrap_or_else(PoisonError::into_inner);
            rng.duration_between(self.latency.lo, self.latency.hi)
        };
        Box::pin(async move {
            let result = if (keyspace, shard, tablet_type)
                != (
                    self.keyspace.as_str(),
                    self.shard.as_str(),
                    self.tablet_type,
                ) {
                Err(TopoError::new(format!(
                    "node doesn't exist: /keyspaces/{keyspace}/shards/{shard}/{}",
                    tablet_type.lower()
                )))
            } else if self.fails_at(start) {
                tracing::debug!(kind = "topo.error", "Topo fetch in an error window");
                Err(TopoError::new(TOPO_UNAVAILABLE))
            } else {
                Ok(self.listed_at(start).to_vec())
            };
            time::sleep(latency).await;
            result
        })
    }
}
