//! Bad input gets an error, never a panic: every truncation and single-character mutation of a
//! rich valid file either parses or reports located diagnostics.

use vtsim_scenario::Scenario;

const RICH: &str = r#"
name = "rich"
duration = "10m"
seeds = [1, 0xdead]
[discover]
interval = "5s"
[[orchestrator.outage]]
from = "0s"
until = "65s"
mode = "hang"
[shard_conn]
shard = "-80"
conn_life = "1m"
[[tablet]]
uid = 1
query_latency = "1ms..5ms"
[[tablet]]
uid = 2
[[tablet.outage]]
from = "1m"
until = "2m"
mode = "slow"
extra_latency = "1s..2s"
[topo]
[[topo.change]]
at = "3m"
endpoints = [2]
[workload]
qps = 20
burst = [{ at = "0s", count = 50 }]
[fixes]
http_status = true
[[expect]]
event = "discover.failed"
count = 1
where = { error = "x" }
"#;

fn check(text: &str) {
    match Scenario::parse(text, "fuzz.toml") {
        Ok(_) => {}
        Err(err) => {
            assert!(!err.diagnostics().is_empty(), "{text}");
            for d in err.diagnostics() {
                assert!(d.line >= 1 && d.column >= 1, "{d}");
                assert!(d.line <= text.lines().count() + 1, "{d} in\n{text}");
            }
        }
    }
}

#[test]
fn the_rich_file_is_valid() {
    Scenario::parse(RICH, "rich.toml").unwrap();
}

#[test]
fn truncations_and_mutations_never_panic() {
    let chars: Vec<(usize, char)> = RICH.char_indices().collect();
    for &(at, c) in &chars {
        check(&RICH[..at]);
        let rest = &RICH[at + c.len_utf8()..];
        // Delete the character, or replace it with something that breaks a different rule.
        check(&format!("{}{rest}", &RICH[..at]));
        for replacement in ["0", "-", "\"", "[", "é", "\n", "."] {
            check(&format!("{}{replacement}{rest}", &RICH[..at]));
        }
    }
}
