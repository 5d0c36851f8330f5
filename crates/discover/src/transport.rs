//! The seam between the Orchestrator client and the network.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

/// An HTTP method. The Orchestrator API is all GETs, even for calls that change state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Method {
    /// `GET`
    Get,
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Method::Get => f.write_str("GET"),
        }
    }
}

/// One request to the Orchestrator API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpRequest {
    /// The method; always [`Method::Get`] for the Orchestrator.
    pub method: Method,
    /// The full URL, path escaped: `http://orc:3000/api/discover/db-1/3306`.
    pub url: String,
    /// The escaped path of `url`: `/api/discover/db-1/3306`.
    pub path: String,
}

/// What came back: a status and the whole body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpResponse {
    /// The HTTP status code.
    pub status: u16,
    /// The response body, read to the end.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A response with this status and an empty body.
    pub fn status(status: u16) -> HttpResponse {
        HttpResponse {
            status,
            body: Vec::new(),
        }
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Why an exchange produced no response: what Go's `httpClient.Get` or `ReadAll` returns as
/// an error.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportError {
    /// The connection was refused: nobody listens there.
    Refused,
    /// The transport gave up by itself (a socket timeout below the client's own).
    Timeout,
    /// The peer reset or closed the connection before a full response.
    Reset,
    /// The response head arrived, but reading the body failed.
    Body(String),
    /// Anything else, described.
    Other(String),
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportError::Refused => f.write_str("connection refused"),
            TransportError::Timeout => f.write_str("i/o timeout"),
            TransportError::Reset => f.write_str("connection reset by peer"),
            TransportError::Body(why) => write!(f, "reading the response body: {why}"),
            TransportError::Other(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for TransportError {}

/// The future a transport returns. It owns everything it needs, so it can be spawned.
pub type TransportFuture =
    Pin<Box<dyn Future<Output = Result<HttpResponse, TransportError>> + Send + 'static>>;

/// Carries requests to the Orchestrator: real HTTP in production ([`UreqTransport`]), a
/// scripted network in a simulation.
///
/// The client puts its own timeout around the whole exchange, so a transport may hang forever
/// (a black hole) and the client still gives up.
///
/// [`UreqTransport`]: crate::UreqTransport
pub trait OrchestratorTransport: Send + Sync + fmt::Debug {
    /// Sends one request and resolves to the whole response.
    fn send(&self, request: HttpRequest) -> TransportFuture;
}
