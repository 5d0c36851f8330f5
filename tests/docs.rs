use std::path::Path;

use vtsim::scenario::Scenario;
use vtsim::world::run_seed;

/// The ```toml blocks of docs/scenarios.md that are whole scenarios, with their first line.
fn examples() -> Vec<(usize, String)> {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/scenarios.md"))
            .unwrap();
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
    blocks.retain(|(_, text)| text.lines().any(|l| l.starts_with("duration =")));
    blocks
}

#[test]
fn every_documented_example_passes_its_seeds() {
    let examples = examples();
    assert!(examples.len() >= 5, "found {} examples", examples.len());
    for (line, text) in examples {
        let name = format!("docs/scenarios.md@{line}.toml");
        let scenario = Scenario::parse(&text, &name).unwrap_or_else(|e| panic!("{e}"));
        for seed in scenario.seeds.to_vec() {
            let run = run_seed(&scenario, seed);
            assert!(
                run.outcome.is_pass(),
                "the example at docs/scenarios.md line {line}, seed {seed}: {}",
                run.outcome
            );
        }
    }
}
