//! The trace vocabulary: the event kinds an `[[expect]]` may count.

/// Every event kind the components emit (the `kind` field of a trace event), in a stable order.
///
/// These are the only valid values of `expect.event`.
pub const EVENT_KINDS: &[&str] = &[
    "discover.attempt",
    "discover.error",
    "discover.failed",
    "discover.recovered",
    "ticker.tick",
    "ticker.dropped",
    "shardconn.dial",
    "shardconn.connected",
    "shardconn.dial_failed",
    "shardconn.rotated",
    "shardconn.markdown",
    "shardconn.consolidated",
    "query.ok",
    "query.failed",
    "query.retry",
    "maintenance.begin",
    "maintenance.end",
];

/// Looks `kind` up in [`EVENT_KINDS`], returning the canonical `'static` name.
pub(crate) fn event_kind(kind: &str) -> Option<&'static str> {
    EVENT_KINDS.iter().copied().find(|known| *known == kind)
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
}
