//! Vitess's gRPC tablet connection close semantics around any raw transport (spec 3.8).

use std::fmt;
use std::sync::Arc;

use tokio::sync::RwLock;
use vtsim_runtime::time::{self, Instant};

use crate::error::TabletError;
use crate::tablet::{
    BoxFuture, CloseSignal, EndPoint, QueryResult, RowStream, TabletConn, TabletTransport,
};

/// A [`TabletConn`] with the close semantics of Vitess's gRPC `tabletconn` of the time.
///
/// - A unary call holds a read lock for the whole RPC; [`close`](TabletConn::close) takes the write
///   lock, so it waits for the calls already in flight.
/// - A call that arrives while `close` waits queues behind it (tokio's `RwLock` is fair and
///   writer-preferring, like Go's `RWMutex`), then finds the transport gone and fails with
///   [`TabletError::ConnClosed`].
/// - A stream holds the lock only while it starts, so `close` cuts off running streams: their next
///   read fails with an operational error.
/// - The caller's deadline bounds the RPC itself, not the wait for the lock, as in Go where
///   `RLock` ignores the context.
pub struct GuardedConn<T> {
    endpoint: EndPoint,
    transport: RwLock<Option<T>>,
    closed: Arc<CloseSignal>,
}

impl<T> fmt::Debug for GuardedConn<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardedConn")
            .field("endpoint", &self.endpoint)
            .field("closed", &self.closed.is_closed())
            .finish_non_exhaustive()
    }
}

impl<T: TabletTransport> GuardedConn<T> {
    /// Wraps `transport`, dialled to `endpoint`.
    pub fn new(endpoint: EndPoint, transport: T) -> GuardedConn<T> {
        GuardedConn {
            endpoint,
            transport: RwLock::new(Some(transport)),
            closed: Arc::default(),
        }
    }

    /// True once a close has taken the transport away.
    pub fn is_closed(&self) -> bool {
        self.closed.is_closed()
    }
}

/// `lock.read()`, without tokio's waiter machinery when the lock is free: `try_read` succeeds
/// exactly when `read` would at once, since the lock is fair (a queued writer holds the permits).
async fn read<T>(lock: &RwLock<T>) -> tokio::sync::RwLockReadGuard<'_, T> {
    match lock.try_read() {
        Ok(guard) => guard,
        // Boxed: the wait's future is large, and waiting is rare.
        Err(_) => Box::pin(lock.read()).await,
    }
}

async fn bounded<F, R>(deadline: Option<Instant>, call: F) -> Result<R, TabletError>
where
    F: std::future::Future<Output = Result<R, TabletError>>,
{
    match deadline {
        Some(d) if time::now() >= d => Err(TabletError::DeadlineExceeded),
        Some(d) => time::timeout_at(d, call)
            .await
            .unwrap_or(Err(TabletError::DeadlineExceeded)),
        None => call.await,
    }
}

impl<T: TabletTransport> TabletConn for GuardedConn<T> {
    fn endpoint(&self) -> &EndPoint {
        &self.endpoint
    }

    fn execute<'a>(
        &'a self,
        query: &'a str,
        in_transaction: bool,
        deadline: Option<Instant>,
    ) -> BoxFuture<'a, Result<QueryResult, TabletError>> {
        Box::pin(async move {
            // Held for the whole RPC, so close waits for it.
            let guard = read(&self.transport).await;
            let Some(transport) = guard.as_ref() else {
                return Err(TabletError::ConnClosed);
            };
            bounded(deadline, transport.execute(query, in_transaction)).await
        })
    }

    fn stream_execute<'a>(
        &'a self,
        query: &'a str,
        deadline: Option<Instant>,
    ) -> BoxFuture<'a, Result<RowStream, TabletError>> {
        Box::pin(async move {
            let guard = read(&self.transport).await;
            let Some(transport) = guard.as_ref() else {
                return Err(TabletError::ConnClosed);
            };
            let stream = bounded(deadline, transport.stream_execute(query)).await?;
            // The guard drops here: a running stream does not hold close off, close cuts it.
            Ok(stream.cut_when(self.closed.clone()).with_deadline(deadline))
        })
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let mut guard = self.transport.write().await;
            if let Some(transport) = guard.take() {
                self.closed.close();
                transport.close().await;
            }
        })
    }
}
