//! One scenario's world: its peers, and the components started against them.

use std::fmt;
use std::sync::Arc;

use vtsim_discover::{OrcClient, OrcConfig};
use vtsim_runtime::task;
use vtsim_runtime::time::{self, Duration};
use vtsim_scenario::{DurationRange, Scenario, TabletType as ScenarioTabletType};
use vtsim_shardconn::{ShardConn, ShardConnConfig, TabletType};

use crate::faults::{instant, write_marks, Mark, MarkKind};
use crate::orchestrator::Orchestrator;
use crate::tablet::Tablets;
use crate::topo::TopoServer;
use crate::workload;

/// How long streams run when a scenario has no workload to say so.
const DEFAULT_STREAM_DURATION: DurationRange = DurationRange::fixed(Duration::from_secs(1));

/// The API URL the simulated tablet's Orchestrator client is configured with.
pub const ORC_API_URL: &str = "http://orchestrator:3000/api";

/// The simulated world of one scenario: the peers, and the Vitess components running against them.
///
/// [`World::start`] builds it inside a running simulation and starts, as the scenario says:
/// - a `DiscoverLoop` (task `discover-loop`) when `[discover]` is present;
/// - one task per `[[maintenance]]` episode, firing BeginMaintenance and EndMaintenance the way
///   StopSlave and StartSlave do;
/// - a ShardConn and the workload when `[shard_conn]` is present, and a task (`world/close`) that
///   closes the ShardConn at each `close_at` time;
/// - a task (`world/timeline`) that marks fault windows and topo changes in the trace;
/// - a task (`world/keeper`) that holds the ShardConn and the Orchestrator client past
///   `duration`, as vtgate and vttablet would. Its timer also means a run never ends as a
///   deadlock before `duration`: tasks blocked for good are listed in `Sim::report` instead.
///
/// The handles stay usable after the run, for tests that look at what a peer saw.
pub struct World {
    orchestrator: Orchestrator,
    orc_client: Option<OrcClient>,
    topo: Option<Arc<TopoServer>>,
    tablets: Tablets,
    shard_conn: Option<Arc<ShardConn>>,
}

impl fmt::Debug for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("World")
            .field("orchestrator", &self.orchestrator)
            .field("topo", &self.topo)
            .field("tablets", &self.tablets)
            .field("shard_conn", &self.shard_conn)
            .finish_non_exhaustive()
    }
}

fn tablet_type(t: ScenarioTabletType) -> TabletType {
    match t {
        ScenarioTabletType::Master => TabletType::Master,
        ScenarioTabletType::Replica => TabletType::Replica,
        ScenarioTabletType::Rdonly => TabletType::Rdonly,
    }
}

impl World {
    /// Builds the peers of `scenario` and starts its components. Call it inside a simulation
    /// (a task, or [`Sim::block_on`](vtsim_runtime::Sim::block_on)).
    ///
    /// # Panics
    ///
    /// As the Vitess code would: when the ShardConn's rotation ticker refuses `conn_life`, or the
    /// DiscoverLoop's ticker refuses `interval` (a zero variance, which validation rejects unless
    /// the `ticker_zero_variance` fix is on). Inside a simulation the panic ends the run with
    /// `SimError::Panic`.
    pub fn start(scenario: &Scenario) -> World {
        let orchestrator = Orchestrator::new(&scenario.orchestrator);
        let mut marks = Mark::windows("orchestrator", orchestrator.outages());

        let orc_client =
            (scenario.discover.is_some() || !scenario.maintenance.is_empty()).then(|| {
                let defaults = OrcConfig::default();
                // The identity is the [discover] one, or [orchestrator]'s without [discover].
                let mut config = OrcConfig {
                    api_url: ORC_API_URL.to_owned(),
                    host: scenario.orchestrator.host.clone(),
                    mysql_port: scenario.orchestrator.mysql_port,
                    fixes: scenario.fixes,
                    ..defaults
                };
                if let Some(d) = &scenario.discover {
                    config.interval = d.interval;
                    config.timeout = d.timeout;
                }
                OrcClient::new(config, Arc::new(orchestrator.clone()))
            });
        if let (Some(client), Some(_)) = (&orc_client, &scenario.discover) {
            let client = client.clone();
            drop(task::spawn_named("discover-loop", async move {
                if let Err(e) = client.discover_loop().await {
                    // Go's NewRandTicker panics here; so does the simulated tablet.
                    panic!("DiscoverLoop: {e}");
                }
            }));
        }
        if let Some(client) = &orc_client {
            for episode in scenario.maintenance.clone() {
                let client = client.clone();
                drop(task::spawn_named("maintenance", async move {
                    time::sleep_until(instant(episode.begin)).await;
                    client.begin_maintenance_async(&episode.reason);
                    if let Some(end) = episode.end {
                        time::sleep_until(instant(end)).await;
                        client.end_maintenance_async();
                    }
                }));
            }
        }

        let mut topo = None;
        let mut tablets = Tablets::default();
        let mut shard_conn = None;
        if let Some(sc) = &scenario.shard_conn {
            let ty = tablet_type(sc.tablet_type);
            let server = Arc::new(TopoServer::new(
                &sc.keyspace,
                &sc.shard,
                ty,
                &scenario.topo,
                &scenario.tablets,
            ));
            marks.extend(Mark::windows("topo", server.errors()));
            for change in &scenario.topo.changes {
                marks.push(Mark {
                    at: change.at,
                    what: MarkKind::TopoChange,
                    peer: "topo".to_owned(),
                    detail: format!("{:?}", change.endpoints),
                });
            }
            // A validated scenario always has a workload with `[shard_conn]`; one built in code
            // may not, and then runs the ShardConn with no queries.
            let streams = scenario
                .workload
                .as_ref()
                .map_or(DEFAULT_STREAM_DURATION, |w| w.stream_duration);
            tablets = Tablets::new(&scenario.tablets, streams);
            for tablet in tablets.iter() {
                let peer = format!("tablet/{}", tablet.endpoint().uid);
                marks.extend(Mark::windows(&peer, tablet.outages()));
            }
            let mut config = ShardConnConfig::default();
            config.retry_delay = sc.retry_delay;
            config.retry_count = sc.retry_count;
            config.conn_timeout_total = sc.conn_timeout_total;
            config.conn_timeout_per_conn = sc.conn_timeout_per_conn;
            config.conn_life = sc.conn_life;
            config.reset_down_conn_delay = sc.reset_down_conn_delay;
            let conn = Arc::new(ShardConn::new(
                sc.keyspace.clone(),
                sc.shard.clone(),
                ty,
                server.clone(),
                Arc::new(tablets.clone()),
                config,
                scenario.fixes,
            ));
            if let Some(load) = &scenario.workload {
                workload::start(conn.clone(), load, sc.close_at.first().copied());
            }
            if !sc.close_at.is_empty() {
                drop(task::spawn_named(
                    "world/close",
                    close_at(conn.clone(), sc.close_at.clone()),
                ));
            }
            topo = Some(server);
            shard_conn = Some(conn);
        }

        if !marks.is_empty() {
            drop(task::spawn_named("world/timeline", write_marks(marks)));
        }
        // vtgate and the tablet hold their ShardConn and Orchestrator client for their whole life
        // (the rotation task has only a weak reference). The keeper holds them past the end of the
        // run, and its timer keeps the clock going through quiet stretches: a world whose tasks
        // all wait on channels is idle, not deadlocked (such tasks show in `Sim::report`).
        let keep = (shard_conn.clone(), orc_client.clone());
        let past_end = instant(scenario.duration) + Duration::from_nanos(1);
        drop(task::spawn_named("world/keeper", async move {
            time::sleep_until(past_end).await;
            drop(keep);
        }));
        World {
            orchestrator,
            orc_client,
            topo,
            tablets,
            shard_conn,
        }
    }

    /// The simulated Orchestrator.
    pub fn orchestrator(&self) -> &Orchestrator {
        &self.orchestrator
    }

    /// The tablet's Orchestrator client, when `[discover]` or `[[maintenance]]` is present.
    pub fn orc_client(&self) -> Option<&OrcClient> {
        self.orc_client.as_ref()
    }

    /// The topo server, when `[shard_conn]` is present.
    pub fn topo(&self) -> Option<&TopoServer> {
        self.topo.as_deref()
    }

    /// The tablets (none without `[shard_conn]`).
    pub fn tablets(&self) -> &Tablets {
        &self.tablets
    }

    /// The ShardConn, when `[shard_conn]` is present.
    pub fn shard_conn(&self) -> Option<&ShardConn> {
        self.shard_conn.as_deref()
    }
}

/// vtgate closing its ShardConn at each of `times` (in order): `shardconn.close` with the call's
/// number (from 1), then `ShardConn::close`. Two closes at one instant run one after the other.
/// Faithfully, a second close of a non-master ShardConn stops its RandTicker twice and panics
/// (spec 1.5, 3.3), which ends the run with that panic.
async fn close_at(conn: Arc<ShardConn>, times: Vec<Duration>) {
    for (i, at) in times.into_iter().enumerate() {
        time::sleep_until(instant(at)).await;
        tracing::info!(
            kind = "shardconn.close",
            call = i as u64 + 1,
            "vtgate closes the ShardConn"
        );
        conn.close().await;
    }
}
