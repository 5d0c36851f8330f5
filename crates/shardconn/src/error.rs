//! Typed errors, displayed with the texts Vitess produced so traces read like vtgate logs.

use std::error::Error;
use std::fmt;

use vtsim_runtime::time::Duration;

use crate::tablet::{EndPoint, TabletType, Target};

/// The error codes a vttablet server returned (Go: `tabletconn.ERR_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ServerCode {
    /// An ordinary query error (bad SQL, duplicate key). Never retried.
    Normal,
    /// The tablet cannot serve now (e.g. shutting down): mark down and retry elsewhere.
    Retry,
    /// The tablet is broken: like `Retry` for unary calls; a stream broken halfway is not retried.
    Fatal,
    /// The transaction pool is full. Not retried by this `ShardConn`.
    TxPoolFull,
    /// The transaction is unknown to the tablet.
    NotInTx,
}

/// Why a call to a tablet failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TabletError {
    /// The tablet answered with an error (Go: `tabletconn.ServerError`). Displays as `message`.
    Server {
        /// The code that decides retries.
        code: ServerCode,
        /// The server's text, e.g. `"retry: err"`.
        message: String,
    },
    /// The connection was closed before the call could start (Go: `tabletconn.ConnClosed`). An
    /// operational error: it marks the endpoint down and is not retried.
    ConnClosed,
    /// The transport failed: refused, reset, a stream cut by close (Go:
    /// `tabletconn.OperationalError`). Marks the endpoint down and is not retried.
    Operational(String),
    /// A dial did not complete within its per-connection timeout.
    DialTimeout(Duration),
    /// The caller's deadline passed during the call (gRPC's `DeadlineExceeded`).
    DeadlineExceeded,
}

impl TabletError {
    /// A server error with `code` and `message`.
    pub fn server(code: ServerCode, message: impl Into<String>) -> TabletError {
        TabletError::Server {
            code,
            message: message.into(),
        }
    }

    /// An operational error with `message`.
    pub fn operational(message: impl Into<String>) -> TabletError {
        TabletError::Operational(message.into())
    }

    /// The refusal a dial to a down tablet gets.
    pub fn refused() -> TabletError {
        TabletError::Operational("vttablet: connection refused".to_string())
    }

    /// The server code, for server errors.
    pub fn server_code(&self) -> Option<ServerCode> {
        match self {
            TabletError::Server { code, .. } => Some(*code),
            _ => None,
        }
    }
}

impl fmt::Display for TabletError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TabletError::Server { message, .. } => f.write_str(message),
            TabletError::ConnClosed => f.write_str("vttablet: Connection Closed"),
            TabletError::Operational(message) => f.write_str(message),
            TabletError::DialTimeout(d) => write!(f, "vttablet: dial timed out after {d:?}"),
            TabletError::DeadlineExceeded => {
                f.write_str("vttablet: rpc error: code = 4 desc = context deadline exceeded")
            }
        }
    }
}

impl Error for TabletError {}

/// A topology fetch failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopoError {
    message: String,
}

impl TopoError {
    /// A topo error with `message`.
    pub fn new(message: impl Into<String>) -> TopoError {
        TopoError {
            message: message.into(),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for TopoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Error for TopoError {}

/// One failed dial, as `getNewConn` recorded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DialFailure {
    /// The endpoint dialled.
    pub endpoint: EndPoint,
    /// Why it failed.
    pub error: TabletError,
}

/// `"{err} {endpoint}"`, as Go's `"%v %+v"`.
impl fmt::Display for DialFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.error, self.endpoint)
    }
}

/// Why no connection could be had (the `getConn` half of `withRetry`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectError {
    /// The topo fetch failed: `endpoints fetch error: ...`.
    Topo(TopoError),
    /// The topo listed no endpoints: `no available addresses`.
    NoAvailableAddresses,
    /// Every endpoint is marked down: `no valid endpoint`. Not a timeout, so it is retried.
    NoValidEndpoint,
    /// The balancer call alone used the whole budget. A timeout.
    TimeoutGettingEndpoints,
    /// Every endpoint was dialled and failed within the budget. Not a timeout, so it is retried.
    AllFailed(Vec<DialFailure>),
    /// The total budget ran out: after a failed dial (faithful), or before one (`budget_before_dial`).
    /// A timeout: `withRetry` gives up at once.
    Timeout {
        /// The dials that failed, in order.
        failures: Vec<DialFailure>,
        /// The endpoint dialled last, or about to be dialled.
        endpoint: EndPoint,
    },
    /// `consolidator_deadline`: the caller's deadline passed while it waited on another caller's
    /// dial. A timeout.
    WaitDeadline,
}

impl ConnectError {
    /// True for the errors that stop `withRetry` at once (Go's `isTimeout`).
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            ConnectError::TimeoutGettingEndpoints
                | ConnectError::Timeout { .. }
                | ConnectError::WaitDeadline
        )
    }
}

fn join(f: &mut fmt::Formatter<'_>, items: &[DialFailure], sep: &str) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::Topo(e) => write!(f, "endpoints fetch error: {e}"),
            ConnectError::NoAvailableAddresses => f.write_str("no available addresses"),
            ConnectError::NoValidEndpoint => f.write_str("no valid endpoint"),
            ConnectError::TimeoutGettingEndpoints => f.write_str("timeout when getting endpoints"),
            // Go's AllErrorRecorder.Error joins with ";".
            ConnectError::AllFailed(failures) => join(f, failures, ";"),
            // Go's AggregateVtGateErrors concatenates with newlines, the timeout last.
            ConnectError::Timeout { failures, endpoint } => {
                join(f, failures, "\n")?;
                if !failures.is_empty() {
                    f.write_str("\n")?;
                }
                write!(f, "timeout when connecting to {endpoint}")
            }
            ConnectError::WaitDeadline => f.write_str("context deadline exceeded"),
        }
    }
}

impl Error for ConnectError {}

/// What failed inside a [`ShardConnError`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorCause {
    /// No connection could be had.
    Connect(ConnectError),
    /// The tablet call failed.
    Tablet(TabletError),
}

impl fmt::Display for ErrorCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorCause::Connect(e) => e.fmt(f),
            ErrorCause::Tablet(e) => e.fmt(f),
        }
    }
}

/// A query failed after `withRetry` gave up (Go: `ShardConnError` from `WrapError`).
///
/// Displays as Go's `"shard, host: %s.%s.%s, %+v, %v"`:
/// `shard, host: ks.-80.replica, uid:1 host:"h1" port_map:<key:"vt" value:15001 > , retry: err`.
/// The endpoint prints `<nil>` when the failure was in getting a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShardConnError {
    /// Keyspace, shard and tablet type.
    pub target: Target,
    /// The endpoint of the connection the last attempt used, if it got one.
    pub endpoint: Option<EndPoint>,
    /// The query ran inside a transaction (Vitess's re-resolve hint).
    pub in_transaction: bool,
    /// What failed.
    pub cause: ErrorCause,
}

impl ShardConnError {
    pub(crate) fn new(
        target: &Target,
        endpoint: Option<EndPoint>,
        in_transaction: bool,
        cause: ErrorCause,
    ) -> ShardConnError {
        ShardConnError {
            target: target.clone(),
            endpoint,
            in_transaction,
            cause,
        }
    }

    /// The server code (Go: `ShardConnError.Code`): `Normal` unless the tablet answered with one.
    pub fn code(&self) -> ServerCode {
        self.tablet_error()
            .and_then(TabletError::server_code)
            .unwrap_or(ServerCode::Normal)
    }

    /// The tablet error, when the tablet call failed.
    pub fn tablet_error(&self) -> Option<&TabletError> {
        match &self.cause {
            ErrorCause::Tablet(e) => Some(e),
            ErrorCause::Connect(_) => None,
        }
    }

    /// The connect error, when no connection could be had.
    pub fn connect_error(&self) -> Option<&ConnectError> {
        match &self.cause {
            ErrorCause::Connect(e) => Some(e),
            ErrorCause::Tablet(_) => None,
        }
    }

    /// True when getting a connection timed out.
    pub fn is_timeout(&self) -> bool {
        self.connect_error().is_some_and(ConnectError::is_timeout)
    }

    /// The tablet type of the target.
    pub fn tablet_type(&self) -> TabletType {
        self.target.tablet_type
    }
}

impl fmt::Display for ShardConnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "shard, host: {}, ", self.target)?;
        match &self.endpoint {
            Some(ep) => write!(f, "{ep}")?,
            None => f.write_str("<nil>")?,
        }
        write!(f, ", {}", self.cause)
    }
}

impl Error for ShardConnError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match &self.cause {
            ErrorCause::Connect(e) => Some(e),
            ErrorCause::Tablet(e) => Some(e),
        }
    }
}
