//! The tablet side: endpoints, results, and the traits that a simulated world or production
//! implements to give a `ShardConn` its topology and its tablet connections.

use std::fmt;
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, Notify};
use vtsim_runtime::time::{self, Duration, Instant};

use crate::error::{TabletError, TopoError};

/// A boxed, `Send` future borrowing from `'a`: what the object-safe traits of this crate return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The role a tablet serves in its shard (Go: `topodatapb.TabletType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum TabletType {
    /// The primary. A `ShardConn` to masters never rotates its connection.
    Master,
    /// A serving replica.
    Replica,
    /// A read-only (batch) replica.
    Rdonly,
}

impl TabletType {
    /// The Go enum name, e.g. `"REPLICA"`.
    pub fn name(self) -> &'static str {
        match self {
            TabletType::Master => "MASTER",
            TabletType::Replica => "REPLICA",
            TabletType::Rdonly => "RDONLY",
        }
    }

    /// The lower-case name Vitess used in stats labels and error texts, e.g. `"replica"`.
    pub fn lower(self) -> &'static str {
        match self {
            TabletType::Master => "master",
            TabletType::Replica => "replica",
            TabletType::Rdonly => "rdonly",
        }
    }
}

impl fmt::Display for TabletType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a `ShardConn` serves: one tablet type of one shard of one keyspace.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Target {
    /// The keyspace, e.g. `"ks"`.
    pub keyspace: String,
    /// The shard, e.g. `"-80"`.
    pub shard: String,
    /// The tablet type.
    pub tablet_type: TabletType,
}

impl Target {
    /// A target from its parts.
    pub fn new(
        keyspace: impl Into<String>,
        shard: impl Into<String>,
        tablet_type: TabletType,
    ) -> Target {
        Target {
            keyspace: keyspace.into(),
            shard: shard.into(),
            tablet_type,
        }
    }
}

/// `ks.-80.replica`, as in Vitess's shard identifiers and consolidator keys.
impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{}.{}",
            self.keyspace,
            self.shard,
            self.tablet_type.lower()
        )
    }
}

/// One tablet as the topology lists it (Go: `topodatapb.EndPoint`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EndPoint {
    /// The tablet uid, unique within the shard. The balancer tracks markdowns by uid.
    pub uid: u32,
    /// The host name.
    pub host: String,
    /// The `vt` port.
    pub port: u16,
}

impl EndPoint {
    /// An endpoint from its parts.
    pub fn new(uid: u32, host: impl Into<String>, port: u16) -> EndPoint {
        EndPoint {
            uid,
            host: host.into(),
            port,
        }
    }
}

/// The proto3 compact text form that Go's `%+v` printed, zero fields left out, trailing space kept:
/// `uid:1 host:"h1" port_map:<key:"vt" value:15001 > `.
impl fmt::Display for EndPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.uid != 0 {
            write!(f, "uid:{} ", self.uid)?;
        }
        if !self.host.is_empty() {
            write!(f, "host:{:?} ", self.host)?;
        }
        if self.port != 0 {
            write!(f, "port_map:<key:\"vt\" value:{} > ", self.port)?;
        }
        Ok(())
    }
}

/// The result of a query, or one chunk of a streaming query (Go: `sqltypes.Result`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueryResult {
    /// Rows changed by a DML.
    pub rows_affected: u64,
    /// The rows, each a list of column values.
    pub rows: Vec<Vec<String>>,
}

/// The topology server: where a balancer learns which tablets serve a target.
///
/// A simulated topo may be slow (the balancer holds its lock for the whole fetch, as Vitess did),
/// fail, or return a changing list.
pub trait Topo: Send + Sync + fmt::Debug {
    /// The endpoints serving `tablet_type` in `keyspace`/`shard` (Go: `GetEndPoints`).
    fn endpoints<'a>(
        &'a self,
        keyspace: &'a str,
        shard: &'a str,
        tablet_type: TabletType,
    ) -> BoxFuture<'a, Result<Vec<EndPoint>, TopoError>>;
}

/// Opens connections to tablets (Go: `tabletconn.GetDialer()`).
pub trait TabletDialer: Send + Sync + fmt::Debug {
    /// Connects to `endpoint`.
    ///
    /// `timeout` is the per-connection timeout the caller chose. The `ShardConn` enforces it itself,
    /// so a simulated dialer may simply hang; a production dialer should also pass it to its
    /// transport. Wrap a raw transport in [`GuardedConn`](crate::GuardedConn) to get the close
    /// semantics of Vitess's gRPC tablet connection.
    fn dial<'a>(
        &'a self,
        endpoint: &'a EndPoint,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Arc<dyn TabletConn>, TabletError>>;
}

/// An open connection to one tablet (Go: `tabletconn.TabletConn`).
///
/// Implementations must honour `deadline` (the caller's context): at that instant an unfinished
/// call returns [`TabletError::DeadlineExceeded`]. [`GuardedConn`](crate::GuardedConn) does this
/// and the locking of Vitess's gRPC client for any [`TabletTransport`].
pub trait TabletConn: Send + Sync + fmt::Debug {
    /// The endpoint this connection was dialled to.
    fn endpoint(&self) -> &EndPoint;

    /// Runs one query to completion.
    fn execute<'a>(
        &'a self,
        query: &'a str,
        in_transaction: bool,
        deadline: Option<Instant>,
    ) -> BoxFuture<'a, Result<QueryResult, TabletError>>;

    /// Starts a streaming query. The error is the start error; later errors come from the stream.
    fn stream_execute<'a>(
        &'a self,
        query: &'a str,
        deadline: Option<Instant>,
    ) -> BoxFuture<'a, Result<RowStream, TabletError>>;

    /// Closes the connection. Later calls fail with [`TabletError::ConnClosed`]. Closing twice is a
    /// no-op.
    fn close(&self) -> BoxFuture<'_, ()>;
}

/// The raw transport to one tablet, without any close semantics: what a simulated tablet
/// implements. Wrap it in [`GuardedConn`](crate::GuardedConn) to get a [`TabletConn`].
///
/// A simulated transport can sleep (latency), hang forever, or return server codes; the guard adds
/// the locking, the closed state, the caller's deadline, and cutting streams on close.
pub trait TabletTransport: Send + Sync + 'static {
    /// Runs one query to completion. Not boxed: [`GuardedConn`](crate::GuardedConn) already
    /// boxes the call, and one allocation per query is enough.
    fn execute<'a>(
        &'a self,
        query: &'a str,
        in_transaction: bool,
    ) -> impl Future<Output = Result<QueryResult, TabletError>> + Send + 'a;

    /// Starts a streaming query; see [`RowStream::channel`].
    fn stream_execute<'a>(
        &'a self,
        query: &'a str,
    ) -> BoxFuture<'a, Result<RowStream, TabletError>>;

    /// Tears the transport down (Go: `cc.Close()`), called once, under the guard's write lock.
    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// The sending half of a [`RowStream`], held by whatever produces the rows.
pub type RowSender = mpsc::Sender<Result<QueryResult, TabletError>>;

/// The rows of a streaming query, chunk by chunk (Go: the `<-chan *sqltypes.Result` and its
/// `ErrFunc`, folded into one).
///
/// [`next`](RowStream::next) yields `Some(Ok(chunk))` per chunk, then `None` at a clean end, or one
/// `Some(Err(..))` and then `None`.
pub struct RowStream {
    rx: mpsc::Receiver<Result<QueryResult, TabletError>>,
    cut: Option<Arc<CloseSignal>>,
    deadline: Option<Instant>,
    done: bool,
}

impl fmt::Debug for RowStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RowStream")
            .field("deadline", &self.deadline)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

/// A one-way "closed" flag that many tasks can wait on.
///
/// Not a `tokio::sync::watch`: with tokio's `rt` feature on, watch spreads its waiters over eight
/// `Notify`s chosen by tokio's thread-local RNG, so several waiters wake in an unseeded order.
/// `Notify::notify_waiters` wakes them in a fixed order.
#[derive(Debug, Default)]
pub(crate) struct CloseSignal {
    closed: AtomicBool,
    notify: Notify,
}

impl CloseSignal {
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    pub(crate) async fn closed(&self) {
        loop {
            let mut notified = pin!(self.notify.notified());
            // Registered before the check, so a close in between is not missed.
            notified.as_mut().enable();
            if self.is_closed() {
                return;
            }
            notified.await;
        }
    }
}

/// What a stream cut by a closing connection reports (Go's gRPC text of the time).
pub(crate) const STREAM_CUT: &str =
    "vttablet: rpc error: code = 1 desc = grpc: the client connection is closing";

impl RowStream {
    /// A stream and its sender, with room for `buffer` chunks (Vitess used 10). Dropping the sender
    /// ends the stream cleanly; sending an `Err` ends it with that error.
    pub fn channel(buffer: usize) -> (RowSender, RowStream) {
        let (tx, rx) = mpsc::channel(buffer.max(1));
        (tx, RowStream::from_receiver(rx))
    }

    /// A stream reading from `rx`.
    pub fn from_receiver(rx: mpsc::Receiver<Result<QueryResult, TabletError>>) -> RowStream {
        RowStream {
            rx,
            cut: None,
            deadline: None,
            done: false,
        }
    }

    /// Ends the stream with an operational error once `closed` is closed.
    pub(crate) fn cut_when(mut self, closed: Arc<CloseSignal>) -> RowStream {
        self.cut = Some(closed);
        self
    }

    /// Ends the stream with [`TabletError::DeadlineExceeded`] at `deadline`.
    pub(crate) fn with_deadline(mut self, deadline: Option<Instant>) -> RowStream {
        self.deadline = match (self.deadline, deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self
    }

    /// The next chunk, the final error, or `None` at the end.
    ///
    /// A cut wins over chunks still buffered, as gRPC dropped its buffers when the client
    /// connection closed.
    pub async fn next(&mut self) -> Option<Result<QueryResult, TabletError>> {
        if self.done {
            return None;
        }
        let RowStream {
            rx, cut, deadline, ..
        } = self;
        let cut = async {
            match cut {
                Some(signal) => signal.closed().await,
                None => std::future::pending::<()>().await,
            }
        };
        let expired = async {
            match deadline {
                Some(d) => time::sleep_until(*d).await,
                None => std::future::pending::<()>().await,
            }
        };
        let item = tokio::select! {
            biased;
            () = cut => Some(Err(TabletError::Operational(STREAM_CUT.to_string()))),
            () = expired => Some(Err(TabletError::DeadlineExceeded)),
            item = rx.recv() => item,
        };
        if !matches!(item, Some(Ok(_))) {
            self.done = true;
        }
        item
    }
}
