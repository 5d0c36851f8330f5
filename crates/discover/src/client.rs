//! The Orchestrator client of `go/vt/tabletmanager/orchestrator.go`, bugs included.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::mpsc;
use vtsim_runtime::{task, time};
use vtsim_timer::{Fixes, RandTicker, TickerError};

use crate::transport::{HttpRequest, HttpResponse, Method, OrchestratorTransport, TransportError};
use crate::url;

/// The `orc_*` flags of a tablet, plus the tablet's own address and the fix knobs.
///
/// The defaults are the vttablet flag defaults: no API URL (the client is disabled), a 30s
/// timeout, and a discover interval of 0 (never).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrcConfig {
    /// `orc_api_url`, like `http://orc:3000/api`. Empty disables the client.
    pub api_url: String,
    /// `orc_timeout`: the HTTP client timeout, covering the whole exchange. Zero means none,
    /// like Go's `http.Client{Timeout: 0}`.
    pub timeout: Duration,
    /// `orc_discover_interval`: zero means DiscoverLoop returns at once.
    pub interval: Duration,
    /// The tablet's MySQL host name, as registered.
    pub host: String,
    /// The tablet's MySQL port; 0 means unknown, and every call fails.
    pub mysql_port: u16,
    /// Which bugs are fixed: `http_status`, `maintenance_order`, and the ticker's.
    pub fixes: Fixes,
}

impl Default for OrcConfig {
    fn default() -> OrcConfig {
        OrcConfig {
            api_url: String::new(),
            timeout: Duration::from_secs(30),
            interval: Duration::ZERO,
            host: String::new(),
            mysql_port: 0,
            fixes: Fixes::faithful(),
        }
    }
}

/// Why an Orchestrator call failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OrcError {
    /// The client has no API URL. Go never builds a client then; vtsim keeps one that refuses.
    Disabled,
    /// The tablet's MySQL port is 0.
    UnknownMySqlPort,
    /// The transport failed: refused, reset, or the body could not be read.
    Transport {
        /// The URL requested.
        url: String,
        /// What the transport reported.
        error: TransportError,
    },
    /// The whole exchange took longer than `orc_timeout`.
    Timeout {
        /// The URL requested.
        url: String,
        /// The timeout that elapsed.
        timeout: Duration,
    },
    /// The status was not 2xx. Only with `Fixes::http_status`: Go never checks it.
    HttpStatus {
        /// The URL requested.
        url: String,
        /// The status received.
        status: u16,
    },
}

impl fmt::Display for OrcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OrcError::Disabled => {
                f.write_str("Orchestrator client is disabled (empty orc_api_url)")
            }
            OrcError::UnknownMySqlPort => f.write_str("MySQL port is unknown"),
            OrcError::Transport { url, error } => write!(f, "Get {url}: {error}"),
            OrcError::Timeout { url, timeout } => write!(
                f,
                "Get {url}: net/http: request canceled (Client.Timeout of {timeout:?} exceeded)"
            ),
            OrcError::HttpStatus { url, status } => write!(f, "Get {url}: HTTP status {status}"),
        }
    }
}

impl std::error::Error for OrcError {}

/// A tablet's Orchestrator client: self-registration and maintenance marks.
///
/// Cheap to clone; clones share the transport and the maintenance queue.
#[derive(Clone, Debug)]
pub struct OrcClient {
    exchange: Exchange,
    /// The single ordered sender of maintenance calls (`Fixes::maintenance_order` only),
    /// started on first use.
    queue: Arc<OnceLock<mpsc::UnboundedSender<Maintenance>>>,
}

/// What every call needs: the configuration and the way to the Orchestrator.
#[derive(Clone, Debug)]
struct Exchange {
    config: Arc<OrcConfig>,
    transport: Arc<dyn OrchestratorTransport>,
    attempts: Arc<AtomicU64>,
}

/// A maintenance call waiting in the ordered queue.
#[derive(Debug)]
enum Maintenance {
    Begin(String),
    End,
}

impl OrcClient {
    /// A client for `config`, talking through `transport`.
    pub fn new(config: OrcConfig, transport: Arc<dyn OrchestratorTransport>) -> OrcClient {
        OrcClient {
            exchange: Exchange {
                config: Arc::new(config),
                transport,
                attempts: Arc::new(AtomicU64::new(0)),
            },
            queue: Arc::new(OnceLock::new()),
        }
    }

    /// The configuration this client was built with.
    pub fn config(&self) -> &OrcConfig {
        &self.exchange.config
    }

    /// Whether an API URL is set (Go: whether the client exists at all).
    pub fn is_enabled(&self) -> bool {
        !self.exchange.config.api_url.is_empty()
    }

    /// Registers the tablet once: `GET {api}/discover/{host}/{port}`.
    ///
    /// Emits `discover.attempt` when it starts and `discover.error` when it fails, whatever the
    /// failure (also "MySQL port is unknown", which sends no request).
    ///
    /// # Errors
    ///
    /// Any [`OrcError`]. Faithfully a 404 or 500 is a success; with `Fixes::http_status` it is
    /// [`OrcError::HttpStatus`].
    pub async fn discover(&self) -> Result<(), OrcError> {
        let config = &self.exchange.config;
        let attempt = self.exchange.attempts.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::debug!(
            kind = "discover.attempt",
            host = config.host.as_str(),
            port = config.mysql_port,
            attempt,
            "Orchestrator discover"
        );
        let result = self.exchange.discover().await;
        if let Err(error) = &result {
            tracing::debug!(kind = "discover.error", attempt, error = %error, "discover failed");
        }
        result
    }

    /// Go's `DiscoverLoop`: registers the tablet at once, then again on every tick of a
    /// `RandTicker(interval, interval/4)`, forever.
    ///
    /// Returns `Ok(())` at once when the client is disabled or the interval is 0. Otherwise it
    /// never returns, and the ticker is never stopped.
    ///
    /// Only transitions are logged, and the last error starts as "none": the first success is
    /// silent, the first failure is a warning (`discover.failed`), a recovery is an info
    /// (`discover.recovered`).
    ///
    /// A Discover that hangs until the timeout lets ticks pile up in the one-tick buffer; the
    /// next attempt then starts at once on the stale tick:
    ///
    /// ```text
    ///  interval 5s (delays in [3.75s, 6.25s)), timeout 30s, Orchestrator black-holed in [0, 65s)
    ///
    ///  time:      0    5   10   15   20   25   30   35  ...  60   65  ...  90
    ///  ticks:          t1   x    x    x    x    |   t7   x    |    x    x    |
    ///  attempts:  #1 hangs ------------------> #2 hangs -----> #3 hangs ---> #4 ok
    ///                                          (t1, stale)     (t7, stale)  (stale)
    ///  logs:                                 warning at 30s         info at 90s + latency
    ///  x: dropped, the buffer already holds a tick
    /// ```
    ///
    /// # Errors
    ///
    /// The ticker's [`TickerError`] when the interval is below 4ns: `interval/4` is then 0,
    /// and Go panics in `Int63n(0)` (unless `Fixes::ticker_zero_variance`).
    pub async fn discover_loop(&self) -> Result<(), TickerError> {
        let config = &self.exchange.config;
        let interval = config.interval;
        if !self.is_enabled() || interval.is_zero() {
            return Ok(());
        }
        let name = format!("discover/{}:{}", config.host, config.mysql_port);
        let mut ticker = RandTicker::new(&name, interval, interval / 4, &config.fixes)?;
        let mut last_failed = false;
        loop {
            let result = self.discover().await;
            match (&result, last_failed) {
                (Err(error), false) => tracing::warn!(
                    kind = "discover.failed",
                    error = %error,
                    "Orchestrator self-registration attempt failed"
                ),
                (Ok(()), true) => tracing::info!(
                    kind = "discover.recovered",
                    "Orchestrator self-registration succeeded"
                ),
                _ => {}
            }
            last_failed = result.is_err();
            // Nobody stops this ticker, so its channel never closes; the check is for form.
            if ticker.recv().await.is_none() {
                return Ok(());
            }
        }
    }

    /// Marks the tablet as in maintenance:
    /// `GET {api}/begin-maintenance/{host}/{port}/vitess/{reason}`.
    ///
    /// Emits `maintenance.begin` when the request is sent.
    ///
    /// # Errors
    ///
    /// As for [`discover`](OrcClient::discover).
    pub async fn begin_maintenance(&self, reason: &str) -> Result<(), OrcError> {
        self.exchange.begin_maintenance(reason).await
    }

    /// Ends the maintenance mark: `GET {api}/end-maintenance/{host}/{port}`.
    ///
    /// Emits `maintenance.end` when the request is sent.
    ///
    /// # Errors
    ///
    /// As for [`discover`](OrcClient::discover).
    pub async fn end_maintenance(&self) -> Result<(), OrcError> {
        self.exchange.end_maintenance().await
    }

    /// What StopSlave does: fire `BeginMaintenance` in the background, log a failure as a
    /// warning (`maintenance.failed`), and return at once. Does nothing when disabled.
    ///
    /// Faithfully each call is its own task, so a later `end_maintenance_async` can reach the
    /// Orchestrator first and leave the tablet in maintenance for good:
    ///
    /// ```text
    ///  StopSlave  t=0     Begin ------------- 200ms in flight -------------> delivered 200ms
    ///  StartSlave t=50ms        End --20ms--> delivered 70ms
    ///  Orchestrator:            ... end (no-op) at 70ms, begin at 200ms: in maintenance forever
    /// ```
    ///
    /// With `Fixes::maintenance_order` one queue task sends the calls one after the other, each
    /// after the previous one finished, so they arrive in call order.
    pub fn begin_maintenance_async(&self, reason: &str) {
        self.fire(Maintenance::Begin(reason.to_owned()));
    }

    /// What StartSlave does: fire `EndMaintenance` in the background; see
    /// [`begin_maintenance_async`](OrcClient::begin_maintenance_async).
    pub fn end_maintenance_async(&self) {
        self.fire(Maintenance::End);
    }

    fn fire(&self, call: Maintenance) {
        if !self.is_enabled() {
            return;
        }
        if !self.exchange.config.fixes.maintenance_order {
            let exchange = self.exchange.clone();
            drop(task::spawn_named(call.task_name(), async move {
                exchange.maintenance(call).await;
            }));
            return;
        }
        let queue = self.queue.get_or_init(|| {
            let (tx, mut rx) = mpsc::unbounded_channel();
            // The queue task holds no client, so it ends when the last client is dropped.
            let exchange = self.exchange.clone();
            drop(task::spawn_named("orc/maintenance-queue", async move {
                while let Some(call) = rx.recv().await {
                    exchange.maintenance(call).await;
                }
            }));
            tx
        });
        // The receiver lives as long as the queue task, which outlives every sender.
        if queue.send(call).is_err() {
            tracing::warn!(kind = "maintenance.failed", "maintenance queue is gone");
        }
    }
}

impl Maintenance {
    fn task_name(&self) -> &'static str {
        match self {
            Maintenance::Begin(_) => "orc/begin-maintenance",
            Maintenance::End => "orc/end-maintenance",
        }
    }
}

impl Exchange {
    async fn discover(&self) -> Result<(), OrcError> {
        let port = self.port()?;
        self.get(&["discover", &self.config.host, &port]).await
    }

    async fn begin_maintenance(&self, reason: &str) -> Result<(), OrcError> {
        let port = self.port()?;
        let host = self.config.host.as_str();
        tracing::debug!(
            kind = "maintenance.begin",
            host,
            port = self.config.mysql_port,
            reason,
            "Orchestrator BeginMaintenance"
        );
        self.get(&["begin-maintenance", host, &port, "vitess", reason])
            .await
    }

    async fn end_maintenance(&self) -> Result<(), OrcError> {
        let port = self.port()?;
        let host = self.config.host.as_str();
        tracing::debug!(
            kind = "maintenance.end",
            host,
            port = self.config.mysql_port,
            "Orchestrator EndMaintenance"
        );
        self.get(&["end-maintenance", host, &port]).await
    }

    /// One background maintenance call, failures logged like the Go goroutines do.
    async fn maintenance(&self, call: Maintenance) {
        // The warnings StopSlave's and StartSlave's goroutines log.
        let (op, message, result) = match call {
            Maintenance::Begin(reason) => (
                "begin",
                "Orchestrator BeginMaintenance failed",
                self.begin_maintenance(&reason).await,
            ),
            Maintenance::End => (
                "end",
                "Orchestrator EndMaintenance failed",
                self.end_maintenance().await,
            ),
        };
        if let Err(error) = result {
            tracing::warn!(kind = "maintenance.failed", op, error = %error, "{message}");
        }
    }

    /// Go's `mysqlHostPort`: the port as a path part, or the "unknown" error.
    fn port(&self) -> Result<String, OrcError> {
        match self.config.mysql_port {
            _ if self.config.api_url.is_empty() => Err(OrcError::Disabled),
            0 => Err(OrcError::UnknownMySqlPort),
            port => Ok(port.to_string()),
        }
    }

    /// Go's `apiGet`: one GET under the API URL, the body read to the end, the status ignored
    /// unless `Fixes::http_status`.
    async fn get(&self, parts: &[&str]) -> Result<(), OrcError> {
        let (url, path) = url::api_url(&self.config.api_url, parts);
        let request = HttpRequest {
            method: Method::Get,
            url: url.clone(),
            path,
        };
        let exchange = self.transport.send(request);
        let timeout = self.config.timeout;
        let response: Result<HttpResponse, TransportError> = if timeout.is_zero() {
            exchange.await
        } else {
            match time::timeout(timeout, exchange).await {
                Ok(response) => response,
                Err(_elapsed) => return Err(OrcError::Timeout { url, timeout }),
            }
        };
        let response = response.map_err(|error| OrcError::Transport {
            url: url.clone(),
            error,
        })?;
        if self.config.fixes.http_status && !response.is_success() {
            return Err(OrcError::HttpStatus {
                url,
                status: response.status,
            });
        }
        Ok(())
    }
}
