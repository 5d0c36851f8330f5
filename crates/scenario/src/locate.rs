//! Turns a toml/serde error into a diagnostic with a dotted key path.
//!
//! toml reports a byte span but not the key it belongs to, so we walk the parsed document and
//! pick the innermost key or value whose span covers the error.

use std::ops::Range;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::error::Diagnostics;

/// Records `err` (a parse or deserialize error) in `out`, with the key path found in `doc`.
pub(crate) fn report_toml_error(
    out: &mut Diagnostics<'_>,
    doc: Option<&Spanned<DeTable<'_>>>,
    err: &toml::de::Error,
) {
    let message = friendlier(err.message());
    let Some(span) = err.span() else {
        out.push(0, None, message);
        return;
    };
    let key = doc.and_then(|doc| innermost_key(doc, &span));
    out.push(span.start, key, message);
}

/// The dotted path of the smallest key or value whose span contains `target`.
fn innermost_key(doc: &Spanned<DeTable<'_>>, target: &Range<usize>) -> Option<String> {
    let mut best: Option<(usize, String)> = None;
    walk_table(doc.get_ref(), "", target, &mut best);
    best.map(|(_, path)| path)
}

fn consider(
    span: &Range<usize>,
    path: &str,
    target: &Range<usize>,
    best: &mut Option<(usize, String)>,
) {
    let covers = span.start <= target.start && target.end <= span.end;
    let len = span.end - span.start;
    // `<=` so that, at equal size, the deeper path (visited later) wins.
    if covers && best.as_ref().is_none_or(|(best_len, _)| len <= *best_len) {
        *best = Some((len, path.to_owned()));
    }
}

fn walk_table(
    table: &DeTable<'_>,
    prefix: &str,
    target: &Range<usize>,
    best: &mut Option<(usize, String)>,
) {
    for (key, value) in table.iter() {
        let path = if prefix.is_empty() {
            key.get_ref().to_string()
        } else {
            format!("{prefix}.{}", key.get_ref())
        };
        consider(&key.span(), &path, target, best);
        walk_value(value, &path, target, best);
    }
}

fn walk_value(
    value: &Spanned<DeValue<'_>>,
    path: &str,
    target: &Range<usize>,
    best: &mut Option<(usize, String)>,
) {
    consider(&value.span(), path, target, best);
    match value.get_ref() {
        DeValue::Table(table) => walk_table(table, path, target, best),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk_value(item, &format!("{path}[{i}]"), target, best);
            }
        }
        _ => {}
    }
}

/// Rewrites serde's Rust-flavoured wording into the words a scenario author uses.
fn friendlier(message: &str) -> String {
    let mut text = message.trim_end().to_owned();
    if let Some(rest) = text.strip_prefix("unknown field ") {
        text = format!("unknown key {rest}");
    }
    for (rust, toml) in [
        ("expected i64", "expected an integer"),
        ("expected f64", "expected a number"),
        ("expected a sequence", "expected an array"),
        ("expected a map", "expected a table"),
        (
            "expected struct Fixes",
            "expected a [fixes] table of booleans",
        ),
        ("expected a string", "expected a string in quotes"),
        (", expected one of ", "; allowed: "),
        (", there are no fields", "; this table takes no keys"),
    ] {
        text = text.replace(rust, toml);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_field_reads_like_a_scenario_error() {
        assert_eq!(
            friendlier("unknown field `intervall`, expected one of `interval`, `timeout`"),
            "unknown key `intervall`; allowed: `interval`, `timeout`"
        );
        assert_eq!(
            friendlier("invalid type: string \"x\", expected i64"),
            "invalid type: string \"x\", expected an integer"
        );
    }

    #[test]
    fn innermost_key_names_array_elements() {
        let text = "[[tablet]]\nuid = 1\n[[tablet]]\nuid = 2\n[[tablet.outage]]\nmode = 3\n";
        let doc = DeTable::parse(text).unwrap();
        let at = text.find("3").unwrap();
        assert_eq!(
            innermost_key(&doc, &(at..at + 1)).as_deref(),
            Some("tablet[1].outage[0].mode")
        );
    }
}
