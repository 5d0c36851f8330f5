//! docs/scenarios.md stays true: it lists every event kind. (The root crate's `tests/docs.rs`
//! parses and runs its complete examples, since running them needs the world.)

use std::path::Path;

use vtsim_scenario::EVENT_KINDS;

fn doc() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/scenarios.md");
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn every_event_kind_is_documented() {
    let doc = doc();
    for kind in EVENT_KINDS {
        assert!(doc.contains(&format!("`{kind}`")), "{kind} is missing");
    }
}
