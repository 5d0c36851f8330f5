//! Trace output formats for `vtsim replay`: canonical text, JSON lines and Chrome trace events,
//! with the `--kind`, `--from` and `--until` filters. All of them are pure functions of the trace,
//! so a seed gives byte-identical output on every run.

use std::io::{self, Write};
use std::time::Duration;

use serde_json::{Map, Value as Json};
use vtsim_runtime::{Event, Trace, Value};

/// Which events an export keeps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TraceFilter {
    /// Keep events whose kind starts with one of these (all events when empty).
    pub kinds: Vec<String>,
    /// Keep events at or after this virtual time.
    pub from: Option<Duration>,
    /// Keep events before this virtual time.
    pub until: Option<Duration>,
}

impl TraceFilter {
    /// True when `event` passes every filter.
    pub fn matches(&self, event: &Event) -> bool {
        let kind_ok = self.kinds.is_empty()
            || event.kind().is_some_and(|kind| {
                self.kinds
                    .iter()
                    .any(|prefix| kind.starts_with(prefix.as_str()))
            });
        kind_ok
            && self.from.is_none_or(|from| event.time() >= from)
            && self.until.is_none_or(|until| event.time() < until)
    }

    /// The events of `trace` that pass.
    pub fn apply<'t>(&self, trace: &'t Trace) -> Vec<&'t Event> {
        trace.events().iter().filter(|e| self.matches(e)).collect()
    }
}

/// `--format`: how `vtsim replay` prints a trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The canonical text, one line per event (what the trace hash is computed over).
    Text,
    /// One JSON object per line and event.
    Json,
    /// Chrome trace-event JSON, for Perfetto or `chrome://tracing`.
    Chrome,
}

/// Writes `events` in `format`. `title` names the run in the Chrome export.
pub fn write_trace(
    out: &mut dyn Write,
    events: &[&Event],
    format: Format,
    title: &str,
) -> io::Result<()> {
    match format {
        Format::Text => {
            for event in events {
                writeln!(out, "{event}")?;
            }
        }
        Format::Json => {
            for event in events {
                writeln!(out, "{}", event_json(event))?;
            }
        }
        Format::Chrome => out.write_all(crate::chrome::chrome_trace(events, title).as_bytes())?,
    }
    Ok(())
}

/// One event as a one-line JSON object, keys in a fixed order and fields in the order they were
/// written: `{"t_ns":..,"time":..,"task":..,"level":..,"target":..,"kind":..,"message":..,"fields":{..}}`.
pub(crate) fn event_json(event: &Event) -> String {
    let nanos = nanos(event.time());
    let mut fields = String::new();
    for (i, (name, value)) in event.fields().enumerate() {
        if i > 0 {
            fields.push(',');
        }
        fields.push_str(&format!("{}:{}", Json::from(name), value_json(value)));
    }
    format!(
        "{{\"t_ns\":{nanos},\"time\":\"{}.{:09}s\",\"task\":{},\"level\":\"{}\",\"target\":{},\"kind\":{},\"message\":{},\"fields\":{{{fields}}}}}",
        nanos / 1_000_000_000,
        nanos % 1_000_000_000,
        event.task().map_or(Json::Null, Json::from),
        event.level().as_str(),
        Json::from(event.target()),
        event.kind().map_or(Json::Null, Json::from),
        event.message().map_or(Json::Null, Json::from),
    )
}

/// The fields of `event` as a JSON object (keys sorted, as `serde_json::Map` keeps them).
pub(crate) fn fields_json(event: &Event) -> Map<String, Json> {
    event
        .fields()
        .map(|(name, value)| (name.to_owned(), value_json(value)))
        .collect()
}

/// A trace value as JSON; a non-finite float becomes `null`.
pub(crate) fn value_json(value: &Value) -> Json {
    match value {
        Value::Bool(b) => Json::from(*b),
        Value::I64(n) => Json::from(*n),
        Value::U64(n) => Json::from(*n),
        Value::F64(x) => Json::from(*x),
        Value::Str(s) => Json::from(s.as_str()),
        // `Value` is non_exhaustive: a future variant still exports, as its text.
        other => Json::from(other.to_string()),
    }
}

/// Virtual time in nanoseconds (saturating: no run lasts 584 years).
pub(crate) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;
    use vtsim_runtime::{time, Sim};

    /// A small trace with discover events, a tablet connection and two overlapping queries.
    pub(crate) fn sample_trace() -> Trace {
        let mut sim = Sim::new(3);
        sim.block_on(async {
            tracing::info!(kind = "discover.attempt", attempt = 1u64, "discovering");
            time::sleep(Duration::from_millis(5)).await;
            tracing::info!(
                kind = "shardconn.connected",
                keyspace = "ks",
                shard = "-80",
                uid = 1u64,
                host = "tablet-1",
                "Connected to tablet"
            );
            tracing::info!(kind = "query.start", query = "q1", "start");
            time::sleep(Duration::from_millis(1)).await;
            tracing::info!(kind = "query.start", query = "q2", "start");
            time::sleep(Duration::from_millis(2)).await;
            tracing::info!(
                kind = "query.ok",
                query = "q1",
                uid = 1u64,
                attempts = 1u64,
                "Query succeeded"
            );
            tracing::warn!(
                kind = "query.failed",
                query = "q2",
                uid = 0u64,
                error = "timeout",
                "Query failed"
            );
            time::sleep(Duration::from_secs(60)).await;
            tracing::info!(
                kind = "shardconn.rotated",
                keyspace = "ks",
                shard = "-80",
                uid = 1u64,
                "Rotating tablet connection"
            );
            tracing::warn!(
                kind = "discover.failed",
                error = "timeout",
                ratio = 0.5f64,
                ok = false,
                "failed"
            );
            tracing::info!("no kind here");
        })
        .unwrap();
        sim.take_trace()
    }

    fn render(format: Format, filter: &TraceFilter) -> String {
        let trace = sample_trace();
        let mut out = Vec::new();
        write_trace(&mut out, &filter.apply(&trace), format, "sample seed 3").unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn text_is_the_canonical_trace() {
        let trace = sample_trace();
        assert_eq!(
            render(Format::Text, &TraceFilter::default()),
            trace.to_text()
        );
    }

    #[test]
    fn filters_select_by_kind_prefix_and_half_open_window() {
        let by_kind = TraceFilter {
            kinds: vec!["query.".into(), "discover.f".into()],
            ..TraceFilter::default()
        };
        let text = render(Format::Text, &by_kind);
        let kinds: Vec<&str> = text
            .lines()
            .map(|l| l.split_whitespace().nth(4).unwrap())
            .collect();
        assert_eq!(
            kinds,
            [
                "query.start",
                "query.start",
                "query.ok",
                "query.failed",
                "discover.failed"
            ]
        );
        let window = TraceFilter {
            from: Some(Duration::from_millis(5)),
            until: Some(Duration::from_millis(8)),
            ..TraceFilter::default()
        };
        let text = render(Format::Text, &window);
        // 5ms is inside (inclusive), 8ms is not (exclusive): connected, q1 start, q2 start.
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(
            text.lines()
                .all(|l| l.contains(".00500") || l.contains(".00600")),
            "{text}"
        );
    }

    #[test]
    fn json_lines_carry_every_field_with_its_type() {
        let text = render(Format::Json, &TraceFilter::default());
        let lines: Vec<Json> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), sample_trace().len());
        let failed = lines
            .iter()
            .find(|l| l["kind"] == "discover.failed")
            .unwrap();
        assert_eq!(failed["t_ns"], 60_008_000_000u64);
        assert_eq!(failed["time"], "60.008000000s");
        assert_eq!(failed["level"], "WARN");
        assert_eq!(failed["message"], "failed");
        assert_eq!(
            failed["fields"],
            json!({"error": "timeout", "ratio": 0.5, "ok": false})
        );
        let plain = lines.last().unwrap();
        assert_eq!(plain["kind"], Json::Null);
        assert_eq!(plain["message"], "no kind here");
        // Keys in a fixed order, fields as written (not sorted).
        let line = text
            .lines()
            .find(|l| l.contains("discover.failed"))
            .unwrap();
        assert!(
            line.starts_with(r#"{"t_ns":60008000000,"time":"60.008000000s","task":"#),
            "{line}"
        );
        assert!(
            line.ends_with(r#""fields":{"error":"timeout","ratio":0.5,"ok":false}}"#),
            "{line}"
        );
    }
}
