//! The trace vocabulary: the event kinds an `[[expect]]` may count, and the fields each carries.
//!
//! [`KINDS`] is the one place that lists them. Each entry names the code that emits the event
//! (the `tracing` call with that `kind`); when such a call gains or loses a field, update its
//! entry here, or a `where` on the new field is rejected as unknown. `docs/scenarios.md` lists the
//! same table for users; the tests in this module and in `tests/docs.rs` keep them in step.

/// One event kind: its name, the fields its trace events carry, and where it is emitted.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KindInfo {
    /// The `kind` field of the trace event.
    pub(crate) kind: &'static str,
    /// Every other field the event carries (never `kind` or `message`), in emission order.
    pub(crate) fields: &'static [&'static str],
}

const fn k(kind: &'static str, fields: &'static [&'static str]) -> KindInfo {
    KindInfo { kind, fields }
}

/// `keyspace`, `shard` and `tablet_type`: on every event the ShardConn and its balancer emit.
macro_rules! target {
    ($($field:literal),* $(,)?) => {
        &["keyspace", "shard", "tablet_type", $($field),*]
    };
}

/// Every event kind with its fields, in the order of [`EVENT_KINDS`].
pub(crate) const KINDS: &[KindInfo] = &[
    // crates/discover/src/client.rs, `OrcClient::discover`.
    k("discover.attempt", &["host", "port", "attempt"]),
    k("discover.error", &["attempt", "error"]),
    // crates/discover/src/client.rs, `OrcClient::discover_loop` (transitions only).
    k("discover.failed", &["error"]),
    k("discover.recovered", &[]),
    // crates/timer/src/ticker.rs, the ticker task's `deliver`.
    k("ticker.tick", &["ticker", "delay_ns"]),
    k("ticker.dropped", &["ticker", "delay_ns", "dropped"]),
    // crates/timer/src/ticker.rs, `TickerStop::stop` (the first stop only).
    k("ticker.stop", &["ticker"]),
    // crates/shardconn/src/shard_conn.rs, `get_new_conn`.
    k(
        "shardconn.dial",
        target!("uid", "host", "port", "timeout_ms"),
    ),
    k("shardconn.connected", target!("uid", "host", "elapsed_ms")),
    k(
        "shardconn.dial_failed",
        target!("uid", "host", "error", "timeout", "elapsed_ms"),
    ),
    // crates/shardconn/src/shard_conn.rs, `rotate` (a rotation tick, never `close`).
    k(
        "shardconn.rotated",
        target!("uid", "host", "in_flight", "deferred"),
    ),
    // crates/shardconn/src/balancer.rs, `Balancer::mark_down`.
    k(
        "shardconn.markdown",
        target!("uid", "host", "reason", "retry_at_ms"),
    ),
    // crates/shardconn/src/shard_conn.rs, `get_conn` (a consolidator waiter).
    k(
        "shardconn.consolidated",
        target!("ok", "error", "waited_ms"),
    ),
    // crates/world/src/world.rs, the `world/close` task, just before it calls `ShardConn::close`.
    k("shardconn.close", &["call"]),
    // crates/world/src/workload.rs, `query`.
    k("query.start", &["query", "transaction", "stream"]),
    // crates/shardconn/src/shard_conn.rs, `query_ok`, `query_failed` and `query_retry`.
    k(
        "query.ok",
        target!("query", "uid", "attempts", "complete", "elapsed_ms"),
    ),
    k(
        "query.failed",
        target!(
            "query",
            "uid",
            "attempts",
            "phase",
            "timeout",
            "error",
            "elapsed_ms"
        ),
    ),
    k(
        "query.retry",
        target!("query", "attempt", "phase", "error", "sleep_ms"),
    ),
    // crates/discover/src/client.rs, `Exchange::begin_maintenance` / `end_maintenance` (when sent).
    k("maintenance.begin", &["host", "port", "reason"]),
    k("maintenance.end", &["host", "port"]),
    // crates/discover/src/client.rs, `Exchange::maintenance` (and the queue-gone warning, which
    // has no fields).
    k("maintenance.failed", &["op", "error"]),
    // crates/world/src/orchestrator.rs, `Inner::arrive`: a request reaches the Orchestrator.
    k(
        "orchestrator.request",
        &["call", "path", "answer", "outage", "in_maintenance"],
    ),
    // crates/world/src/faults.rs, `write_marks`.
    k("fault.start", &["peer", "mode"]),
    k("fault.end", &["peer", "mode"]),
    k("topo.change", &["endpoints"]),
    // crates/world/src/topo.rs, a fetch in a `[[topo.error]]` window.
    k("topo.error", &[]),
];

/// Every event kind the components and the world emit (the `kind` field of a trace event), in a
/// stable order.
///
/// These are the only valid values of `expect.event`.
pub const EVENT_KINDS: &[&str] = &[
    "discover.attempt",
    "discover.error",
    "discover.failed",
    "discover.recovered",
    "ticker.tick",
    "ticker.dropped",
    "ticker.stop",
    "shardconn.dial",
    "shardconn.connected",
    "shardconn.dial_failed",
    "shardconn.rotated",
    "shardconn.markdown",
    "shardconn.consolidated",
    "shardconn.close",
    "query.start",
    "query.ok",
    "query.failed",
    "query.retry",
    "maintenance.begin",
    "maintenance.end",
    "maintenance.failed",
    "orchestrator.request",
    "fault.start",
    "fault.end",
    "topo.change",
    "topo.error",
];

/// Looks `kind` up in [`EVENT_KINDS`], returning the canonical `'static` name.
pub(crate) fn event_kind(kind: &str) -> Option<&'static str> {
    EVENT_KINDS.iter().copied().find(|known| *known == kind)
}

/// The fields trace events of `kind` carry besides `kind` (the names a `where` may use), or
/// `None` when `kind` is not in [`EVENT_KINDS`].
///
/// ```
/// assert_eq!(vtsim_scenario::event_fields("fault.start"), Some(&["peer", "mode"][..]));
/// assert_eq!(vtsim_scenario::event_fields("fault"), None);
/// ```
pub fn event_fields(kind: &str) -> Option<&'static [&'static str]> {
    fields_of(kind)
}

/// The fields events of `kind` carry, when `kind` is known.
pub(crate) fn fields_of(kind: &str) -> Option<&'static [&'static str]> {
    KINDS
        .iter()
        .find(|info| info.kind == kind)
        .map(|i| i.fields)
}

/// The component family of an event kind: the text before the first dot.
pub(crate) fn family(kind: &str) -> &str {
    kind.split_once('.').map_or(kind, |(family, _)| family)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_unique_and_dotted() {
        for (i, kind) in EVENT_KINDS.iter().enumerate() {
            assert!(kind.contains('.'), "{kind}");
            assert!(!EVENT_KINDS[..i].contains(kind), "{kind} twice");
        }
        assert_eq!(event_kind("query.ok"), Some("query.ok"));
        assert_eq!(event_kind("query"), None);
        assert_eq!(family("shardconn.dial"), "shardconn");
    }

    #[test]
    fn the_field_table_lists_every_kind_in_order() {
        let listed: Vec<&str> = KINDS.iter().map(|i| i.kind).collect();
        assert_eq!(listed, EVENT_KINDS);
        for info in KINDS {
            for (i, field) in info.fields.iter().enumerate() {
                assert!(!["kind", "message"].contains(field), "{}", info.kind);
                assert!(!info.fields[..i].contains(field), "{} {field}", info.kind);
            }
        }
        assert_eq!(fields_of("topo.error"), Some(&[][..]));
        assert!(fields_of("query.ok").unwrap().contains(&"uid"));
        assert_eq!(fields_of("nope"), None);
    }
}
