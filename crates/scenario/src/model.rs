//! The validated scenario: plain values with every default applied, ready for the runner.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use vtsim_timer::Fixes;

use crate::time::{DurationRange, Window};

/// A validated scenario file. Build one with [`Scenario::load`] or [`Scenario::parse`].
///
/// Every optional key has its default filled in, every duration is a [`Duration`] and every
/// time window lies within `duration`.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// The file it came from, as given to `load` or `parse`.
    pub source: PathBuf,
    /// `name`, or the file stem.
    pub name: String,
    /// `description`, or empty.
    pub description: String,
    /// Format version; always 1.
    pub version: u32,
    /// Virtual time to simulate; reaching it ends a run normally.
    pub duration: Duration,
    /// Which seeds a run uses.
    pub seeds: Seeds,
    /// Order in which ready tasks run.
    pub scheduler: SchedulerKind,
    /// Timers fire late by a seeded amount in `[0, timer_slop]`; zero means exactly on time.
    pub timer_slop: Duration,
    /// Order of timers due at the same instant.
    pub timer_order: TimerOrder,
    /// Bounds that end a run abnormally.
    pub limits: Limits,
    /// The DiscoverLoop, when `[discover]` is present.
    pub discover: Option<DiscoverConfig>,
    /// The fake Orchestrator HTTP API (always configured; used by discover and maintenance).
    pub orchestrator: OrchestratorConfig,
    /// The fake topology server the balancer reads endpoints from.
    pub topo: TopoConfig,
    /// The ShardConn, when `[shard_conn]` is present.
    pub shard_conn: Option<ShardConnConfig>,
    /// The tablets behind the shard, in file order (uids are unique).
    pub tablets: Vec<TabletConfig>,
    /// The query load; `Some` exactly when `shard_conn` is.
    pub workload: Option<Workload>,
    /// Replication stop/start episodes that call Begin/EndMaintenance.
    pub maintenance: Vec<Maintenance>,
    /// Which latent Vitess bugs are fixed (all false: faithful).
    pub fixes: Fixes,
    /// Checks made on the trace of every seed.
    pub expectations: Vec<Expectation>,
    /// `[expect_panic]`: every seed must end in a task panic whose message contains this; the
    /// expectations are then checked on the trace up to the panic.
    pub expect_panic: Option<ExpectPanic>,
}

/// `[expect_panic]`: the run must end in a panic, such as the Vitess bug of a second
/// `RandTicker.Stop`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectPanic {
    /// A substring the panic message (task, message and seed, as `vtsim` prints it) must contain.
    pub message: String,
    /// Line of the `[expect_panic]` header, for reports.
    pub line: usize,
}

/// Which seeds a scenario runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seeds {
    /// `seeds = N`: seeds `0..N` (N >= 1).
    Count(u64),
    /// `seeds = [1, 7, 0xdead]`: exactly these, in this order (non-empty, no repeats).
    List(Vec<u64>),
}

impl Seeds {
    /// The seeds in run order.
    pub fn to_vec(&self) -> Vec<u64> {
        match self {
            Seeds::Count(n) => (0..*n).collect(),
            Seeds::List(list) => list.clone(),
        }
    }

    /// How many seeds there are.
    pub fn len(&self) -> u64 {
        match self {
            Seeds::Count(n) => *n,
            Seeds::List(list) => list.len() as u64,
        }
    }

    /// Always false for a validated scenario; here for API completeness.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The first seed, which the determinism check runs twice.
    pub fn first(&self) -> u64 {
        match self {
            Seeds::Count(_) => 0,
            Seeds::List(list) => list.first().copied().unwrap_or(0),
        }
    }
}

/// The order in which ready tasks are polled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SchedulerKind {
    /// A seeded random choice among the ready tasks (`"random"`, the default).
    Random,
    /// The order tasks became ready (`"fifo"`).
    Fifo,
    /// Seeded priority-based scheduling that finds ordering bugs with few runs (`"pct"`).
    Pct,
}

/// The order of timers due at the same virtual instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerOrder {
    /// Seeded random order (`"random"`).
    Random,
    /// The order the timers were set (`"fifo"`).
    Fifo,
}

/// Bounds that stop a run before `duration`; hitting one is a liveness failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most trace events one seed may record.
    pub max_events: u64,
    /// Most wall-clock time one seed may take (outside the simulation, measured by the runner).
    pub max_wall: Duration,
}

/// The tablet's Orchestrator self-registration loop (`DiscoverLoop`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscoverConfig {
    /// `orc_discover_interval`; zero means the loop never runs.
    pub interval: Duration,
    /// `orc_timeout`: the HTTP client timeout for the whole exchange.
    pub timeout: Duration,
    /// The port sent in `/discover/{host}/{port}`; 0 means unknown, which is a failure.
    pub mysql_port: u16,
    /// The host sent in `/discover/{host}/{port}`.
    pub host: String,
}

/// The fake Orchestrator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrchestratorConfig {
    /// One-way network latency of each request, drawn per request.
    pub latency: DurationRange,
    /// Times when it misbehaves (non-overlapping).
    pub outages: Vec<OrchestratorOutage>,
    /// The tablet host its client sends, in Discover and in Begin/EndMaintenance: `discover.host`
    /// with `[discover]`, else `orchestrator.host` (default `tablet-1`).
    pub host: String,
    /// The MySQL port its client sends (0: unknown, every call fails): `discover.mysql_port` with
    /// `[discover]`, else `orchestrator.mysql_port` (default 3306).
    pub mysql_port: u16,
}

/// A time when the Orchestrator misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrchestratorOutage {
    /// When requests are affected (by their arrival time).
    pub window: Window,
    /// How they fail.
    pub mode: OrchestratorOutageMode,
}

/// How the Orchestrator fails during an outage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrchestratorOutageMode {
    /// The connection is refused at once (a transport error).
    Refuse,
    /// The request is black-holed: no answer, so the client times out.
    Hang,
    /// An HTTP 500 answer (a success for the faithful client, see `fixes.http_status`).
    Http500,
}

/// The fake topology server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopoConfig {
    /// Latency of each endpoint fetch (the balancer holds its lock meanwhile).
    pub latency: DurationRange,
    /// Windows in which every fetch fails.
    pub errors: Vec<Window>,
    /// Changes of the endpoint list, in time order. Before the first one, every tablet is listed.
    pub changes: Vec<EndpointChange>,
}

/// From `at` on, topo lists exactly `endpoints`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointChange {
    /// When the change takes effect.
    pub at: Duration,
    /// Tablet uids listed from then on, in this order (may be empty).
    pub endpoints: Vec<u32>,
}

/// The vtgate ShardConn under test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardConnConfig {
    /// Keyspace name.
    pub keyspace: String,
    /// Shard name, such as `-80` or `0`.
    pub shard: String,
    /// Tablet type served; only non-master types rotate connections.
    pub tablet_type: TabletType,
    /// Sleep between attempts after a retryable connect failure.
    pub retry_delay: Duration,
    /// Extra attempts after the first.
    pub retry_count: u32,
    /// Budget for one `getNewConn` over all endpoints.
    pub conn_timeout_total: Duration,
    /// Budget for one dial when there are several endpoints.
    pub conn_timeout_per_conn: Duration,
    /// Rotation period `L`: delays fall in `[L/2, 3L/2)` (non-master only).
    pub conn_life: Duration,
    /// Balancer `reset-down-conn-delay`.
    pub reset_down_conn_delay: Duration,
    /// When vtgate calls `ShardConn::close`, in time order (empty: never). The workload sends no
    /// query from the first close on.
    pub close_at: Vec<Duration>,
}

/// Vitess tablet types a ShardConn can serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TabletType {
    /// `"master"`: no rotation ticker.
    Master,
    /// `"replica"` (the default).
    Replica,
    /// `"rdonly"`.
    Rdonly,
}

impl TabletType {
    /// The lower-case name used in timing labels and consolidator keys.
    pub fn as_str(&self) -> &'static str {
        match self {
            TabletType::Master => "master",
            TabletType::Replica => "replica",
            TabletType::Rdonly => "rdonly",
        }
    }
}

/// One fake tablet endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TabletConfig {
    /// Tablet uid, unique in the scenario.
    pub uid: u32,
    /// Host name, by default `tablet-{uid}`.
    pub host: String,
    /// Time for a dial to succeed.
    pub dial_latency: DurationRange,
    /// Time a query takes on the tablet.
    pub query_latency: DurationRange,
    /// Client-to-tablet network delay of each call on an open connection, drawn per call: the
    /// time between `getConn` returning the connection and the call taking the connection's read
    /// lock (zero by default). While a call is in this delay, a rotation can start closing the
    /// connection under it (spec 7.2).
    pub send_latency: DurationRange,
    /// Times when the tablet misbehaves (non-overlapping).
    pub outages: Vec<TabletOutage>,
}

/// A time when a tablet misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TabletOutage {
    /// When dials and queries are affected (by their start time).
    pub window: Window,
    /// How they fail.
    pub mode: TabletOutageMode,
}

/// How a tablet fails during an outage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TabletOutageMode {
    /// Dials are refused and queries fail with an operational error.
    Refuse,
    /// Dials and queries never answer.
    Hang,
    /// Queries fail with the server's RETRY code.
    RetryError,
    /// Queries fail with the server's FATAL code.
    FatalError,
    /// Queries fail with an ordinary server error (code `Normal`, "other server codes" of spec
    /// 3.7, such as bad SQL): not retried, no markdown.
    ServerError,
    /// Dials and queries take this much longer.
    Slow {
        /// Added to every dial and query latency.
        extra_latency: DurationRange,
    },
}

/// The queries sent through the ShardConn.
#[derive(Clone, Debug, PartialEq)]
pub struct Workload {
    /// Mean rate of a Poisson arrival process, in queries per virtual second (0 = none).
    pub qps: f64,
    /// Caller deadline of each query.
    pub query_timeout: Duration,
    /// Fraction of queries run inside a transaction (never retried).
    pub transaction_share: f64,
    /// Fraction of queries that are streams.
    pub stream_share: f64,
    /// How long a stream runs.
    pub stream_duration: DurationRange,
    /// When Poisson arrivals start.
    pub start: Duration,
    /// When Poisson arrivals stop (exclusive).
    pub stop: Duration,
    /// Groups of simultaneous queries, in time order.
    pub bursts: Vec<Burst>,
}

/// `count` queries issued at the same instant `at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Burst {
    /// When they start.
    pub at: Duration,
    /// How many start together.
    pub count: u32,
}

/// A replication stop/start episode: StopSlave fires BeginMaintenance, StartSlave fires
/// EndMaintenance, each as its own unordered task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Maintenance {
    /// When StopSlave runs.
    pub begin: Duration,
    /// When StartSlave runs; `None` means never.
    pub end: Option<Duration>,
    /// The reason sent to the Orchestrator.
    pub reason: String,
}

/// A check on the trace of each seed: how many events of one kind fall in a window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expectation {
    /// The event kind, one of [`EVENT_KINDS`](crate::EVENT_KINDS).
    pub event: &'static str,
    /// How many matching events are allowed.
    pub count: CountBound,
    /// Only events in this window count (default: the whole run).
    pub window: Window,
    /// Only events whose fields equal these values count (all must match).
    pub filters: Vec<FieldFilter>,
    /// Line of the `[[expect]]` header, for reports.
    pub line: usize,
}

impl fmt::Display for Expectation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} in {}", self.event, self.count, self.window)?;
        for (i, filter) in self.filters.iter().enumerate() {
            f.write_str(if i == 0 { " where " } else { ", " })?;
            write!(f, "{filter}")?;
        }
        Ok(())
    }
}

/// An allowed number of events; bounds are inclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CountBound {
    /// `count = n`.
    Exactly(u64),
    /// `min = n`.
    AtLeast(u64),
    /// `max = n`.
    AtMost(u64),
    /// `min = a` and `max = b`, with `a <= b`.
    Between(u64, u64),
}

impl CountBound {
    /// True when `n` events satisfy the bound.
    pub fn allows(&self, n: u64) -> bool {
        match *self {
            CountBound::Exactly(c) => n == c,
            CountBound::AtLeast(min) => n >= min,
            CountBound::AtMost(max) => n <= max,
            CountBound::Between(min, max) => (min..=max).contains(&n),
        }
    }
}

impl fmt::Display for CountBound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CountBound::Exactly(c) => write!(f, "count = {c}"),
            CountBound::AtLeast(min) => write!(f, "min = {min}"),
            CountBound::AtMost(max) => write!(f, "max = {max}"),
            CountBound::Between(min, max) => write!(f, "min = {min}, max = {max}"),
        }
    }
}

/// `field = value` in an expectation's `where` table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldFilter {
    /// Trace event field name, such as `uid`.
    pub field: String,
    /// The value it must have.
    pub value: FieldValue,
}

impl fmt::Display for FieldFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} = {}", self.field, self.value)
    }
}

/// A value a trace field is compared with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldValue {
    /// Matches an integer field with this value.
    Int(i64),
    /// Matches a boolean field.
    Bool(bool),
    /// Matches a string or Display field whose text is exactly this.
    Str(String),
}

impl FieldValue {
    /// True when a field rendered as `text` (its Display form) equals this value.
    pub fn matches_text(&self, text: &str) -> bool {
        match self {
            FieldValue::Int(n) => text.parse::<i64>() == Ok(*n),
            FieldValue::Bool(b) => text.parse::<bool>() == Ok(*b),
            FieldValue::Str(s) => s == text,
        }
    }
}

impl fmt::Display for FieldValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldValue::Int(n) => write!(f, "{n}"),
            FieldValue::Bool(b) => write!(f, "{b}"),
            FieldValue::Str(s) => write!(f, "{s:?}"),
        }
    }
}
