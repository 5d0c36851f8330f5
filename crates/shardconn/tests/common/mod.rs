//! Small fakes for the shardconn tests: a scripted topo, dialer and tablets that sleep on the
//! facade's clock, hang forever, or fail.
#![allow(dead_code, unreachable_pub)] // each test binary uses a different subset

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use vtsim_runtime::rand::{self, Rng};
use vtsim_runtime::time::{self, Duration};
use vtsim_runtime::{task, Sim, Trace};
use vtsim_shardconn::{
    BoxFuture, EndPoint, Fixes, GuardedConn, QueryResult, RowStream, ServerCode, ShardConn,
    ShardConnConfig, TabletConn, TabletDialer, TabletError, TabletTransport, TabletType, Topo,
    TopoError,
};

pub const MS: Duration = Duration::from_millis(1);
pub const SEC: Duration = Duration::from_secs(1);

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Virtual time since the start of the simulation.
pub fn t() -> Duration {
    time::now().since_start()
}

pub fn ep(uid: u32) -> EndPoint {
    EndPoint::new(uid, format!("h{uid}"), 15000 + uid as u16)
}

/// Runs `f` in a fresh simulation with `seed`; panics on a simulation error.
pub fn run<T: 'static>(seed: u64, f: impl Future<Output = T> + 'static) -> (T, Trace) {
    let mut sim = Sim::new(seed);
    let out = sim
        .block_on(f)
        .unwrap_or_else(|e| panic!("simulation failed: {e}"));
    (out, sim.take_trace())
}

/// The times of the events of `kind`.
pub fn times(trace: &Trace, kind: &str) -> Vec<Duration> {
    trace.of_kind(kind).map(|e| e.time()).collect()
}

/// The `uid` fields of the events of `kind`.
pub fn uids(trace: &Trace, kind: &str) -> Vec<u64> {
    trace
        .of_kind(kind)
        .map(|e| e.field("uid").and_then(|v| v.as_u64()).expect("uid"))
        .collect()
}

pub fn field_u64(e: &vtsim_runtime::Event, name: &str) -> u64 {
    e.field(name)
        .and_then(|v| v.as_u64())
        .unwrap_or_else(|| panic!("no u64 field {name}: {e}"))
}

pub fn field_str<'a>(e: &'a vtsim_runtime::Event, name: &str) -> &'a str {
    e.field(name)
        .and_then(|v| v.as_str())
        .unwrap_or_else(|| panic!("no str field {name}: {e}"))
}

pub fn field_bool(e: &vtsim_runtime::Event, name: &str) -> bool {
    match e.field(name) {
        Some(vtsim_runtime::Value::Bool(b)) => *b,
        _ => panic!("no bool field {name}: {e}"),
    }
}

/// A topology listing a settable set of endpoints, after a settable delay.
#[derive(Debug)]
pub struct FakeTopo {
    list: Mutex<Result<Vec<EndPoint>, TopoError>>,
    delay: Mutex<Duration>,
    pub fetches: AtomicU64,
}

impl FakeTopo {
    pub fn new(uids: &[u32]) -> Arc<FakeTopo> {
        Arc::new(FakeTopo {
            list: Mutex::new(Ok(uids.iter().copied().map(ep).collect())),
            delay: Mutex::new(Duration::ZERO),
            fetches: AtomicU64::new(0),
        })
    }

    pub fn set(&self, uids: &[u32]) {
        *self.list.lock().unwrap() = Ok(uids.iter().copied().map(ep).collect());
    }

    pub fn fail(&self, message: &str) {
        *self.list.lock().unwrap() = Err(TopoError::new(message));
    }

    pub fn set_delay(&self, d: Duration) {
        *self.delay.lock().unwrap() = d;
    }

    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::SeqCst)
    }
}

impl Topo for FakeTopo {
    fn endpoints<'a>(
        &'a self,
        _keyspace: &'a str,
        _shard: &'a str,
        _tablet_type: TabletType,
    ) -> BoxFuture<'a, Result<Vec<EndPoint>, TopoError>> {
        Box::pin(async move {
            self.fetches.fetch_add(1, Ordering::SeqCst);
            let delay = *self.delay.lock().unwrap();
            if !delay.is_zero() {
                time::sleep(delay).await;
            }
            self.list.lock().unwrap().clone()
        })
    }
}

/// How a dial to a fake tablet goes.
#[derive(Clone, Debug)]
pub enum Dial {
    /// Connects after the latency.
    Ok(Duration),
    /// Refused after the latency.
    Refuse(Duration),
    /// Never answers.
    Hang,
    /// Drawn from the tablet's rand stream: 20% refused, 5% hang, else connects within 3ms.
    Chaos,
}

/// How one call to a fake tablet goes.
#[derive(Clone, Debug)]
pub enum Reply {
    /// Answers after the latency; the single row is the tablet uid.
    Ok(Duration),
    /// Fails after the latency.
    Fail(Duration, TabletError),
    /// Never answers.
    Hang,
    /// Drawn from the tablet's rand stream, each after 0-5ms: 15% RETRY, 5% FATAL, 10%
    /// operational, 5% a normal error, 5% hang, else success.
    Chaos,
}

/// How a stream from a fake tablet goes.
#[derive(Clone, Debug)]
pub enum Stream {
    /// Sends `count` chunks, one every `every`, then ends.
    Chunks { count: u32, every: Duration },
    /// Refuses to start.
    Fail(TabletError),
}

/// One scripted tablet: each dial, call and stream takes the next scripted behaviour, or the
/// default once the script is used up.
#[derive(Debug)]
pub struct FakeTablet {
    pub uid: u32,
    dials: Mutex<(VecDeque<Dial>, Dial)>,
    replies: Mutex<(VecDeque<Reply>, Reply)>,
    streams: Mutex<Stream>,
    /// Client-side time spent before a call reaches the connection's lock (marshalling).
    pub pre_call: Mutex<Duration>,
    pub dial_count: AtomicU64,
    pub exec_count: AtomicU64,
    pub closes: AtomicU64,
    rng: Mutex<Option<Rng>>,
}

impl FakeTablet {
    fn new(uid: u32) -> FakeTablet {
        FakeTablet {
            uid,
            dials: Mutex::new((VecDeque::new(), Dial::Ok(Duration::ZERO))),
            replies: Mutex::new((VecDeque::new(), Reply::Ok(MS))),
            streams: Mutex::new(Stream::Chunks {
                count: 3,
                every: ms(10),
            }),
            pre_call: Mutex::new(Duration::ZERO),
            dial_count: AtomicU64::new(0),
            exec_count: AtomicU64::new(0),
            closes: AtomicU64::new(0),
            rng: Mutex::new(None),
        }
    }

    pub fn dial_default(&self, d: Dial) -> &Self {
        self.dials.lock().unwrap().1 = d;
        self
    }

    pub fn dial_then(&self, d: Dial) -> &Self {
        self.dials.lock().unwrap().0.push_back(d);
        self
    }

    pub fn reply_default(&self, r: Reply) -> &Self {
        self.replies.lock().unwrap().1 = r;
        self
    }

    pub fn reply_then(&self, r: Reply) -> &Self {
        self.replies.lock().unwrap().0.push_back(r);
        self
    }

    pub fn stream(&self, s: Stream) -> &Self {
        *self.streams.lock().unwrap() = s;
        self
    }

    pub fn dials(&self) -> u64 {
        self.dial_count.load(Ordering::SeqCst)
    }

    pub fn execs(&self) -> u64 {
        self.exec_count.load(Ordering::SeqCst)
    }

    /// A draw in `[0, n)` from this tablet's own rand stream.
    fn roll(&self, n: u64) -> u64 {
        let mut rng = self.rng.lock().unwrap();
        rng.get_or_insert_with(|| rand::stream(&format!("test/tablet/{}", self.uid)))
            .below(n)
    }

    fn next_dial(&self) -> Dial {
        let next = {
            let mut d = self.dials.lock().unwrap();
            d.0.pop_front().unwrap_or_else(|| d.1.clone())
        };
        match next {
            Dial::Chaos => match self.roll(100) {
                0..20 => Dial::Refuse(ms(self.roll(3))),
                20..25 => Dial::Hang,
                _ => Dial::Ok(ms(self.roll(3))),
            },
            other => other,
        }
    }

    fn next_reply(&self) -> Reply {
        let next = {
            let mut r = self.replies.lock().unwrap();
            r.0.pop_front().unwrap_or_else(|| r.1.clone())
        };
        match next {
            Reply::Chaos => {
                let latency = ms(self.roll(6));
                let fail = |code, text: &str| Reply::Fail(latency, TabletError::server(code, text));
                match self.roll(100) {
                    0..15 => fail(ServerCode::Retry, "retry: chaos"),
                    15..20 => fail(ServerCode::Fatal, "fatal: chaos"),
                    20..30 => Reply::Fail(
                        latency,
                        TabletError::operational("vttablet: connection reset"),
                    ),
                    30..35 => fail(ServerCode::Normal, "error: chaos"),
                    35..40 => Reply::Hang,
                    _ => Reply::Ok(latency),
                }
            }
            other => other,
        }
    }
}

async fn pending<T>() -> T {
    std::future::pending().await
}

struct FakeTransport {
    tablet: Arc<FakeTablet>,
}

impl TabletTransport for FakeTransport {
    async fn execute(
        &self,
        _query: &str,
        _in_transaction: bool,
    ) -> Result<QueryResult, TabletError> {
        self.tablet.exec_count.fetch_add(1, Ordering::SeqCst);
        match self.tablet.next_reply() {
            Reply::Ok(latency) => {
                time::sleep(latency).await;
                Ok(QueryResult {
                    rows_affected: 0,
                    rows: vec![vec![self.tablet.uid.to_string()]],
                })
            }
            Reply::Fail(latency, error) => {
                time::sleep(latency).await;
                Err(error)
            }
            Reply::Hang => pending().await,
            Reply::Chaos => unreachable!("drawn in next_reply"),
        }
    }

    fn stream_execute<'a>(
        &'a self,
        _query: &'a str,
    ) -> BoxFuture<'a, Result<RowStream, TabletError>> {
        Box::pin(async move {
            self.tablet.exec_count.fetch_add(1, Ordering::SeqCst);
            let script = self.tablet.streams.lock().unwrap().clone();
            match script {
                Stream::Fail(error) => Err(error),
                Stream::Chunks { count, every } => {
                    let (tx, rows) = RowStream::channel(10);
                    let uid = self.tablet.uid;
                    drop(task::spawn_named(
                        format!("tablet/{uid}/stream"),
                        async move {
                            for i in 0..count {
                                time::sleep(every).await;
                                let chunk = QueryResult {
                                    rows_affected: 0,
                                    rows: vec![vec![uid.to_string(), i.to_string()]],
                                };
                                if tx.send(Ok(chunk)).await.is_err() {
                                    return;
                                }
                            }
                        },
                    ));
                    Ok(rows)
                }
            }
        })
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.tablet.closes.fetch_add(1, Ordering::SeqCst);
        })
    }
}

/// A client-side layer that spends `pre_call` before the call reaches the guarded connection, as
/// vtgate's marshalling did before the gRPC client took its read lock.
#[derive(Debug)]
struct Marshal {
    tablet: Arc<FakeTablet>,
    conn: GuardedConn<FakeTransport>,
}

impl std::fmt::Debug for FakeTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FakeTransport({})", self.tablet.uid)
    }
}

impl TabletConn for Marshal {
    fn endpoint(&self) -> &EndPoint {
        self.conn.endpoint()
    }

    fn execute<'a>(
        &'a self,
        query: &'a str,
        in_transaction: bool,
        deadline: Option<time::Instant>,
    ) -> BoxFuture<'a, Result<QueryResult, TabletError>> {
        Box::pin(async move {
            let pre = *self.tablet.pre_call.lock().unwrap();
            if !pre.is_zero() {
                time::sleep(pre).await;
            }
            self.conn.execute(query, in_transaction, deadline).await
        })
    }

    fn stream_execute<'a>(
        &'a self,
        query: &'a str,
        deadline: Option<time::Instant>,
    ) -> BoxFuture<'a, Result<RowStream, TabletError>> {
        self.conn.stream_execute(query, deadline)
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        self.conn.close()
    }
}

/// Dials the fake tablets by uid, and logs every dial.
#[derive(Debug, Default)]
pub struct FakeDialer {
    tablets: BTreeMap<u32, Arc<FakeTablet>>,
    pub log: Mutex<Vec<(u32, Duration)>>,
}

impl TabletDialer for FakeDialer {
    fn dial<'a>(
        &'a self,
        endpoint: &'a EndPoint,
        _timeout: Duration,
    ) -> BoxFuture<'a, Result<Arc<dyn TabletConn>, TabletError>> {
        Box::pin(async move {
            self.log.lock().unwrap().push((endpoint.uid, t()));
            let tablet = self
                .tablets
                .get(&endpoint.uid)
                .expect("a fake tablet")
                .clone();
            tablet.dial_count.fetch_add(1, Ordering::SeqCst);
            match tablet.next_dial() {
                Dial::Ok(latency) => {
                    time::sleep(latency).await;
                    let conn = GuardedConn::new(
                        endpoint.clone(),
                        FakeTransport {
                            tablet: tablet.clone(),
                        },
                    );
                    Ok(Arc::new(Marshal { tablet, conn }) as Arc<dyn TabletConn>)
                }
                Dial::Refuse(latency) => {
                    time::sleep(latency).await;
                    Err(TabletError::refused())
                }
                Dial::Hang => pending().await,
                Dial::Chaos => unreachable!("drawn in next_dial"),
            }
        })
    }
}

/// A topo and the tablets it lists.
#[derive(Debug)]
pub struct World {
    pub topo: Arc<FakeTopo>,
    pub dialer: Arc<FakeDialer>,
}

impl World {
    pub fn new(uids: &[u32]) -> World {
        let dialer = FakeDialer {
            tablets: uids
                .iter()
                .map(|&u| (u, Arc::new(FakeTablet::new(u))))
                .collect(),
            log: Mutex::new(Vec::new()),
        };
        World {
            topo: FakeTopo::new(uids),
            dialer: Arc::new(dialer),
        }
    }

    pub fn tablet(&self, uid: u32) -> &FakeTablet {
        &self.dialer.tablets[&uid]
    }

    pub fn dials(&self) -> Vec<(u32, Duration)> {
        self.dialer.log.lock().unwrap().clone()
    }

    pub fn shard_conn(
        &self,
        tablet_type: TabletType,
        config: ShardConnConfig,
        fixes: Fixes,
    ) -> ShardConn {
        ShardConn::new(
            "ks",
            "-80",
            tablet_type,
            self.topo.clone(),
            self.dialer.clone(),
            config,
            fixes,
        )
    }

    pub fn replica(&self) -> ShardConn {
        self.shard_conn(
            TabletType::Replica,
            ShardConnConfig::default(),
            Fixes::faithful(),
        )
    }
}

/// Spawns `n` concurrent executes with a deadline `deadline` after now; returns their results with
/// the virtual time each finished.
pub async fn concurrent_queries(
    sc: &Arc<ShardConn>,
    n: usize,
    deadline: Option<Duration>,
) -> Vec<(
    Duration,
    Result<QueryResult, vtsim_shardconn::ShardConnError>,
)> {
    let mut handles = Vec::new();
    for i in 0..n {
        let sc = sc.clone();
        let deadline = deadline.map(|d| time::now() + d);
        handles.push(task::spawn_named(format!("query/{i}"), async move {
            let r = sc.execute("select 1", false, deadline).await;
            (t(), r)
        }));
    }
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

/// Fixes with the given knobs on.
pub fn fixes(f: impl FnOnce(&mut Fixes)) -> Fixes {
    let mut fixes = Fixes::faithful();
    f(&mut fixes);
    fixes
}

pub fn config(f: impl FnOnce(&mut ShardConnConfig)) -> ShardConnConfig {
    let mut config = ShardConnConfig::default();
    f(&mut config);
    config
}

/// The first rotation of a replica ShardConn with life `life` under `seed`, with a connection
/// made at once.
pub fn first_rotation(seed: u64, life: Duration) -> Duration {
    let w = Arc::new(World::new(&[1]));
    let (_, trace) = run(seed, async move {
        let sc = w.shard_conn(
            TabletType::Replica,
            config(|c| c.conn_life = life),
            Fixes::faithful(),
        );
        sc.execute("select 1", false, None).await.unwrap();
        time::sleep(life * 2).await;
    });
    times(&trace, "shardconn.rotated")[0]
}
