//! The table of malformed scenario files in `tests/malformed/`: each must fail to load with
//! exactly one diagnostic that names the file, the expected line and key, and says what is wrong.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use vtsim_scenario::Scenario;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    case: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    file: String,
    line: usize,
    key: String,
    fragment: String,
}

fn malformed_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/malformed")
}

fn table() -> Table {
    let text = std::fs::read_to_string(malformed_dir().join("EXPECTED.toml")).unwrap();
    toml::from_str(&text).unwrap_or_else(|err| panic!("tests/malformed/EXPECTED.toml: {err}"))
}

#[test]
fn every_malformed_file_fails_at_its_line_and_key() {
    let mut failures = Vec::new();
    for case in table().case {
        let path = malformed_dir().join(&case.file);
        let message = match Scenario::load(&path) {
            Ok(_) => {
                failures.push(format!("{}: loaded, but should fail", case.file));
                continue;
            }
            Err(err) => {
                if err.diagnostics().len() != 1 {
                    failures.push(format!(
                        "{}: expected exactly one diagnostic, got:\n{err}",
                        case.file
                    ));
                }
                err.to_string()
            }
        };
        let location = format!("{}:{}:", case.file, case.line);
        let key = format!(": {}: ", case.key);
        let found = message.lines().any(|line| {
            line.contains(&location) && line.contains(&key) && line.contains(&case.fragment)
        });
        if !found {
            failures.push(format!(
                "{}: wanted `{location}`, key `{}` and `{}` on one line, got:\n{message}",
                case.file, case.key, case.fragment
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

#[test]
fn the_table_lists_every_file_once() {
    let listed: Vec<String> = table().case.into_iter().map(|c| c.file).collect();
    let unique: BTreeSet<&String> = listed.iter().collect();
    assert_eq!(unique.len(), listed.len(), "a file is listed twice");
    let on_disk: BTreeSet<String> = std::fs::read_dir(malformed_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".toml") && name != "EXPECTED.toml")
        .collect();
    assert_eq!(
        unique.into_iter().cloned().collect::<BTreeSet<_>>(),
        on_disk
    );
    assert!(listed.len() >= 24, "the table shrank to {}", listed.len());
}
