//! docs/scenarios.md stays true: its complete examples parse, and it lists every event kind.

use std::path::Path;

use vtsim_scenario::{Scenario, EVENT_KINDS};

fn doc() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/scenarios.md");
    std::fs::read_to_string(path).unwrap()
}

/// The ```toml blocks of the document, with their first line number.
fn toml_blocks(doc: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in doc.lines().enumerate() {
        match (&mut current, line.trim_end()) {
            (None, "```toml") => current = Some((i + 2, String::new())),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some((_, text)), line) => {
                text.push_str(line);
                text.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

#[test]
fn every_complete_example_parses() {
    let blocks = toml_blocks(&doc());
    let complete: Vec<_> = blocks
        .iter()
        .filter(|(_, text)| text.lines().any(|l| l.starts_with("duration =")))
        .collect();
    assert!(complete.len() >= 5, "found {} examples", complete.len());
    for (line, text) in complete {
        let name = format!("docs/scenarios.md@{line}.toml");
        if let Err(err) = Scenario::parse(text, &name) {
            panic!("the example at docs/scenarios.md line {line} does not parse:\n{err}");
        }
    }
}

#[test]
fn every_event_kind_is_documented() {
    let doc = doc();
    for kind in EVENT_KINDS {
        assert!(doc.contains(&format!("`{kind}`")), "{kind} is missing");
    }
}
