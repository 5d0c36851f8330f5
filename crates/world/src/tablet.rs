//! Simulated tablets: dial and query latency drawn per tablet, and fault windows.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use vtsim_runtime::rand::{self, Rng};
use vtsim_runtime::task;
use vtsim_runtime::time::{self, Duration, Instant};
use vtsim_scenario::{DurationRange, TabletConfig, TabletOutageMode};
use vtsim_shardconn::{
    BoxFuture, EndPoint, GuardedConn, QueryResult, RowSender, RowStream, ServerCode, TabletConn,
    TabletDialer, TabletError, TabletTransport,
};

use crate::faults::{instant, Timeline};
use crate::topo::endpoint_of;

/// The text of a RETRY answer during a `retry-error` outage.
pub(crate) const RETRY_MESSAGE: &str =
    "vttablet: retry: operation not allowed in state NOT_SERVING";
/// The text of a FATAL answer during a `fatal-error` outage.
pub(crate) const FATAL_MESSAGE: &str = "vttablet: fatal: query service is unhealthy";
/// The text of an ordinary server error (code `Normal`) during a `server-error` outage.
pub(crate) const SERVER_ERROR_MESSAGE: &str =
    "vttablet: execute: Duplicate entry '1' for key 'PRIMARY' (errno 1062)";
/// What a call in flight gets when its tablet goes down (a `refuse` window starts).
pub(crate) const RESET_MESSAGE: &str = "vttablet: connection reset by peer";

/// Counters of what reached one tablet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TabletStats {
    /// Dials that reached it.
    pub dials: u64,
    /// Unary calls that reached it (transactions included).
    pub executes: u64,
    /// Unary calls made inside a transaction.
    pub transactions: u64,
    /// Streaming queries that reached it.
    pub streams: u64,
    /// Dials and calls a fault window failed (an error, not a hang).
    pub faulted: u64,
}

/// One simulated tablet.
///
/// Latencies are drawn from rand streams named by uid (`tablet/{uid}/dial`, `tablet/{uid}/query`,
/// `tablet/{uid}/slow`, `tablet/{uid}/stream`), so adding or removing a tablet never changes
/// another's draws. A fault window applies by the time a request **reaches** the tablet, which is
/// when the dial or call is made (the network is part of the latency):
///
/// | mode          | dial                          | call on an open connection                 |
/// |---------------|-------------------------------|--------------------------------------------|
/// | `refuse`      | refused at once (operational) | fails at once (operational)                |
/// | `hang`        | never answers                 | never answers                              |
/// | `retry-error` | succeeds                      | RETRY server error, after the query latency |
/// | `fatal-error` | succeeds                      | FATAL server error, after the query latency |
/// | `server-error`| succeeds                      | ordinary server error (code `Normal`), after the query latency |
/// | `slow`        | `extra_latency` longer        | `extra_latency` longer                     |
///
/// Work already in flight when a `hang` window starts never answers; when a `refuse` window starts
/// it fails at that instant with "connection reset by peer" (the process died). Other windows
/// leave work in flight alone:
///
/// ```text
///  windows:               [---- hang ----)
///  call A:   arrives ---------X             never answered (in flight when the hang began)
///  call B:                  arrives         never answered (arrived in the window)
///  call C:                                arrives --> ok
/// ```
///
/// With a `send_latency`, each call on an open connection first spends that long on the wire
/// (rand stream `tablet/{uid}/send`) before it reaches the [`GuardedConn`] and takes its read
/// lock; see `SendDelay`. Without one (the default) calls reach the lock at once.
///
/// A streaming query's first chunk comes after the query latency, its last one when it has run for
/// a duration drawn from `stream_duration`; then it ends cleanly.
#[derive(Clone)]
pub struct Tablet {
    inner: Arc<Inner>,
}

struct Inner {
    endpoint: EndPoint,
    dial_latency: DurationRange,
    query_latency: DurationRange,
    send_latency: DurationRange,
    stream_duration: DurationRange,
    outages: Timeline<TabletOutageMode>,
    rngs: Mutex<Rngs>,
    dials: AtomicU64,
    executes: AtomicU64,
    transactions: AtomicU64,
    streams: AtomicU64,
    faulted: AtomicU64,
}

struct Rngs {
    dial: Rng,
    query: Rng,
    slow: Rng,
    stream: Rng,
    send: Rng,
}

impl fmt::Debug for Tablet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tablet")
            .field("endpoint", &self.inner.endpoint)
            .field("dial_latency", &self.inner.dial_latency)
            .field("query_latency", &self.inner.query_latency)
            .field("outages", &self.inner.outages)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// What a request does, for fault purposes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Work {
    Dial,
    Call,
}

fn draw(rng: &mut Rng, range: DurationRange) -> Duration {
    rng.duration_between(range.lo, range.hi)
}

impl Tablet {
    /// The tablet of `config`. Streams run for a duration drawn from `stream_duration`.
    ///
    /// Create it inside the simulation, so that its streams derive from the seed.
    pub fn new(config: &TabletConfig, stream_duration: DurationRange) -> Tablet {
        let uid = config.uid;
        let stream = |what: &str| rand::stream(&format!("tablet/{uid}/{what}"));
        Tablet {
            inner: Arc::new(Inner {
                endpoint: endpoint_of(config),
                dial_latency: config.dial_latency,
                query_latency: config.query_latency,
                send_latency: config.send_latency,
                stream_duration,
                outages: Timeline::new(config.outages.iter().map(|o| (o.window, o.mode))),
                rngs: Mutex::new(Rngs {
                    dial: stream("dial"),
                    query: stream("query"),
                    slow: stream("slow"),
                    stream: stream("stream"),
                    send: stream("send"),
                }),
                dials: AtomicU64::new(0),
                executes: AtomicU64::new(0),
                transactions: AtomicU64::new(0),
                streams: AtomicU64::new(0),
                faulted: AtomicU64::new(0),
            }),
        }
    }

    /// The endpoint it is listed as.
    pub fn endpoint(&self) -> &EndPoint {
        &self.inner.endpoint
    }

    /// Its fault windows.
    pub fn outages(&self) -> &Timeline<TabletOutageMode> {
        &self.inner.outages
    }

    /// What has reached it so far.
    pub fn stats(&self) -> TabletStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        TabletStats {
            dials: get(&self.inner.dials),
            executes: get(&self.inner.executes),
            transactions: get(&self.inner.transactions),
            streams: get(&self.inner.streams),
            faulted: get(&self.inner.faulted),
        }
    }

    /// Opens a connection, with the close semantics of Vitess's gRPC client ([`GuardedConn`]).
    ///
    /// # Errors
    ///
    /// An operational error ("connection refused") during a `refuse` window, or "connection reset"
    /// when one starts mid-dial. During a `hang` window it never resolves.
    pub async fn dial(&self) -> Result<Arc<dyn TabletConn>, TabletError> {
        self.inner.dials.fetch_add(1, Ordering::Relaxed);
        let latency = draw(&mut self.inner.rngs().dial, self.inner.dial_latency);
        self.inner.serve(Work::Dial, latency).await?;
        let session = Session {
            tablet: self.inner.clone(),
        };
        let conn: Arc<dyn TabletConn> =
            Arc::new(GuardedConn::new(self.inner.endpoint.clone(), session));
        if self.inner.send_latency.hi.is_zero() {
            return Ok(conn);
        }
        Ok(Arc::new(SendDelay {
            conn,
            tablet: self.inner.clone(),
        }))
    }
}

impl Inner {
    fn rngs(&self) -> std::sync::MutexGuard<'_, Rngs> {
        self.rngs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn fault(&self, error: TabletError) -> Result<(), TabletError> {
        self.faulted.fetch_add(1, Ordering::Relaxed);
        Err(error)
    }

    /// Serves one request that arrives now and takes `latency` when all is well.
    async fn serve(&self, work: Work, latency: Duration) -> Result<(), TabletError> {
        let arrived = time::now().since_start();
        let mode = self.outages.at(arrived);
        let mut done = arrived + latency;
        match mode {
            Some(TabletOutageMode::Refuse) => return self.fault(TabletError::refused()),
            Some(TabletOutageMode::Hang) => std::future::pending::<()>().await,
            Some(TabletOutageMode::Slow { extra_latency }) => {
                done += draw(&mut self.rngs().slow, extra_latency);
            }
            Some(
                TabletOutageMode::RetryError
                | TabletOutageMode::FatalError
                | TabletOutageMode::ServerError,
            )
            | None => {}
        }
        // The process stopping or dying takes down what it was working on.
        let dies = self.outages.first_start_within(arrived, done, |m| {
            matches!(m, TabletOutageMode::Hang | TabletOutageMode::Refuse)
        });
        if let Some((from, down)) = dies {
            time::sleep_until(instant(from)).await;
            if matches!(down, TabletOutageMode::Hang) {
                std::future::pending::<()>().await;
            }
            return self.fault(TabletError::operational(RESET_MESSAGE));
        }
        time::sleep_until(instant(done)).await;
        match (work, mode) {
            (Work::Call, Some(TabletOutageMode::RetryError)) => {
                self.fault(TabletError::server(ServerCode::Retry, RETRY_MESSAGE))
            }
            (Work::Call, Some(TabletOutageMode::FatalError)) => {
                self.fault(TabletError::server(ServerCode::Fatal, FATAL_MESSAGE))
            }
            (Work::Call, Some(TabletOutageMode::ServerError)) => self.fault(TabletError::server(
                ServerCode::Normal,
                SERVER_ERROR_MESSAGE,
            )),
            _ => Ok(()),
        }
    }

    async fn execute(&self, in_transaction: bool) -> Result<QueryResult, TabletError> {
        self.executes.fetch_add(1, Ordering::Relaxed);
        if in_transaction {
            self.transactions.fetch_add(1, Ordering::Relaxed);
        }
        let latency = draw(&mut self.rngs().query, self.query_latency);
        self.serve(Work::Call, latency).await?;
        Ok(QueryResult {
            rows_affected: u64::from(in_transaction),
            rows: Vec::new(),
        })
    }

    async fn stream_execute(self: &Arc<Inner>) -> Result<RowStream, TabletError> {
        self.streams.fetch_add(1, Ordering::Relaxed);
        let started = time::now().since_start();
        let (first, length) = {
            let mut rngs = self.rngs();
            (
                draw(&mut rngs.query, self.query_latency),
                draw(&mut rngs.stream, self.stream_duration),
            )
        };
        // The start is a call: faults at arrival, and until the first chunk, apply to it.
        self.serve(Work::Call, first).await?;
        let (tx, rows) = RowStream::channel(2);
        // Room for two, so the first chunk never waits.
        let _ = tx.try_send(Ok(QueryResult::default()));
        let end = started + length.max(first);
        drop(task::spawn_named(
            "tablet/stream",
            produce(self.clone(), tx, end),
        ));
        Ok(rows)
    }
}

/// Sends the rest of a stream: its last chunk at `end`, unless the tablet goes down first.
async fn produce(tablet: Arc<Inner>, tx: RowSender, end: Duration) {
    let now = time::now().since_start();
    let dies = tablet.outages.first_start_within(now, end, |m| {
        matches!(m, TabletOutageMode::Hang | TabletOutageMode::Refuse)
    });
    let until = dies.map_or(end, |(from, _)| from);
    tokio::select! {
        biased;
        // Nobody reads any more (the stream was cut or dropped): stop early.
        () = tx.closed() => return,
        () = time::sleep_until(instant(until)) => {}
    }
    match dies {
        None => {
            let _ = tx.send(Ok(QueryResult::default())).await;
        }
        // A stopped process sends nothing more; the reader's deadline ends the stream.
        Some((_, TabletOutageMode::Hang)) => tx.closed().await,
        Some(_) => {
            tablet.faulted.fetch_add(1, Ordering::Relaxed);
            let _ = tx.send(Err(TabletError::operational(RESET_MESSAGE))).await;
        }
    }
}

/// The client side of a connection with a `send_latency`: each call first travels the network
/// (a delay drawn from rand stream `tablet/{uid}/send`), and only then reaches the
/// [`GuardedConn`] and takes its read lock. Close is not delayed.
///
/// This is the window of spec 7.2: a query that got the connection from `getConn` is still on
/// its way when a rotation tick starts closing the connection. Close waits for the calls holding
/// the lock; the late call queues behind the waiting Close (the lock is fair, like Go's RWMutex),
/// and then finds the connection closed: `ConnClosed`.
///
/// ```text
///  Q1:   lock held ----------------------------------|  (in flight)
///  tick:              closeCurrent: Close waits for the write lock --|closed
///  Q2:   getConn -> C1, send_latency ... | read lock: queued ---------|ConnClosed
/// ```
///
/// The caller's deadline does not cut the delay short; a call that reaches the lock past its
/// deadline fails with `DeadlineExceeded` there.
struct SendDelay {
    conn: Arc<dyn TabletConn>,
    tablet: Arc<Inner>,
}

impl fmt::Debug for SendDelay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendDelay")
            .field("conn", &self.conn)
            .field("send_latency", &self.tablet.send_latency)
            .finish()
    }
}

impl SendDelay {
    async fn travel(&self) {
        let delay = draw(&mut self.tablet.rngs().send, self.tablet.send_latency);
        time::sleep(delay).await;
    }
}

impl TabletConn for SendDelay {
    fn endpoint(&self) -> &EndPoint {
        self.conn.endpoint()
    }

    fn execute<'a>(
        &'a self,
        query: &'a str,
        in_transaction: bool,
        deadline: Option<Instant>,
    ) -> BoxFuture<'a, Result<QueryResult, TabletError>> {
        Box::pin(async move {
            self.travel().await;
            self.conn.execute(query, in_transaction, deadline).await
        })
    }

    fn stream_execute<'a>(
        &'a self,
        query: &'a str,
        deadline: Option<Instant>,
    ) -> BoxFuture<'a, Result<RowStream, TabletError>> {
        Box::pin(async move {
            self.travel().await;
            self.conn.stream_execute(query, deadline).await
        })
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        self.conn.close()
    }
}

/// The raw transport of one connection to a tablet; [`GuardedConn`] adds the close semantics.
struct Session {
    tablet: Arc<Inner>,
}

impl TabletTransport for Session {
    fn execute<'a>(
        &'a self,
        _query: &'a str,
        in_transaction: bool,
    ) -> impl std::future::Future<Output = Result<QueryResult, TabletError>> + Send + 'a {
        self.tablet.execute(in_transaction)
    }

    fn stream_execute<'a>(
        &'a self,
        _query: &'a str,
    ) -> BoxFuture<'a, Result<RowStream, TabletError>> {
        Box::pin(self.tablet.stream_execute())
    }
}

/// All the tablets of the shard, by uid: the [`TabletDialer`] a ShardConn dials through.
#[derive(Clone, Default)]
pub struct Tablets {
    tablets: BTreeMap<u32, Tablet>,
}

impl fmt::Debug for Tablets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.tablets.values()).finish()
    }
}

impl Tablets {
    /// The tablets of `configs`; streams run for a duration drawn from `stream_duration`.
    ///
    /// Create them inside the simulation, so that their latency streams derive from the seed.
    pub fn new(configs: &[TabletConfig], stream_duration: DurationRange) -> Tablets {
        Tablets {
            tablets: configs
                .iter()
                .map(|c| (c.uid, Tablet::new(c, stream_duration)))
                .collect(),
        }
    }

    /// The tablet with `uid`.
    pub fn get(&self, uid: u32) -> Option<&Tablet> {
        self.tablets.get(&uid)
    }

    /// Every tablet, by uid.
    pub fn iter(&self) -> impl Iterator<Item = &Tablet> {
        self.tablets.values()
    }
}

impl TabletDialer for Tablets {
    fn dial<'a>(
        &'a self,
        endpoint: &'a EndPoint,
        _timeout: Duration,
    ) -> BoxFuture<'a, Result<Arc<dyn TabletConn>, TabletError>> {
        // The ShardConn bounds the dial with its own timeout, so a hanging tablet may hang.
        Box::pin(async move {
            match self.tablets.get(&endpoint.uid) {
                Some(tablet) if tablet.endpoint().host == endpoint.host => tablet.dial().await,
                _ => Err(TabletError::operational(format!(
                    "vttablet: dial tcp: lookup {}: no such host",
                    endpoint.host
                ))),
            }
        })
    }
}
