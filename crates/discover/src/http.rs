//! The production transport: plain HTTP with ureq, on a blocking thread.

use std::io;
use std::time::Duration;

use vtsim_runtime::task;

use crate::transport::{
    HttpRequest, HttpResponse, OrchestratorTransport, TransportError, TransportFuture,
};

/// Real HTTP (no TLS) to a real Orchestrator. Production only: it does network I/O on an OS
/// thread, so inside a simulation it refuses to run and every call fails.
#[derive(Clone, Debug)]
pub struct UreqTransport {
    agent: ureq::Agent,
}

impl UreqTransport {
    /// A transport whose sockets give up after `timeout` (`None`: never).
    ///
    /// Give it the client's `orc_timeout`: the client stops waiting by itself, and this bounds
    /// the blocking thread that is still reading after the client gave up.
    pub fn new(timeout: Option<Duration>) -> UreqTransport {
        let agent = ureq::Agent::config_builder()
            .timeout_global(timeout)
            // Go's apiGet never looks at the status; the client decides (Fixes::http_status).
            .http_status_as_error(false)
            .build()
            .into();
        UreqTransport { agent }
    }
}

impl Default for UreqTransport {
    /// The vttablet default timeout, 30s.
    fn default() -> UreqTransport {
        UreqTransport::new(Some(Duration::from_secs(30)))
    }
}

impl OrchestratorTransport for UreqTransport {
    fn send(&self, request: HttpRequest) -> TransportFuture {
        let agent = self.agent.clone();
        Box::pin(async move {
            if task::in_simulation() {
                return Err(TransportError::Other(
                    "UreqTransport does real network I/O and cannot run inside a simulation".into(),
                ));
            }
            // Production only (checked above): ureq blocks, so it runs on tokio's blocking
            // pool instead of stalling the executor.
            #[allow(clippy::disallowed_methods)]
            let blocking = tokio::task::spawn_blocking(move || get(&agent, &request));
            blocking.await.unwrap_or_else(|join| {
                Err(TransportError::Other(format!("HTTP thread failed: {join}")))
            })
        })
    }
}

/// One blocking GET, the body read to the end.
fn get(agent: &ureq::Agent, request: &HttpRequest) -> Result<HttpResponse, TransportError> {
    let mut response = agent.get(&request.url).call().map_err(transport_error)?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .read_to_vec()
        .map_err(|e| TransportError::Body(e.to_string()))?;
    Ok(HttpResponse { status, body })
}

fn transport_error(error: ureq::Error) -> TransportError {
    match error {
        ureq::Error::Timeout(_) => TransportError::Timeout,
        ureq::Error::Io(e) => match e.kind() {
            io::ErrorKind::ConnectionRefused => TransportError::Refused,
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::UnexpectedEof => TransportError::Reset,
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => TransportError::Timeout,
            _ => TransportError::Other(e.to_string()),
        },
        other => TransportError::Other(other.to_string()),
    }
}
