//! vtsim-shardconn: vtgate's `ShardConn`, `Balancer` and `Consolidator` of 2015-2017, ported
//! faithfully, latent timing bugs included, with a fix knob per bug.
//!
//! # How the pieces fit
//!
//! A [`ShardConn`] serves one [`Target`] (keyspace, shard, tablet type). It keeps one shared tablet
//! connection. When there is none, the first caller dials one while concurrent callers wait on the
//! [`Consolidator`]; the dial walks the endpoints the [`Balancer`] returns, under a total budget, and
//! records its duration in [`ConnectTimings`]. Failed endpoints are marked down. Queries are retried
//! by Vitess's `withRetry`/`canRetry` rules, and a non-master connection is rotated by a
//! `RandTicker`.
//!
//! The outside world comes in through three traits:
//! - [`Topo`] lists the endpoints of a target;
//! - [`TabletDialer`] opens a [`TabletConn`] to an endpoint;
//! - [`TabletTransport`] is the raw transport of a simulated tablet: wrap it in [`GuardedConn`] to get
//!   the close semantics of Vitess's gRPC client (close waits for calls in flight, calls behind a
//!   close fail with `ConnClosed`, close cuts streams).
//!
//! Everything runs on the `vtsim_runtime` facade, so the same code runs under a deterministic
//! simulation or on tokio.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use vtsim_runtime::time::{self, Duration};
//! use vtsim_runtime::Sim;
//! use vtsim_shardconn::*;
//!
//! #[derive(Debug)]
//! struct OneTablet;
//! impl Topo for OneTablet {
//!     fn endpoints<'a>(&'a self, _: &'a str, _: &'a str, _: TabletType)
//!         -> BoxFuture<'a, Result<Vec<EndPoint>, TopoError>> {
//!         Box::pin(async { Ok(vec![EndPoint::new(1, "h1", 15001)]) })
//!     }
//! }
//!
//! struct Echo;
//! impl TabletTransport for Echo {
//!     fn execute<'a>(&'a self, query: &'a str, _: bool)
//!         -> impl std::future::Future<Output = Result<QueryResult, TabletError>> + Send + 'a {
//!         async move {
//!             time::sleep(Duration::from_millis(5)).await; // tablet latency
//!             Ok(QueryResult { rows_affected: 0, rows: vec![vec![query.to_string()]] })
//!         }
//!     }
//!     fn stream_execute<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<RowStream, TabletError>> {
//!         Box::pin(async { Ok(RowStream::channel(1).1) })
//!     }
//! }
//!
//! #[derive(Debug)]
//! struct Dialer;
//! impl TabletDialer for Dialer {
//!     fn dial<'a>(&'a self, ep: &'a EndPoint, _: Duration)
//!         -> BoxFuture<'a, Result<Arc<dyn TabletConn>, TabletError>> {
//!         Box::pin(async move {
//!             time::sleep(Duration::from_millis(10)).await; // connect latency
//!             Ok(Arc::new(GuardedConn::new(ep.clone(), Echo)) as Arc<dyn TabletConn>)
//!         })
//!     }
//! }
//!
//! let mut sim = Sim::new(7);
//! let elapsed = sim.block_on(async {
//!     let sc = ShardConn::new("ks", "-80", TabletType::Replica, Arc::new(OneTablet),
//!         Arc::new(Dialer), ShardConnConfig::default(), Fixes::faithful());
//!     let rows = sc.execute("select 1", false, None).await.unwrap();
//!     assert_eq!(rows.rows, vec![vec!["select 1".to_string()]]);
//!     assert_eq!(sc.connect_timings().get("ks", "-80", "replica").unwrap().count, 1);
//!     time::now().since_start()
//! }).unwrap();
//! assert_eq!(elapsed, Duration::from_millis(15)); // 10ms dial + 5ms query, in virtual time
//! assert_eq!(sim.trace().count_kind("shardconn.connected"), 1);
//! ```
//!
//! # Trace vocabulary
//!
//! Every event carries `keyspace`, `shard` and `tablet_type`.
//!
//! | kind | when | other fields |
//! | --- | --- | --- |
//! | `shardconn.dial` | a dial starts | `uid`, `host`, `port`, `timeout_ms` |
//! | `shardconn.connected` | a dial succeeded | `uid`, `host`, `elapsed_ms` |
//! | `shardconn.dial_failed` | a dial failed or timed out | `uid`, `host`, `error`, `timeout`, `elapsed_ms` |
//! | `shardconn.markdown` | the balancer marked an endpoint down | `uid`, `host`, `reason`, `retry_at_ms` |
//! | `shardconn.rotated` | the lifetime ticker took a connection away (never `close`) | `uid`, `host`, `in_flight`, `deferred` |
//! | `shardconn.consolidated` | a caller finished waiting on another's dial | `ok`, `error`, `waited_ms` |
//! | `query.retry` | an attempt failed and another follows | `query`, `attempt`, `phase` (`connect`/`tablet`), `error`, `sleep_ms` |
//! | `query.ok` | a query succeeded (a stream: when it ended) | `query`, `uid`, `attempts`, `complete`, `elapsed_ms` |
//! | `query.failed` | a query failed for good, once | `query`, `uid` (0: no connection), `attempts`, `phase` (`connect`/`tablet`/`stream`), `timeout`, `error`, `elapsed_ms` |
#![deny(missing_docs, missing_debug_implementations)]

mod balancer;
mod consolidator;
mod error;
mod guarded;
mod shard_conn;
mod tablet;
mod timings;

pub use balancer::{Balancer, DEFAULT_RESET_DOWN_CONN_DELAY};
pub use consolidator::{Consolidated, Consolidator};
pub use error::{
    ConnectError, DialFailure, ErrorCause, ServerCode, ShardConnError, TabletError, TopoError,
};
pub use guarded::GuardedConn;
pub use shard_conn::{ShardConn, ShardConnConfig, ShardStream};
pub use tablet::{
    BoxFuture, EndPoint, QueryResult, RowSender, RowStream, TabletConn, TabletDialer,
    TabletTransport, TabletType, Target, Topo,
};
pub use timings::{ConnectHistogram, ConnectTimings, BUCKET_CUTOFFS};
pub use vtsim_timer::Fixes;
