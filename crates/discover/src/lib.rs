//! vtsim-discover: the Vitess tablet's Orchestrator client and its `DiscoverLoop`.
//!
//! This ports `go/vt/tabletmanager/orchestrator.go`. A tablet registers itself with
//! Orchestrator at start, then again on every tick of a `RandTicker(i, i/4)`; StopSlave and
//! StartSlave mark it in and out of maintenance. The timing is faithful, bugs included:
//! ticks coalesce while a Discover hangs, the HTTP status is never checked, and maintenance
//! calls race each other. Each bug has a knob in [`Fixes`](vtsim_timer::Fixes).
//!
//! # The pieces
//!
//! - [`OrcConfig`]: the `orc_*` flags (defaults: disabled, 30s timeout, interval 0 = never).
//! - [`OrcClient`]: [`discover`](OrcClient::discover), [`discover_loop`](OrcClient::discover_loop),
//!   and the maintenance calls.
//! - [`OrchestratorTransport`]: where requests go. [`UreqTransport`] is real HTTP for
//!   production; a simulation plugs in a scripted network instead.
//!
//! # Registering through a scripted network
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use vtsim_discover::{
//!     HttpRequest, HttpResponse, OrcClient, OrcConfig, OrchestratorTransport, TransportFuture,
//! };
//! use vtsim_runtime::Sim;
//!
//! /// An Orchestrator 5ms away that says 200 to everything.
//! #[derive(Debug)]
//! struct Near;
//!
//! impl OrchestratorTransport for Near {
//!     fn send(&self, request: HttpRequest) -> TransportFuture {
//!         Box::pin(async move {
//!             assert_eq!(request.path, "/api/discover/db-1/3306");
//!             vtsim_runtime::time::sleep(Duration::from_millis(5)).await;
//!             Ok(HttpResponse::status(200))
//!         })
//!     }
//! }
//!
//! let config = OrcConfig {
//!     api_url: "http://orc:3000/api".into(),
//!     interval: Duration::from_secs(60),
//!     host: "db-1".into(),
//!     mysql_port: 3306,
//!     ..OrcConfig::default()
//! };
//! let mut sim = Sim::new(1);
//! sim.block_on(async move {
//!     let client = OrcClient::new(config, Arc::new(Near));
//!     vtsim_runtime::task::spawn(async move { client.discover_loop().await });
//!     vtsim_runtime::time::sleep(Duration::from_secs(600)).await;
//! })
//! .unwrap();
//! // One attempt at once, then one per 45s..75s tick.
//! let attempts = sim.trace().count_kind("discover.attempt");
//! assert!((9..=14).contains(&attempts), "{attempts}");
//! ```
//!
//! # Trace events
//!
//! | kind                 | level | when                                   | fields                  |
//! |----------------------|-------|----------------------------------------|-------------------------|
//! | `discover.attempt`   | debug | every Discover starts                  | host, port, attempt     |
//! | `discover.error`     | debug | every Discover fails                   | attempt, error          |
//! | `discover.failed`    | warn  | DiscoverLoop: first failure after none | error                   |
//! | `discover.recovered` | info  | DiscoverLoop: success after a failure  |                         |
//! | `maintenance.begin`  | debug | a BeginMaintenance request is sent     | host, port, reason      |
//! | `maintenance.end`    | debug | an EndMaintenance request is sent      | host, port              |
//! | `maintenance.failed` | warn  | a background maintenance call failed   | op, error               |
//!
//! The ticker under DiscoverLoop adds its own `ticker.*` events (see `vtsim_timer`).
#![deny(missing_docs, missing_debug_implementations)]

mod client;
mod http;
mod transport;
mod url;

pub use client::{OrcClient, OrcConfig, OrcError};
pub use http::UreqTransport;
pub use transport::{
    HttpRequest, HttpResponse, Method, OrchestratorTransport, TransportError, TransportFuture,
};
