//! The vtgate `ShardConn` (`go/vt/vtgate/shard_conn.go`, spec 3).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex, PoisonError, Weak};

use tokio::sync::Mutex;
use vtsim_runtime::task;
use vtsim_runtime::time::{self, Duration, Instant};
use vtsim_timer::{Fixes, RandTicker, TickerStop, Ticks};

use crate::balancer::{Balancer, DEFAULT_RESET_DOWN_CONN_DELAY};
use crate::consolidator::{Consolidated, Consolidator};
use crate::error::{
    ConnectError, DialFailure, ErrorCause, ServerCode, ShardConnError, TabletError,
};
use crate::tablet::{
    EndPoint, QueryResult, RowStream, TabletConn, TabletDialer, TabletType, Target, Topo,
};
use crate::timings::ConnectTimings;

/// The settings of a [`ShardConn`], with vtgate's flag defaults.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ShardConnConfig {
    /// Sleep between attempts after a failed connect, and how long a markdown lasts. Default 2ms.
    pub retry_delay: Duration,
    /// Retries after the first attempt. Default 2, so at most 3 attempts.
    pub retry_count: u32,
    /// The budget for getting one connection across all endpoints. Default 3s.
    pub conn_timeout_total: Duration,
    /// The timeout of one dial when there are several endpoints. Default 1500ms.
    pub conn_timeout_per_conn: Duration,
    /// The mean connection lifetime before rotation (non-master only). Default 365 days.
    pub conn_life: Duration,
    /// When the balancer forgets an expired markdown. Default 10 minutes.
    pub reset_down_conn_delay: Duration,
    /// Where connect durations are recorded; share one between `ShardConn`s to aggregate.
    pub connect_timings: ConnectTimings,
}

impl Default for ShardConnConfig {
    fn default() -> ShardConnConfig {
        ShardConnConfig {
            retry_delay: Duration::from_millis(2),
            retry_count: 2,
            conn_timeout_total: Duration::from_secs(3),
            conn_timeout_per_conn: Duration::from_millis(1500),
            conn_life: Duration::from_secs(365 * 24 * 3600),
            reset_down_conn_delay: DEFAULT_RESET_DOWN_CONN_DELAY,
            connect_timings: ConnectTimings::new(),
        }
    }
}

/// A load-balanced, self-healing connection to one tablet type of one shard.
///
/// All callers share one tablet connection. The first caller to find none dials one
/// (consolidated: concurrent callers wait for that dial), trying the balancer's endpoints in order
/// under a total budget. Queries are retried per Vitess's `withRetry`/`canRetry` rules. For
/// non-master types, a `RandTicker` closes the connection every `[L/2, 3L/2)` so load spreads.
///
/// Faithful by default, bugs included; each bug has a knob in [`Fixes`]:
/// - `budget_before_dial`: the total budget is checked before each dial and caps it;
/// - `consolidator_deadline`: a waiter on another caller's dial gives up at its own deadline;
/// - `rotate_idle_only`: a rotation tick that finds calls in flight retires the connection instead
///   of closing it: new callers dial a fresh connection at once, and the old one closes when its
///   last call (or stream) ends. An idle connection is closed at once, as before. No tick is lost
///   or postponed; the trace still says `shardconn.rotated` at the tick, with `deferred = true`;
/// - `shuffle_recovered`, `inclusive_markdown`: see [`Balancer`].
///
/// Must be created inside a runtime (a simulation, or tokio): it spawns the rotation task.
pub struct ShardConn {
    inner: Arc<Inner>,
}

struct Inner {
    target: Target,
    // The consolidator key, Go's "keyspace.shard.type".
    key: String,
    config: ShardConnConfig,
    fixes: Fixes,
    dialer: Arc<dyn TabletDialer>,
    balancer: Balancer,
    consolidator: Consolidator<ConnResult>,
    // Go's `sdc.mu`. Async, because `markDown` holds it across the balancer's lock.
    state: Mutex<State>,
    dangling: Arc<AtomicU64>,
    ticker: Option<TickerStop>,
}

#[derive(Default)]
struct State {
    current: Option<Current>,
    generations: u64,
}

/// The connection in use, with a generation so `markDown(conn)` can tell "still the current one".
#[derive(Clone)]
struct Current {
    conn: Arc<dyn TabletConn>,
    generation: u64,
    calls: Arc<StdMutex<Calls>>,
}

#[derive(Default)]
struct Calls {
    in_flight: usize,
    // rotate_idle_only: closed when `in_flight` drops to 0.
    retire: bool,
}

type ConnResult = Result<Current, ConnectError>;

impl fmt::Debug for ShardConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShardConn")
            .field("target", &self.inner.target)
            .field("config", &self.inner.config)
            .field("fixes", &self.inner.fixes)
            .field("dangling", &self.dangling())
            .finish_non_exhaustive()
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn lock_calls(calls: &StdMutex<Calls>) -> std::sync::MutexGuard<'_, Calls> {
    calls.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Closes `conn` in its own task; `dangling` counts it until the close completes.
fn close_in_background(
    target: &Target,
    conn: Arc<dyn TabletConn>,
    dangling: Arc<AtomicU64>,
    counted: bool,
) {
    if !counted {
        dangling.fetch_add(1, Ordering::SeqCst);
    }
    // Detached, like Go's `go conn.Close()`.
    drop(task::spawn_named(
        format!("shardconn/close/{target}"),
        async move {
            conn.close().await;
            dangling.fetch_sub(1, Ordering::SeqCst);
        },
    ));
}

/// One attempt's hold on the current connection: counts it as in flight until dropped.
struct CallGuard {
    current: Current,
    // For the close when the last call on a retired connection ends; an `Arc` rather than copies
    // of the target, which would cost allocations on every call.
    inner: Arc<Inner>,
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        let close = {
            let mut calls = lock_calls(&self.current.calls);
            calls.in_flight -= 1;
            calls.in_flight == 0 && std::mem::take(&mut calls.retire)
        };
        if close {
            // Already counted as dangling when rotation retired it.
            close_in_background(
                &self.inner.target,
                self.current.conn.clone(),
                self.inner.dangling.clone(),
                true,
            );
        }
    }
}

enum Op<'q> {
    Execute {
        query: &'q str,
        in_transaction: bool,
    },
    Stream {
        query: &'q str,
    },
}

enum Outcome {
    Rows(QueryResult),
    Stream(RowStream),
}

impl Op<'_> {
    fn query(&self) -> &str {
        match self {
            Op::Execute { query, .. } | Op::Stream { query } => query,
        }
    }

    fn in_transaction(&self) -> bool {
        matches!(
            self,
            Op::Execute {
                in_transaction: true,
                ..
            }
        )
    }

    fn is_streaming(&self) -> bool {
        matches!(self, Op::Stream { .. })
    }

    async fn run(
        &self,
        conn: &dyn TabletConn,
        deadline: Option<Instant>,
    ) -> Result<Outcome, TabletError> {
        match *self {
            Op::Execute {
                query,
                in_transaction,
            } => conn
                .execute(query, in_transaction, deadline)
                .await
                .map(Outcome::Rows),
            Op::Stream { query } => conn
                .stream_execute(query, deadline)
                .await
                .map(Outcome::Stream),
        }
    }
}

impl ShardConn {
    /// A `ShardConn` for `tablet_type` in `keyspace`/`shard` (Go: `NewShardConn`).
    ///
    /// For non-master types it starts `RandTicker::new(name, conn_life, conn_life / 2)`, named
    /// `shardconn/{keyspace}/{shard}/{type}`, and a task that closes the current connection on each
    /// tick. Rotation is thus timed from this call, not from when a connection was made.
    ///
    /// # Panics
    /// When the ticker refuses `conn_life` (faithful: a `conn_life` under 2ns makes Go's
    /// `Int63n(0)` panic; with `ticker_zero_variance` only a zero `conn_life` does).
    pub fn new(
        keyspace: impl Into<String>,
        shard: impl Into<String>,
        tablet_type: TabletType,
        topo: Arc<dyn Topo>,
        dialer: Arc<dyn TabletDialer>,
        config: ShardConnConfig,
        fixes: Fixes,
    ) -> ShardConn {
        let target = Target::new(keyspace, shard, tablet_type);
        let balancer = Balancer::new(
            target.clone(),
            topo,
            config.retry_delay,
            config.reset_down_conn_delay,
            fixes,
        );
        let (ticks, ticker) = if tablet_type == TabletType::Master {
            (None, None)
        } else {
            let name = format!(
                "shardconn/{}/{}/{}",
                target.keyspace,
                target.shard,
                tablet_type.lower()
            );
            match RandTicker::new(&name, config.conn_life, config.conn_life / 2, &fixes) {
                Ok(ticker) => {
                    let (ticks, stop) = ticker.into_parts();
                    (Some(ticks), Some(stop))
                }
                Err(e) => panic!(
                    "vtsim-shardconn: NewRandTicker(conn_life = {:?}) for {target}: {e}",
                    config.conn_life
                ),
            }
        };
        let inner = Arc::new(Inner {
            key: target.to_string(),
            target,
            config,
            fixes,
            dialer,
            balancer,
            consolidator: Consolidator::new(),
            state: Mutex::new(State::default()),
            dangling: Arc::new(AtomicU64::new(0)),
            ticker,
        });
        if let Some(ticks) = ticks {
            // Detached: it ends when the ticker closes after `close`, or when the ShardConn is gone.
            drop(task::spawn_named(
                format!("shardconn/rotation/{}", inner.target),
                rotation_loop(Arc::downgrade(&inner), ticks),
            ));
        }
        ShardConn { inner }
    }

    /// Keyspace, shard and tablet type.
    pub fn target(&self) -> &Target {
        &self.inner.target
    }

    /// Runs `query`, retrying per Vitess's rules. `deadline` is the caller's context: it bounds the
    /// tablet call and stops retries, but not dialling (faithful).
    pub async fn execute(
        &self,
        query: &str,
        in_transaction: bool,
        deadline: Option<Instant>,
    ) -> Result<QueryResult, ShardConnError> {
        let started = time::now();
        let op = Op::Execute {
            query,
            in_transaction,
        };
        let (outcome, guard, attempts) = self.inner.with_retry(&op, deadline, started).await?;
        let uid = guard.current.conn.endpoint().uid;
        drop(guard);
        self.inner.query_ok(query, uid, attempts, started, true);
        match outcome {
            Outcome::Rows(rows) => Ok(rows),
            Outcome::Stream(_) => unreachable!("execute yields rows"),
        }
    }

    /// Starts a streaming query. Only the start is retried; an error mid-stream ends the stream.
    /// The stream counts as a call in flight until it ends or is dropped.
    pub async fn stream_execute(
        &self,
        query: &str,
        deadline: Option<Instant>,
    ) -> Result<ShardStream, ShardConnError> {
        let started = time::now();
        let op = Op::Stream { query };
        let (outcome, guard, attempts) = self.inner.with_retry(&op, deadline, started).await?;
        let Outcome::Stream(rows) = outcome else {
            unreachable!("stream_execute yields a stream")
        };
        Ok(ShardStream {
            rows,
            endpoint: guard.current.conn.endpoint().clone(),
            guard: Some(guard),
            inner: self.inner.clone(),
            query: query.to_string(),
            attempts,
            started,
        })
    }

    /// Stops the rotation ticker, then closes the current connection in the background.
    ///
    /// For a non-master type a second `close` panics, as Go's second `ticker.Stop()` did (unless the
    /// `ticker_stop` fix is on).
    pub async fn close(&self) {
        if let Some(ticker) = &self.inner.ticker {
            ticker.stop();
        }
        self.inner.close_current().await;
    }

    /// Connect durations recorded by this `ShardConn`, under `[keyspace, shard, lower(type)]`.
    pub fn connect_timings(&self) -> &ConnectTimings {
        &self.inner.config.connect_timings
    }

    /// Connections being closed in the background whose close has not completed (Go:
    /// `DanglingTabletConn`, counted here per `ShardConn` and from the moment of the close call).
    pub fn dangling(&self) -> u64 {
        self.inner.dangling.load(Ordering::SeqCst)
    }

    /// The endpoint of the current connection, if there is one.
    pub async fn current_endpoint(&self) -> Option<EndPoint> {
        let state = self.inner.state.lock().await;
        state.current.as_ref().map(|c| c.conn.endpoint().clone())
    }

    /// The balancer, for inspecting markdowns.
    pub fn balancer(&self) -> &Balancer {
        &self.inner.balancer
    }
}

async fn rotation_loop(inner: Weak<Inner>, mut ticks: Ticks) {
    // Go: `for range ticker.C { sdc.closeCurrent() }`.
    while ticks.recv().await.is_some() {
        let Some(inner) = inner.upgrade() else {
            break;
        };
        inner.rotate().await;
    }
}

impl Inner {
    fn guard(self: &Arc<Inner>, current: &Current) -> CallGuard {
        lock_calls(&current.calls).in_flight += 1;
        CallGuard {
            current: current.clone(),
            inner: self.clone(),
        }
    }

    fn close_conn(&self, conn: Arc<dyn TabletConn>) {
        close_in_background(&self.target, conn, self.dangling.clone(), false);
    }

    /// Go: `closeCurrent`.
    async fn close_current(&self) -> Option<Current> {
        let mut state = self.state.lock().await;
        let current = state.current.take()?;
        self.close_conn(current.conn.clone());
        Some(current)
    }

    /// A rotation tick: `closeCurrent`, or with `rotate_idle_only` retire a busy connection.
    async fn rotate(&self) {
        let mut state = self.state.lock().await;
        let Some(current) = state.current.take() else {
            return;
        };
        let (in_flight, deferred) = {
            let mut calls = lock_calls(&current.calls);
            let deferred = self.fixes.rotate_idle_only && calls.in_flight > 0;
            calls.retire = deferred;
            (calls.in_flight, deferred)
        };
        let endpoint = current.conn.endpoint();
        vtsim_runtime::trace_event!(INFO,
            kind = "shardconn.rotated",
            keyspace = self.target.keyspace.as_str(),
            shard = self.target.shard.as_str(),
            tablet_type = self.target.tablet_type.lower(),
            uid = endpoint.uid,
            host = %endpoint.host,
            in_flight = in_flight as u64,
            deferred,
            "Rotating tablet connection"
        );
        if deferred {
            // The last call's guard closes it.
            self.dangling.fetch_add(1, Ordering::SeqCst);
        } else {
            self.close_conn(current.conn);
        }
    }

    /// Go: `getConn`.
    async fn get_conn(
        self: &Arc<Inner>,
        deadline: Option<Instant>,
    ) -> Result<CallGuard, ConnectError> {
        // `try_lock` succeeds exactly when `lock` would at once (tokio's locks are fair), without
        // the waiter machinery: the common case, once per query.
        let state = match self.state.try_lock() {
            Ok(state) => state,
            // Boxed: the lock future is large, and waiting is rare.
            Err(_) => Box::pin(self.state.lock()).await,
        };
        if let Some(current) = &state.current {
            return Ok(self.guard(current));
        }
        let (slot, created) = self.consolidator.create(&self.key);
        drop(state);
        // Boxed: rare, and large enough to bloat every query's future.
        Box::pin(self.dial_or_wait(slot, created, deadline)).await
    }

    /// `getConn` with no current connection: dial (consolidated), or wait on the caller dialling.
    async fn dial_or_wait(
        self: &Arc<Inner>,
        slot: Consolidated<ConnResult>,
        created: bool,
        deadline: Option<Instant>,
    ) -> Result<CallGuard, ConnectError> {
        let result = if created {
            // The dial runs in its own task, so a caller dropped mid-dial cannot strand the waiters:
            // in Go nothing could cancel it either.
            let inner = self.clone();
            let dial = task::spawn_named(format!("shardconn/dial/{}", self.target), async move {
                let result = inner.get_new_conn().await;
                slot.broadcast(result.clone());
                result
            });
            match dial.await {
                Ok(result) => result,
                Err(e) => panic!(
                    "vtsim-shardconn: the dial task for {} failed: {e}",
                    self.target
                ),
            }
        } else {
            let waited_from = time::now();
            let result = match deadline {
                Some(d) if self.fixes.consolidator_deadline => slot
                    .wait_until(d)
                    .await
                    .unwrap_or(Err(ConnectError::WaitDeadline)),
                _ => slot.wait().await,
            };
            let error = result.as_ref().err().map(ToString::to_string);
            vtsim_runtime::trace_event!(
                INFO,
                kind = "shardconn.consolidated",
                keyspace = self.target.keyspace.as_str(),
                shard = self.target.shard.as_str(),
                tablet_type = self.target.tablet_type.lower(),
                ok = result.is_ok(),
                error = error.as_deref().unwrap_or(""),
                waited_ms = ms(time::now() - waited_from),
                "Waited on a consolidated dial"
            );
            result
        };
        result.map(|current| self.guard(&current))
    }

    /// Go: `getNewConn`.
    async fn get_new_conn(&self) -> ConnResult {
        let start = time::now();
        let total = self.config.conn_timeout_total;
        let endpoints = self.balancer.get().await?;
        if endpoints.is_empty() {
            return Err(ConnectError::NoValidEndpoint);
        }
        if time::now() - start >= total {
            return Err(ConnectError::TimeoutGettingEndpoints);
        }
        let per_conn = if endpoints.len() <= 1 {
            total
        } else {
            self.config.conn_timeout_per_conn.min(total)
        };
        let mut failures = Vec::new();
        for endpoint in endpoints {
            let mut timeout = per_conn;
            if self.fixes.budget_before_dial {
                let spent = time::now() - start;
                if spent >= total {
                    return Err(ConnectError::Timeout { failures, endpoint });
                }
                timeout = timeout.min(total - spent);
            }
            let dial_start = time::now();
            vtsim_runtime::trace_event!(INFO,
                kind = "shardconn.dial",
                keyspace = self.target.keyspace.as_str(),
                shard = self.target.shard.as_str(),
                tablet_type = self.target.tablet_type.lower(),
                uid = endpoint.uid,
                host = %endpoint.host,
                port = endpoint.port,
                timeout_ms = ms(timeout),
                "Dialling tablet"
            );
            // Only the per-connection timeout bounds the dial, never the caller's deadline.
            let dialled = time::timeout(timeout, self.dialer.dial(&endpoint, timeout))
                .await
                .unwrap_or(Err(TabletError::DialTimeout(timeout)));
            let elapsed = time::now() - dial_start;
            match dialled {
                Ok(conn) => {
                    self.config.connect_timings.record(
                        [
                            &self.target.keyspace,
                            &self.target.shard,
                            self.target.tablet_type.lower(),
                        ],
                        elapsed,
                    );
                    let mut state = self.state.lock().await;
                    state.generations += 1;
                    let current = Current {
                        conn,
                        generation: state.generations,
                        calls: Arc::default(),
                    };
                    state.current = Some(current.clone());
                    vtsim_runtime::trace_event!(INFO,
                        kind = "shardconn.connected",
                        keyspace = self.target.keyspace.as_str(),
                        shard = self.target.shard.as_str(),
                        tablet_type = self.target.tablet_type.lower(),
                        uid = endpoint.uid,
                        host = %endpoint.host,
                        elapsed_ms = ms(elapsed),
                        "Connected to tablet"
                    );
                    return Ok(current);
                }
                Err(error) => {
                    vtsim_runtime::trace_event!(WARN,
                        kind = "shardconn.dial_failed",
                        keyspace = self.target.keyspace.as_str(),
                        shard = self.target.shard.as_str(),
                        tablet_type = self.target.tablet_type.lower(),
                        uid = endpoint.uid,
                        host = %endpoint.host,
                        error = %error,
                        timeout = matches!(error, TabletError::DialTimeout(_)),
                        elapsed_ms = ms(elapsed),
                        "Dial failed"
                    );
                    self.balancer
                        .mark_down(endpoint.uid, &error.to_string())
                        .await;
                    failures.push(DialFailure {
                        endpoint: endpoint.clone(),
                        error,
                    });
                    // Faithful: the budget is checked only here, after a failed dial.
                    if time::now() - start >= total {
                        return Err(ConnectError::Timeout { failures, endpoint });
                    }
                }
            }
        }
        Err(ConnectError::AllFailed(failures))
    }

    /// Go: `withRetry`. Returns the outcome, the hold on the connection, and the attempts made.
    async fn with_retry(
        self: &Arc<Inner>,
        op: &Op<'_>,
        deadline: Option<Instant>,
        started: Instant,
    ) -> Result<(Outcome, CallGuard, u32), ShardConnError> {
        let retry_count = self.config.retry_count;
        // Boxed: set only on failures, and kept across every await of the loop.
        let mut last: Option<Box<(ErrorCause, Option<EndPoint>)>> = None;
        let mut attempts = 0;
        for attempt in 0..=retry_count {
            attempts = attempt + 1;
            // Each await's result is matched in the statement that awaits it, and the sleep is
            // outside the match: a local kept across later awaits takes room in every query's future.
            let connected = match self.get_conn(deadline).await {
                Ok(guard) => Some(guard),
                Err(error) => {
                    let stop = error.is_timeout() || attempt == retry_count;
                    if !stop {
                        self.query_retry(
                            op.query(),
                            attempts,
                            "connect",
                            &error,
                            self.config.retry_delay,
                        );
                    }
                    last = Some(Box::new((ErrorCause::Connect(error), None)));
                    if stop {
                        break;
                    }
                    None
                }
            };
            let Some(guard) = connected else {
                time::sleep(self.config.retry_delay).await;
                continue;
            };
            let error = match op.run(&*guard.current.conn, deadline).await {
                Ok(outcome) => return Ok((outcome, guard, attempts)),
                Err(error) => error,
            };
            // Only a failed call needs its connection after the call is over.
            let current = guard.current.clone();
            drop(guard);
            // Boxed: only failed calls get here.
            let retry = Box::pin(self.can_retry(
                &error,
                deadline,
                op.in_transaction(),
                op.is_streaming(),
                &current,
            ))
            .await;
            let again = retry && attempt < retry_count;
            if again {
                self.query_retry(op.query(), attempts, "tablet", &error, Duration::ZERO);
            }
            last = Some(Box::new((
                ErrorCause::Tablet(error),
                Some(current.conn.endpoint().clone()),
            )));
            if !again {
                break;
            }
        }
        let (cause, endpoint) = *last.expect("withRetry makes at least one attempt");
        let phase = match cause {
            ErrorCause::Connect(_) => "connect",
            _ => "tablet",
        };
        let error = ShardConnError::new(&self.target, endpoint, op.in_transaction(), cause);
        self.query_failed(op.query(), attempts, started, &error, phase);
        Err(error)
    }

    /// Go: `canRetry`.
    async fn can_retry(
        &self,
        error: &TabletError,
        deadline: Option<Instant>,
        in_transaction: bool,
        streaming: bool,
        current: &Current,
    ) -> bool {
        if deadline.is_some_and(|d| time::now() >= d) {
            return false;
        }
        match error.server_code() {
            // vttablet sends FATAL for a stream broken halfway: not retried.
            Some(ServerCode::Fatal) if streaming => false,
            Some(ServerCode::Retry | ServerCode::Fatal) => {
                self.mark_down(current, error).await;
                !in_transaction
            }
            Some(_) => false,
            None => {
                // Operational: mark down, but do not retry.
                self.mark_down(current, error).await;
                false
            }
        }
    }

    /// Go: `markDown(conn)`: only if `current` is still the current connection.
    async fn mark_down(&self, current: &Current, reason: &TabletError) {
        let mut state = self.state.lock().await;
        if state.current.as_ref().map(|c| c.generation) != Some(current.generation) {
            return;
        }
        // Held across the balancer's lock, as Go held `sdc.mu`.
        self.balancer
            .mark_down(current.conn.endpoint().uid, &reason.to_string())
            .await;
        if let Some(old) = state.current.take() {
            self.close_conn(old.conn);
        }
    }

    fn query_retry(
        &self,
        query: &str,
        attempt: u32,
        phase: &str,
        error: &dyn fmt::Display,
        sleep: Duration,
    ) {
        vtsim_runtime::trace_event!(INFO,
            kind = "query.retry",
            keyspace = self.target.keyspace.as_str(),
            shard = self.target.shard.as_str(),
            tablet_type = self.target.tablet_type.lower(),
            query,
            attempt,
            phase,
            error = %error,
            sleep_ms = ms(sleep),
            "Retrying query"
        );
    }

    fn query_ok(&self, query: &str, uid: u32, attempts: u32, started: Instant, complete: bool) {
        vtsim_runtime::trace_event!(
            INFO,
            kind = "query.ok",
            keyspace = self.target.keyspace.as_str(),
            shard = self.target.shard.as_str(),
            tablet_type = self.target.tablet_type.lower(),
            query,
            uid,
            attempts,
            complete,
            elapsed_ms = ms(time::now() - started),
            "Query succeeded"
        );
    }

    fn query_failed(
        &self,
        query: &str,
        attempts: u32,
        started: Instant,
        error: &ShardConnError,
        phase: &str,
    ) {
        vtsim_runtime::trace_event!(WARN,
            kind = "query.failed",
            keyspace = self.target.keyspace.as_str(),
            shard = self.target.shard.as_str(),
            tablet_type = self.target.tablet_type.lower(),
            query,
            uid = error.endpoint.as_ref().map_or(0, |e| e.uid),
            attempts,
            phase,
            timeout = error.is_timeout(),
            error = %error,
            elapsed_ms = ms(time::now() - started),
            "Query failed"
        );
    }
}

/// The rows of a streaming query started by [`ShardConn::stream_execute`].
///
/// The trace gets one `query.ok` when the stream ends cleanly (or is dropped early, with
/// `complete = false`), or one `query.failed` when it breaks.
pub struct ShardStream {
    rows: RowStream,
    endpoint: EndPoint,
    // Some until the stream ends: the connection counts it as a call in flight.
    guard: Option<CallGuard>,
    inner: Arc<Inner>,
    query: String,
    attempts: u32,
    started: Instant,
}

impl fmt::Debug for ShardStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShardStream")
            .field("target", &self.inner.target)
            .field("endpoint", &self.endpoint)
            .field("done", &self.guard.is_none())
            .finish_non_exhaustive()
    }
}

impl ShardStream {
    /// The endpoint streaming the rows.
    pub fn endpoint(&self) -> &EndPoint {
        &self.endpoint
    }

    /// The next chunk, the error that broke the stream (then `None`), or `None` at the end.
    pub async fn next(&mut self) -> Option<Result<QueryResult, ShardConnError>> {
        // Ended: the guard is gone.
        self.guard.as_ref()?;
        match self.rows.next().await {
            Some(Ok(chunk)) => Some(Ok(chunk)),
            Some(Err(error)) => {
                self.guard = None;
                let error = ShardConnError::new(
                    &self.inner.target,
                    Some(self.endpoint.clone()),
                    false,
                    ErrorCause::Tablet(error),
                );
                self.inner
                    .query_failed(&self.query, self.attempts, self.started, &error, "stream");
                Some(Err(error))
            }
            None => {
                self.guard = None;
                self.inner.query_ok(
                    &self.query,
                    self.endpoint.uid,
                    self.attempts,
                    self.started,
                    true,
                );
                None
            }
        }
    }
}

impl Drop for ShardStream {
    fn drop(&mut self) {
        if self.guard.take().is_some() {
            self.inner.query_ok(
                &self.query,
                self.endpoint.uid,
                self.attempts,
                self.started,
                false,
            );
        }
    }
}
