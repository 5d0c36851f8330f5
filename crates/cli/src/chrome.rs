//! The Chrome trace-event export (the JSON format Perfetto and `chrome://tracing` open).
//!
//! Every trace event becomes an instant event on a track: its tablet's (`uid` field) or else its
//! component's (the kind before the dot, such as `discover`). Two kinds of spans are built from
//! pairs of events:
//!
//! - a **connection** of a ShardConn, from `shardconn.connected` until the same shard's
//!   `shardconn.rotated`, `shardconn.closed` or `shardconn.markdown` of that tablet (or the next
//!   `connected`, which replaces it), drawn on the tablet's track;
//! - an **in-flight call**, from `query.start` until `query.ok` or `query.failed` with the same
//!   `query` id, drawn on the `queries` track. Without a `query.start`, the end event's
//!   `elapsed_ms` gives the start.
//!
//! Spans still open at the end of the trace end with its last event, marked `"open": true`.
//! Overlapping spans of one track are spread over extra lanes (`tablet 1 #2`), because slices
//! of one Chrome thread must nest.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Map, Value as Json};
use vtsim_runtime::{Event, Value};

use crate::export::{fields_json, nanos, value_json};

/// Kinds that end the current connection of a shard.
const CONNECTION_ENDS: &[&str] = &[
    "shardconn.rotated",
    "shardconn.closed",
    "shardconn.close",
    "shardconn.markdown",
];

/// Where events are drawn, in display order: components, then tablets, then in-flight calls.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Track {
    Component(String),
    Tablet(u64),
    Queries,
}

impl Track {
    fn name(&self) -> String {
        match self {
            Track::Component(name) => name.clone(),
            Track::Tablet(uid) => format!("tablet {uid}"),
            Track::Queries => "queries".to_owned(),
        }
    }

    /// The track of an instant event: its tablet's, or its component's.
    fn of(event: &Event) -> Track {
        match event.field("uid").and_then(Value::as_u64) {
            // uid 0 is how the ShardConn says "no tablet" (a query that never reached one).
            Some(uid) if uid != 0 => Track::Tablet(uid),
            _ => Track::Component(match event.kind() {
                Some(kind) => kind
                    .split_once('.')
                    .map_or(kind, |(family, _)| family)
                    .to_owned(),
                None => event.target().to_owned(),
            }),
        }
    }
}

/// A span between two events.
#[derive(Debug)]
struct Span {
    name: String,
    category: &'static str,
    track: Track,
    start: u64,
    end: u64,
    args: Map<String, Json>,
}

/// A connection span waiting for its end.
#[derive(Debug)]
struct OpenConnection {
    uid: Option<u64>,
    conn: Option<String>,
    span: Span,
}

/// The whole export as one JSON document: one trace event per line, sorted keys, so equal
/// traces give equal bytes.
pub(crate) fn chrome_trace(events: &[&Event], title: &str) -> String {
    let mut instants = Vec::with_capacity(events.len());
    let mut spans = Vec::new();
    // Keyed by the shard (keyspace/shard/tablet_type) and by query id; BTreeMap for a fixed order.
    let mut connections: BTreeMap<String, OpenConnection> = BTreeMap::new();
    let mut calls: BTreeMap<String, Span> = BTreeMap::new();

    for event in events {
        let t = nanos(event.time());
        instants.push((Track::of(event), t, *event));
        match event.kind() {
            Some("shardconn.connected") => {
                let shard = shard_key(event);
                if let Some(open) = connections.remove(&shard) {
                    spans.push(close(
                        open.span,
                        t,
                        "replaced by the next shardconn.connected",
                    ));
                }
                let uid = event.field("uid").and_then(Value::as_u64);
                let conn = event.field("conn").map(text);
                let host = event.field("host").map(text);
                let label = host
                    .or_else(|| uid.map(|u| format!("tablet {u}")))
                    .unwrap_or_default();
                let mut args = fields_json(event);
                args.insert("shard".to_owned(), Json::from(shard.clone()));
                let span = Span {
                    name: format!("conn {label}").trim_end().to_owned(),
                    category: "connection",
                    track: uid
                        .filter(|u| *u != 0)
                        .map_or(Track::Component("shardconn".into()), Track::Tablet),
                    start: t,
                    end: t,
                    args,
                };
                connections.insert(shard, OpenConnection { uid, conn, span });
            }
            Some(kind) if CONNECTION_ENDS.contains(&kind) => {
                let shard = shard_key(event);
                let ends_it = connections.get(&shard).is_some_and(|open| {
                    match (&open.conn, event.field("conn").map(text)) {
                        (Some(a), Some(b)) => *a == b,
                        _ => match (open.uid, event.field("uid").and_then(Value::as_u64)) {
                            (Some(a), Some(b)) => a == b,
                            _ => true,
                        },
                    }
                });
                if ends_it {
                    let open = connections.remove(&shard).expect("checked above");
                    spans.push(close(open.span, t, kind));
                }
            }
            Some("query.start") => {
                if let Some(id) = event.field("query").map(text) {
                    let span = Span {
                        name: format!("query {id}"),
                        category: "query",
                        track: Track::Queries,
                        start: t,
                        end: t,
                        args: fields_json(event),
                    };
                    calls.insert(id, span);
                }
            }
            Some(kind @ ("query.ok" | "query.failed")) => {
                let Some(id) = event.field("query").map(text) else {
                    continue;
                };
                let span = calls.remove(&id).or_else(|| {
                    // No start event: the end event says how long the call took.
                    let elapsed = event.field("elapsed_ms").and_then(Value::as_u64)?;
                    Some(Span {
                        name: format!("query {id}"),
                        category: "query",
                        track: Track::Queries,
                        start: t.saturating_sub(nanos(Duration::from_millis(elapsed))),
                        end: t,
                        args: Map::new(),
                    })
                });
                if let Some(mut span) = span {
                    for (name, value) in event.fields() {
                        span.args.insert(name.to_owned(), value_json(value));
                    }
                    spans.push(close(span, t, kind));
                }
            }
            _ => {}
        }
    }
    let last = events.last().map_or(0, |e| nanos(e.time()));
    for open in connections
        .into_values()
        .map(|o| o.span)
        .chain(calls.into_values())
    {
        let mut span = close(open, last, "end of trace");
        span.args.insert("open".to_owned(), Json::from(true));
        spans.push(span);
    }
    spans.sort_by_key(|s| (s.start, s.end));

    // Lanes: a span goes to the first lane of its track that is free by its start.
    let mut lane_ends: BTreeMap<Track, Vec<u64>> = BTreeMap::new();
    let mut span_lanes = Vec::with_capacity(spans.len());
    for span in &spans {
        let ends = lane_ends.entry(span.track.clone()).or_default();
        let lane = match ends.iter().position(|end| *end <= span.start) {
            Some(free) => free,
            None => {
                ends.push(0);
                ends.len() - 1
            }
        };
        ends[lane] = span.end;
        span_lanes.push(lane);
    }
    for (track, _, _) in &instants {
        lane_ends.entry(track.clone()).or_insert_with(|| vec![0]);
    }
    let mut tids: BTreeMap<(Track, usize), u64> = BTreeMap::new();
    for (track, ends) in &lane_ends {
        for lane in 0..ends.len().max(1) {
            let tid = tids.len() as u64 + 1;
            tids.insert((track.clone(), lane), tid);
        }
    }

    let mut out: Vec<Json> = Vec::with_capacity(instants.len() + spans.len() + 2 * tids.len() + 1);
    out.push(
        json!({"name": "process_name", "ph": "M", "pid": 1, "tid": 0, "args": {"name": title}}),
    );
    for ((track, lane), tid) in &tids {
        let name = match lane {
            0 => track.name(),
            n => format!("{} #{}", track.name(), n + 1),
        };
        out.push(
            json!({"name": "thread_name", "ph": "M", "pid": 1, "tid": tid, "args": {"name": name}}),
        );
        out.push(json!({"name": "thread_sort_index", "ph": "M", "pid": 1, "tid": tid, "args": {"sort_index": tid}}));
    }
    for (track, t, event) in instants {
        let mut args = fields_json(event);
        args.insert("level".to_owned(), Json::from(event.level().as_str()));
        args.insert("target".to_owned(), Json::from(event.target()));
        if let Some(message) = event.message() {
            args.insert("message".to_owned(), Json::from(message));
        }
        if let Some(task) = event.task() {
            args.insert("task".to_owned(), Json::from(task));
        }
        let name = event.kind().or(event.message()).unwrap_or(event.target());
        out.push(json!({
            "name": name,
            "cat": Track::of(event).name(),
            "ph": "i",
            "s": "t",
            "ts": micros(t),
            "pid": 1,
            "tid": tids[&(track, 0)],
            "args": args,
        }));
    }
    for (span, lane) in spans.into_iter().zip(span_lanes) {
        out.push(json!({
            "name": span.name,
            "cat": span.category,
            "ph": "X",
            "ts": micros(span.start),
            "dur": micros(span.end - span.start),
            "pid": 1,
            "tid": tids[&(span.track, lane)],
            "args": span.args,
        }));
    }

    let mut doc = String::from("{\"displayTimeUnit\":\"ms\",\"otherData\":");
    doc.push_str(
        &json!({"title": title, "clock": "virtual time since the start of the simulation"})
            .to_string(),
    );
    doc.push_str(",\"traceEvents\":[\n");
    for (i, event) in out.iter().enumerate() {
        if i > 0 {
            doc.push_str(",\n");
        }
        doc.push_str(&event.to_string());
    }
    doc.push_str("\n]}\n");
    doc
}

fn close(mut span: Span, end: u64, why: &str) -> Span {
    span.end = end.max(span.start);
    span.args.insert("ended_by".to_owned(), Json::from(why));
    span
}

/// Which ShardConn an event belongs to: its keyspace, shard and tablet type.
fn shard_key(event: &Event) -> String {
    ["keyspace", "shard", "tablet_type"]
        .iter()
        .map(|name| event.field(name).map(text).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("/")
}

/// A field as plain text (strings without their quotes).
fn text(value: &Value) -> String {
    match value {
        Value::Str(s) => s.to_string(),
        other => other.to_string(),
    }
}

/// Chrome timestamps are microseconds; fractions keep nanosecond detail.
fn micros(nanos: u64) -> f64 {
    nanos as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::tests::sample_trace;

    fn export() -> Json {
        let trace = sample_trace();
        let events: Vec<&Event> = trace.events().iter().collect();
        serde_json::from_str(&chrome_trace(&events, "sample seed 3")).unwrap()
    }

    fn thread_names(doc: &Json) -> BTreeMap<u64, String> {
        doc["traceEvents"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["name"] == "thread_name")
            .map(|e| {
                (
                    e["tid"].as_u64().unwrap(),
                    e["args"]["name"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn every_event_is_an_instant_on_its_tablet_or_component_track() {
        let doc = export();
        let names = thread_names(&doc);
        let instants: Vec<&Json> = doc["traceEvents"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["ph"] == "i")
            .collect();
        assert_eq!(instants.len(), sample_trace().len());
        let track_of = |kind: &str| {
            names[&instants.iter().find(|e| e["name"] == kind).unwrap()["tid"]
                .as_u64()
                .unwrap()]
                .clone()
        };
        assert_eq!(track_of("discover.attempt"), "discover");
        assert_eq!(track_of("shardconn.connected"), "tablet 1");
        assert_eq!(track_of("query.ok"), "tablet 1");
        // uid 0: the query reached no tablet.
        assert_eq!(track_of("query.failed"), "query");
        let connected = instants
            .iter()
            .find(|e| e["name"] == "shardconn.connected")
            .unwrap();
        assert_eq!(connected["ts"], 5000.0);
        assert_eq!(connected["args"]["host"], "tablet-1");
        assert_eq!(connected["args"]["level"], "INFO");
        assert_eq!(doc["traceEvents"][0]["args"]["name"], "sample seed 3");
    }

    #[test]
    fn connections_and_calls_become_spans_with_overlaps_in_lanes() {
        let doc = export();
        let names = thread_names(&doc);
        let spans: Vec<&Json> = doc["traceEvents"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["ph"] == "X")
            .collect();
        let summary: Vec<(String, f64, f64, String, String)> = spans
            .iter()
            .map(|s| {
                (
                    s["name"].as_str().unwrap().to_owned(),
                    s["ts"].as_f64().unwrap(),
                    s["dur"].as_f64().unwrap(),
                    names[&s["tid"].as_u64().unwrap()].clone(),
                    s["args"]["ended_by"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (
                    "query q1".into(),
                    5000.0,
                    3000.0,
                    "queries".into(),
                    "query.ok".into()
                ),
                (
                    "conn tablet-1".into(),
                    5000.0,
                    60_003_000.0,
                    "tablet 1".into(),
                    "shardconn.rotated".into()
                ),
                // q2 overlaps q1, so it gets a second lane.
                (
                    "query q2".into(),
                    6000.0,
                    2000.0,
                    "queries #2".into(),
                    "query.failed".into()
                ),
            ]
        );
        assert_eq!(spans[2]["args"]["error"], "timeout");
    }

    #[test]
    fn unfinished_spans_end_with_the_trace_and_starts_can_come_from_elapsed() {
        let mut sim = vtsim_runtime::Sim::new(1);
        sim.block_on(async {
            tracing::info!(kind = "shardconn.connected", shard = "0", uid = 2u64, "c");
            vtsim_runtime::time::sleep(Duration::from_millis(10)).await;
            tracing::info!(
                kind = "query.ok",
                query = "q9",
                uid = 2u64,
                elapsed_ms = 4u64,
                "ok"
            );
            // Another tablet's markdown does not end tablet 2's connection.
            tracing::info!(kind = "shardconn.markdown", shard = "0", uid = 3u64, "down");
        })
        .unwrap();
        let trace = sim.take_trace();
        let events: Vec<&Event> = trace.events().iter().collect();
        let doc: Json = serde_json::from_str(&chrome_trace(&events, "t")).unwrap();
        let spans: Vec<&Json> = doc["traceEvents"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["ph"] == "X")
            .collect();
        assert_eq!(spans.len(), 2);
        assert_eq!(
            (spans[0]["name"].as_str(), spans[0]["dur"].as_f64()),
            (Some("conn tablet 2"), Some(10_000.0))
        );
        assert_eq!(spans[0]["args"]["open"], true);
        assert_eq!(
            (spans[1]["name"].as_str(), spans[1]["ts"].as_f64()),
            (Some("query q9"), Some(6000.0))
        );
    }

    #[test]
    fn the_same_trace_gives_the_same_bytes() {
        let (a, b) = (sample_trace(), sample_trace());
        let render =
            |t: &vtsim_runtime::Trace| chrome_trace(&t.events().iter().collect::<Vec<_>>(), "x");
        assert_eq!(render(&a), render(&b));
        assert!(render(&a).starts_with("{\"displayTimeUnit\":\"ms\""));
    }
}
