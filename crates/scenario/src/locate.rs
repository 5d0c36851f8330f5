//! Turns a toml/serde error into a diagnostic with a dotted key path.
//!
//! toml reports a byte span but not the key it belongs to, so we walk the parsed document and
//! pick the innermost key or value whose span covers the error.

use std::ops::Range;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::error::Diagnostics;
use crate::suggest::closest;

/// Records `err` (a parse or deserialize error) in `out`, with the key path found in `doc`,
/// or, for a syntax error outside what the parser recovered, read off the source lines.
pub(crate) fn report_toml_error(
    out: &mut Diagnostics<'_>,
    doc: &Spanned<DeTable<'_>>,
    err: &toml::de::Error,
) {
    let message = friendlier(err.message());
    let Some(span) = err.span() else {
        out.push(0, None, message);
        return;
    };
    let key = innermost_key(doc, &span).or_else(|| key_from_lines(out.text(), span.start));
    out.push(span.start, key, message);
}

/// The dotted key of the `key = ...` line holding `offset`, under the table header above it.
///
/// A best effort for broken TOML (a duplicate key, a missing value): headers are read line by
/// line, and `[[array]]` headers are counted to give indices such as `tablet[1].outage[0]`.
fn key_from_lines(text: &str, offset: usize) -> Option<String> {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let line_start = text[..offset].rfind('\n').map_or(0, |nl| nl + 1);
    let line = text[line_start..].lines().next().unwrap_or("");
    let (name, _) = line.split_once('=')?;
    let name = clean_key(name)?;

    // Array-of-tables seen so far (full path without index) and how many elements each has.
    let mut arrays: Vec<(String, usize)> = Vec::new();
    let mut table = String::new();
    for header in text[..line_start].lines().map(str::trim) {
        let (inner, is_array) = if let Some(inner) = header.strip_prefix("[[") {
            (inner.split("]]").next()?, true)
        } else if let Some(inner) = header.strip_prefix('[') {
            (inner.split(']').next()?, false)
        } else {
            continue;
        };
        let segments: Vec<String> = inner.split('.').filter_map(clean_key).collect();
        let mut path = String::new();
        for (i, segment) in segments.iter().enumerate() {
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(segment);
            let last = i + 1 == segments.len();
            if last && is_array {
                match arrays.iter_mut().find(|(p, _)| *p == path) {
                    Some((_, n)) => *n += 1,
                    None => arrays.push((path.clone(), 1)),
                }
            }
            if let Some((_, n)) = arrays.iter().find(|(p, _)| *p == path) {
                path.push_str(&format!("[{}]", n - 1));
            }
        }
        table = path;
    }
    Some(if table.is_empty() {
        name
    } else {
        format!("{table}.{name}")
    })
}

/// A key as written, without spaces and quotes; `None` when it cannot be a key.
fn clean_key(raw: &str) -> Option<String> {
    let key: String = raw
        .trim()
        .chars()
        .filter(|c| !matches!(c, '"' | '\'' | ' '))
        .collect();
    let plausible = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'));
    plausible.then_some(key)
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
        // serde quotes the key and then each allowed one in backticks.
        let mut quoted = rest.split('`').skip(1).step_by(2);
        let hint = quoted
            .next()
            .and_then(|unknown| closest(unknown, quoted))
            .map_or_else(String::new, |key| format!(" (did you mean `{key}`?)"));
        text = match rest.split_once(", expected") {
            Some((unknown, expected)) => format!("unknown key {unknown}{hint}, expected{expected}"),
            None => format!("unknown key {rest}"),
        };
    }
    for (rust, toml) in [
        ("expected i64", "expected an integer"),
        ("expected f64", "expected a number"),
        ("expected a sequence", "expected an array"),
        ("expected a map", "expected a table"),
        ("invalid type: map", "invalid type: table"),
        ("invalid type: sequence", "invalid type: array"),
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
            "unknown key `intervall` (did you mean `interval`?); allowed: `interval`, `timeout`"
        );
        assert_eq!(
            friendlier("unknown field `colour`, expected `interval` or `timeout`"),
            "unknown key `colour`, expected `interval` or `timeout`"
        );
        assert_eq!(
            friendlier("invalid type: string \"x\", expected i64"),
            "invalid type: string \"x\", expected an integer"
        );
    }

    #[test]
    fn keys_of_broken_lines_come_from_the_headers_above() {
        let text = "a = 1\n[[tablet]]\nuid = 1\n[[tablet]]\n[[tablet.outage]]\nmode = \n";
        let at = text.find("mode").unwrap();
        assert_eq!(
            key_from_lines(text, at).as_deref(),
            Some("tablet[1].outage[0].mode")
        );
        let text = "[discover]\ninterval = \"5s\"\ninterval = \"1s\"\n";
        let at = text.rfind("interval").unwrap();
        assert_eq!(
            key_from_lines(text, at).as_deref(),
            Some("discover.interval")
        );
        assert_eq!(key_from_lines("x y z\n", 0), None);
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
