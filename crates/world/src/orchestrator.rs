//! The simulated Orchestrator HTTP API: seeded latency, outages, and the maintenance mark.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use vtsim_discover::{
    HttpRequest, HttpResponse, OrchestratorTransport, TransportError, TransportFuture,
};
use vtsim_runtime::rand::{self, Rng};
use vtsim_runtime::time::{self, Duration};
use vtsim_scenario::{DurationRange, OrchestratorConfig, OrchestratorOutageMode};

use crate::faults::{ModeName, Timeline};

/// Which Orchestrator API call a request was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OrcCall {
    /// `discover/{host}/{port}`: self-registration.
    Discover,
    /// `begin-maintenance/{host}/{port}/vitess/{reason}`.
    BeginMaintenance,
    /// `end-maintenance/{host}/{port}`.
    EndMaintenance,
    /// Any other path; answered 404.
    Unknown,
}

impl OrcCall {
    fn of(path: &str) -> OrcCall {
        for segment in path.split('/') {
            match segment {
                "discover" => return OrcCall::Discover,
                "begin-maintenance" => return OrcCall::BeginMaintenance,
                "end-maintenance" => return OrcCall::EndMaintenance,
                _ => {}
            }
        }
        OrcCall::Unknown
    }

    fn name(self) -> &'static str {
        match self {
            OrcCall::Discover => "discover",
            OrcCall::BeginMaintenance => "begin-maintenance",
            OrcCall::EndMaintenance => "end-maintenance",
            OrcCall::Unknown => "unknown",
        }
    }
}

/// What became of a request that reached the Orchestrator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OrcAnswer {
    /// Served: `200`, or `404` for an unknown path.
    Status(u16),
    /// Black-holed by a `hang` outage: no answer, ever.
    Hang,
    /// Refused by a `refuse` outage.
    Refused,
}

impl OrcAnswer {
    fn name(self) -> &'static str {
        match self {
            OrcAnswer::Status(200) => "200",
            OrcAnswer::Status(404) => "404",
            OrcAnswer::Status(500) => "500",
            OrcAnswer::Status(_) => "status",
            OrcAnswer::Hang => "hang",
            OrcAnswer::Refused => "refused",
        }
    }
}

/// One request that reached the Orchestrator, as it recorded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// When it arrived (virtual time since the start).
    pub at: Duration,
    /// The request path, e.g. `/api/discover/tablet-1/3306`.
    pub path: String,
    /// Which API call it was.
    pub call: OrcCall,
    /// What it got.
    pub answer: OrcAnswer,
}

/// The simulated Orchestrator API, plugged into [`OrcClient`](vtsim_discover::OrcClient) as its
/// [`OrchestratorTransport`].
///
/// Each request travels one network latency to the Orchestrator and one back, both drawn from
/// `latency` (rand stream `orchestrator/latency`). What it gets depends on the outage in force
/// when it **arrives**:
///
/// ```text
///  outage:           [-------- hang --------)
///  request A:  sent --> arrives               never answered, even after the window:
///                                             the client's own timeout ends it
///  request B:                       sent -------> arrives    answered (arrived after the window)
/// ```
///
/// - `refuse`: connection refused, the error back after the return latency (no timeout);
/// - `hang`: never answered;
/// - `http-500`: `500` after the return latency. The faithful client counts it a success.
///
/// A served `begin-maintenance` puts the tablet in maintenance and a served `end-maintenance` takes
/// it out, in the order they *arrive*: an End overtaken by its Begin leaves the tablet in
/// maintenance for good (spec 7.7). Every arrival is recorded ([`received`](Orchestrator::received))
/// and traced as `orchestrator.request`.
///
/// Cheap to clone; clones share the state. Create it inside the simulation, so that its latency
/// stream derives from the seed.
#[derive(Clone)]
pub struct Orchestrator {
    inner: Arc<Inner>,
}

struct Inner {
    latency: DurationRange,
    outages: Timeline<OrchestratorOutageMode>,
    state: Mutex<State>,
}

struct State {
    rng: Rng,
    received: Vec<Received>,
    in_maintenance: bool,
}

impl fmt::Debug for Orchestrator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Orchestrator")
            .field("latency", &self.inner.latency)
            .field("outages", &self.inner.outages)
            .field("in_maintenance", &self.in_maintenance())
            .finish_non_exhaustive()
    }
}

impl Orchestrator {
    /// An Orchestrator with the latency and outages of `config`.
    pub fn new(config: &OrchestratorConfig) -> Orchestrator {
        let outages = Timeline::new(config.outages.iter().map(|o| (o.window, o.mode)));
        Orchestrator {
            inner: Arc::new(Inner {
                latency: config.latency,
                outages,
                state: Mutex::new(State {
                    rng: rand::stream("orchestrator/latency"),
                    received: Vec::new(),
                    in_maintenance: false,
                }),
            }),
        }
    }

    /// Every request that reached it, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.inner.state().received.clone()
    }

    /// The requests of one kind that reached it, in arrival order.
    pub fn received_calls(&self, call: OrcCall) -> Vec<Received> {
        let state = self.inner.state();
        state
            .received
            .iter()
            .filter(|r| r.call == call)
            .cloned()
            .collect()
    }

    /// Whether the tablet is marked in maintenance now.
    pub fn in_maintenance(&self) -> bool {
        self.inner.state().in_maintenance
    }

    /// The outage timeline.
    pub fn outages(&self) -> &Timeline<OrchestratorOutageMode> {
        &self.inner.outages
    }
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Handles a request that has just arrived; returns what to send back, if anything.
    fn arrive(&self, path: String) -> OrcAnswer {
        let at = time::now().since_start();
        let call = OrcCall::of(&path);
        let outage = self.outages.at(at);
        let answer = match outage {
            Some(OrchestratorOutageMode::Refuse) => OrcAnswer::Refused,
            Some(OrchestratorOutageMode::Hang) => OrcAnswer::Hang,
            Some(OrchestratorOutageMode::Http500) => OrcAnswer::Status(500),
            None if call == OrcCall::Unknown => OrcAnswer::Status(404),
            None => OrcAnswer::Status(200),
        };
        let mut state = self.state();
        if answer == OrcAnswer::Status(200) {
            match call {
                OrcCall::BeginMaintenance => state.in_maintenance = true,
                OrcCall::EndMaintenance => state.in_maintenance = false,
                OrcCall::Discover | OrcCall::Unknown => {}
            }
        }
        let in_maintenance = state.in_maintenance;
        tracing::debug!(
            kind = "orchestrator.request",
            call = call.name(),
            path = path.as_str(),
            answer = answer.name(),
            outage = outage.map_or("none", |m| m.name()),
            in_maintenance,
            "Orchestrator received a request"
        );
        state.received.push(Received {
            at,
            path,
            call,
            answer,
        });
        answer
    }
}

impl OrchestratorTransport for Orchestrator {
    fn send(&self, request: HttpRequest) -> TransportFuture {
        let (there, back) = {
            let mut state = self.inner.state();
            let (lo, hi) = (self.inner.latency.lo, self.inner.latency.hi);
            (
                state.rng.duration_between(lo, hi),
                state.rng.duration_between(lo, hi),
            )
        };
        let inner = self.inner.clone();
        Box::pin(async move {
            time::sleep(there).await;
            match inner.arrive(request.path) {
                // The client's timeout is the only way out of a black hole.
                OrcAnswer::Hang => std::future::pending().await,
                OrcAnswer::Refused => {
                    time::sleep(back).await;
                    Err(TransportError::Refused)
                }
                OrcAnswer::Status(status) => {
                    time::sleep(back).await;
                    Ok(HttpResponse::status(status))
                }
            }
        })
    }
}
