//! The file as serde sees it: structure and TOML types only, every value kept with its span.
//!
//! Values that need checking (durations, names, numbers) stay raw here so that
//! `validate` can report all of their problems at once, each at its own location. Serde itself
//! only rejects what cannot be represented: unknown keys and wrong TOML types.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use toml::Spanned;
use vtsim_timer::Fixes;

/// A string that must hold a duration such as `"250ms"`.
#[derive(Debug)]
pub(crate) struct DurationText(pub(crate) String);

/// A string that must hold a duration or a range such as `"1ms..10ms"`.
#[derive(Debug)]
pub(crate) struct RangeText(pub(crate) String);

struct StringVisitor(&'static str);

impl Visitor<'_> for StringVisitor {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }
}

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(StringVisitor(
            "a duration string such as \"250ms\", \"1.5s\" or \"1h30m\"",
        ))
        .map(DurationText)
    }
}

impl<'de> Deserialize<'de> for RangeText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(StringVisitor(
            "a duration string such as \"5ms\", or a range such as \"1ms..10ms\"",
        ))
        .map(RangeText)
    }
}

/// `seeds = 8` or `seeds = [1, 7, 0xdead]`.
#[derive(Debug)]
pub(crate) enum RawSeeds {
    Count(i64),
    List(Vec<Spanned<i64>>),
}

impl<'de> Deserialize<'de> for RawSeeds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct SeedsVisitor;

        impl<'de> Visitor<'de> for SeedsVisitor {
            type Value = RawSeeds;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a seed count such as 8, or a list of seeds such as [1, 7, 0xdead]")
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawSeeds, E> {
                Ok(RawSeeds::Count(v))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawSeeds, E> {
                i64::try_from(v)
                    .map(RawSeeds::Count)
                    .map_err(|_| E::custom("seed count is too large"))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawSeeds, A::Error> {
                let mut seeds = Vec::new();
                while let Some(seed) = seq.next_element::<Spanned<i64>>()? {
                    seeds.push(seed);
                }
                Ok(RawSeeds::List(seeds))
            }
        }

        d.deserialize_any(SeedsVisitor)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a scenario table")]
pub(crate) struct RawScenario {
    pub(crate) name: Option<Spanned<String>>,
    pub(crate) description: Option<String>,
    pub(crate) version: Option<Spanned<i64>>,
    pub(crate) duration: Option<Spanned<DurationText>>,
    pub(crate) seeds: Option<Spanned<RawSeeds>>,
    pub(crate) scheduler: Option<Spanned<String>>,
    pub(crate) timer_slop: Option<Spanned<DurationText>>,
    pub(crate) timer_order: Option<Spanned<String>>,
    pub(crate) limits: Option<RawLimits>,
    pub(crate) discover: Option<Spanned<RawDiscover>>,
    pub(crate) orchestrator: Option<Spanned<RawOrchestrator>>,
    pub(crate) topo: Option<Spanned<RawTopo>>,
    pub(crate) shard_conn: Option<Spanned<RawShardConn>>,
    #[serde(default, rename = "tablet")]
    pub(crate) tablets: Vec<Spanned<RawTablet>>,
    pub(crate) workload: Option<Spanned<RawWorkload>>,
    #[serde(default)]
    pub(crate) maintenance: Vec<Spanned<RawMaintenance>>,
    #[serde(default)]
    pub(crate) fixes: Fixes,
    #[serde(default, rename = "expect")]
    pub(crate) expectations: Vec<Spanned<RawExpect>>,
    pub(crate) expect_panic: Option<Spanned<RawExpectPanic>>,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an [expect_panic] table with message"
)]
pub(crate) struct RawExpectPanic {
    pub(crate) message: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [limits] table")]
pub(crate) struct RawLimits {
    pub(crate) max_events: Option<Spanned<i64>>,
    pub(crate) max_wall: Option<Spanned<DurationText>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [discover] table")]
pub(crate) struct RawDiscover {
    pub(crate) interval: Option<Spanned<DurationText>>,
    pub(crate) timeout: Option<Spanned<DurationText>>,
    pub(crate) mysql_port: Option<Spanned<i64>>,
    pub(crate) host: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an [[orchestrator.outage]] table with from, until and mode"
)]
pub(crate) struct RawOrchestratorOutage {
    pub(crate) from: Option<Spanned<DurationText>>,
    pub(crate) until: Option<Spanned<DurationText>>,
    pub(crate) mode: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a [[tablet.outage]] table with from, until, mode and extra_latency"
)]
pub(crate) struct RawTabletOutage {
    pub(crate) from: Option<Spanned<DurationText>>,
    pub(crate) until: Option<Spanned<DurationText>>,
    pub(crate) mode: Option<Spanned<String>>,
    pub(crate) extra_latency: Option<Spanned<RangeText>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an [orchestrator] table")]
pub(crate) struct RawOrchestrator {
    pub(crate) latency: Option<Spanned<RangeText>>,
    pub(crate) host: Option<Spanned<String>>,
    pub(crate) mysql_port: Option<Spanned<i64>>,
    #[serde(default)]
    pub(crate) outage: Vec<Spanned<RawOrchestratorOutage>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a window table with from and until")]
pub(crate) struct RawWindow {
    pub(crate) from: Option<Spanned<DurationText>>,
    pub(crate) until: Option<Spanned<DurationText>>,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a [[topo.change]] table with at and endpoints"
)]
pub(crate) struct RawTopoChange {
    pub(crate) at: Option<Spanned<DurationText>>,
    pub(crate) endpoints: Option<Spanned<Vec<Spanned<i64>>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [topo] table")]
pub(crate) struct RawTopo {
    pub(crate) latency: Option<Spanned<RangeText>>,
    #[serde(default)]
    pub(crate) error: Vec<Spanned<RawWindow>>,
    #[serde(default)]
    pub(crate) change: Vec<Spanned<RawTopoChange>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [shard_conn] table")]
pub(crate) struct RawShardConn {
    pub(crate) keyspace: Option<Spanned<String>>,
    pub(crate) shard: Option<Spanned<String>>,
    pub(crate) tablet_type: Option<Spanned<String>>,
    pub(crate) retry_delay: Option<Spanned<DurationText>>,
    pub(crate) retry_count: Option<Spanned<i64>>,
    pub(crate) conn_timeout_total: Option<Spanned<DurationText>>,
    pub(crate) conn_timeout_per_conn: Option<Spanned<DurationText>>,
    pub(crate) conn_life: Option<Spanned<DurationText>>,
    pub(crate) reset_down_conn_delay: Option<Spanned<DurationText>>,
    pub(crate) close_at: Option<Spanned<Vec<Spanned<DurationText>>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [[tablet]] table")]
pub(crate) struct RawTablet {
    pub(crate) uid: Option<Spanned<i64>>,
    pub(crate) host: Option<Spanned<String>>,
    pub(crate) dial_latency: Option<Spanned<RangeText>>,
    pub(crate) query_latency: Option<Spanned<RangeText>>,
    pub(crate) send_latency: Option<Spanned<RangeText>>,
    #[serde(default)]
    pub(crate) outage: Vec<Spanned<RawTabletOutage>>,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a burst table such as { at = \"0s\", count = 50 }"
)]
pub(crate) struct RawBurst {
    pub(crate) at: Option<Spanned<DurationText>>,
    pub(crate) count: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [workload] table")]
pub(crate) struct RawWorkload {
    pub(crate) qps: Option<Spanned<f64>>,
    pub(crate) query_timeout: Option<Spanned<DurationText>>,
    pub(crate) transaction_share: Option<Spanned<f64>>,
    pub(crate) stream_share: Option<Spanned<f64>>,
    pub(crate) stream_duration: Option<Spanned<RangeText>>,
    pub(crate) start: Option<Spanned<DurationText>>,
    pub(crate) stop: Option<Spanned<DurationText>>,
    #[serde(default)]
    pub(crate) burst: Vec<Spanned<RawBurst>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [[maintenance]] table")]
pub(crate) struct RawMaintenance {
    pub(crate) begin: Option<Spanned<DurationText>>,
    pub(crate) end: Option<Spanned<DurationText>>,
    pub(crate) reason: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an [[expect]] table")]
pub(crate) struct RawExpect {
    pub(crate) event: Option<Spanned<String>>,
    pub(crate) count: Option<Spanned<i64>>,
    pub(crate) min: Option<Spanned<i64>>,
    pub(crate) max: Option<Spanned<i64>>,
    pub(crate) from: Option<Spanned<DurationText>>,
    pub(crate) until: Option<Spanned<DurationText>>,
    #[serde(rename = "where")]
    pub(crate) filters: Option<BTreeMap<String, Spanned<toml::Value>>>,
}
