//! vtsim-scenario: the TOML scenario file format — its model, parsing and validation.
//!
//! A scenario describes one simulated world: which Vitess components run (`[discover]`,
//! `[shard_conn]`), how the fakes around them misbehave (`[orchestrator]`, `[[tablet]]`,
//! `[topo]`), the query load (`[workload]`), which bugs are fixed (`[fixes]`) and what the trace
//! of every seed must show (`[[expect]]`). The full format is documented in `docs/scenarios.md`.
//!
//! ```
//! use std::time::Duration;
//! use vtsim_scenario::{CountBound, Scenario, Seeds};
//!
//! let text = r#"
//! duration = "2m"
//! seeds = [1, 7, 0xdead]
//!
//! [discover]
//! interval = "5s"
//!
//! [[orchestrator.outage]]
//! from = "0s"
//! until = "65s"
//! mode = "hang"
//!
//! [[expect]]
//! event = "discover.failed"
//! count = 1
//! "#;
//! let scenario = Scenario::parse(text, "sim-scenarios/discover-hang.toml")?;
//! assert_eq!(scenario.name, "discover-hang"); // the file stem
//! assert_eq!(scenario.seeds, Seeds::List(vec![1, 7, 0xdead]));
//! let discover = scenario.discover.as_ref().unwrap();
//! assert_eq!(discover.timeout, Duration::from_secs(30)); // orc_timeout's default
//! assert_eq!(scenario.expectations[0].count, CountBound::Exactly(1));
//! # Ok::<(), vtsim_scenario::ScenarioError>(())
//! ```
//!
//! Anything wrong is reported before anything runs, every problem at once, each naming the
//! file, line, column and dotted key, and what is allowed:
//!
//! ```
//! use vtsim_scenario::Scenario;
//!
//! let text = "duration = \"1m\"\n[discover]\ninterval = \"3ns\"\n";
//! let err = Scenario::parse(text, "x.toml").unwrap_err();
//! let message = err.to_string();
//! assert!(message.starts_with("x.toml:3:12: discover.interval: "));
//! assert!(message.contains("rand.Int63n(0) panics in timer.NewRandTicker"));
//! assert!(message.contains("fixes.ticker_zero_variance = true"));
//! ```
#![deny(missing_docs, missing_debug_implementations)]

mod error;
mod events;
mod locate;
mod model;
mod raw;
mod suggest;
mod time;
mod validate;

use std::path::Path;

pub use error::{Diagnostic, ScenarioError};
pub use events::{event_fields, EVENT_KINDS};
pub use model::{
    Burst, CountBound, DiscoverConfig, EndpointChange, ExpectPanic, Expectation, FieldFilter,
    FieldValue, Limits, Maintenance, OrchestratorConfig, OrchestratorOutage,
    OrchestratorOutageMode, Scenario, SchedulerKind, Seeds, ShardConnConfig, TabletConfig,
    TabletOutage, TabletOutageMode, TabletType, TimerOrder, TopoConfig, Workload,
};
pub use time::{DurationRange, Window};
pub use vtsim_timer::Fixes;

impl Scenario {
    /// Reads and validates the scenario file at `path`.
    pub fn load(path: impl AsRef<Path>) -> Result<Scenario, ScenarioError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| ScenarioError::Read {
            path: path.to_owned(),
            source,
        })?;
        match String::from_utf8(bytes) {
            Ok(text) => Scenario::parse(&text, path),
            Err(err) => {
                // Report the position of the first bad byte, like any other problem.
                let valid = err.utf8_error().valid_up_to();
                let text = String::from_utf8_lossy(err.as_bytes());
                let prefix = String::from_utf8_lossy(&err.as_bytes()[..valid]);
                let diagnostic = Diagnostic::at(
                    &text,
                    prefix.len(),
                    None,
                    "the file is not valid UTF-8; allowed: UTF-8 text (TOML)".to_owned(),
                );
                Err(ScenarioError::Invalid {
                    path: path.to_owned(),
                    diagnostics: vec![diagnostic],
                })
            }
        }
    }

    /// Parses and validates scenario `text`. `path` names the file in messages, and its stem is
    /// the default `name`.
    pub fn parse(text: &str, path: impl AsRef<Path>) -> Result<Scenario, ScenarioError> {
        validate::parse_scenario(text, path.as_ref())
    }
}
