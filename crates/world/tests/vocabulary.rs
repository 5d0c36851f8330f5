//! The trace vocabulary of `vtsim-scenario` matches what actually runs: every kinded event of
//! every suite scenario (first seed) is a known kind, and carries only the fields its table lists.
//! A `where` is validated against that table, so a field added to an emitter must be added there.

use std::path::{Path, PathBuf};

use vtsim_scenario::{event_fields, Scenario};
use vtsim_world::run_seed;

fn scenarios(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            scenarios(&path, out);
        } else if path.extension().is_some_and(|e| e == "toml") {
            out.push(path);
        }
    }
}

#[test]
fn every_emitted_event_is_in_the_vocabulary_with_its_fields() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sim-scenarios");
    let mut files = Vec::new();
    scenarios(&root, &mut files);
    assert!(files.len() >= 20, "{}", files.len());
    let mut problems = Vec::new();
    for file in files {
        let scenario = Scenario::load(&file).unwrap_or_else(|e| panic!("{e}"));
        let run = run_seed(&scenario, scenario.seeds.first());
        for event in run.trace.events() {
            // The runtime's own bookkeeping (`sim.start`, ...) is not scenario vocabulary.
            let Some(kind) = event.kind().filter(|k| !k.starts_with("sim.")) else {
                continue;
            };
            let Some(fields) = event_fields(kind) else {
                problems.push(format!("{}: unknown kind {kind}", file.display()));
                continue;
            };
            for (name, _) in event.fields() {
                if !fields.contains(&name) {
                    problems.push(format!("{}: {kind} has field {name}", file.display()));
                }
            }
        }
    }
    problems.sort();
    problems.dedup();
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}
