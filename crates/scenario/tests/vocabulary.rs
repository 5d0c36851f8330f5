//! The trace vocabulary: every kind the world and the components emit can be counted, and a
//! `where` may only name fields that kind carries.

use vtsim_scenario::{FieldValue, Scenario, EVENT_KINDS};

#[test]
fn the_world_and_component_kinds_are_countable() {
    for kind in [
        "query.start",
        "orchestrator.request",
        "fault.start",
        "fault.end",
        "topo.change",
        "topo.error",
        "ticker.stop",
        "maintenance.failed",
    ] {
        assert!(EVENT_KINDS.contains(&kind), "{kind}");
    }
    let text = r#"
duration = "1m"
[shard_conn]
[[tablet]]
uid = 1
[[maintenance]]
begin = "1s"
[[expect]]
event = "query.start"
min = 1
where = { transaction = false, stream = false }
[[expect]]
event = "orchestrator.request"
count = 1
where = { call = "begin-maintenance", in_maintenance = true }
[[expect]]
event = "fault.start"
count = 0
where = { peer = "tablet/1" }
[[expect]]
event = "topo.error"
count = 0
[[expect]]
event = "maintenance.failed"
count = 0
where = { op = "begin" }
"#;
    let scenario = Scenario::parse(text, "kinds.toml").unwrap();
    assert_eq!(scenario.expectations.len(), 5);
    assert_eq!(
        scenario.expectations[1].filters[0].value,
        FieldValue::Str("begin-maintenance".into())
    );
}

#[test]
fn a_world_kind_needs_its_peer() {
    let text = r#"
duration = "1m"
[[expect]]
event = "orchestrator.request"
count = 0
[[expect]]
event = "topo.change"
count = 0
"#;
    let message = Scenario::parse(text, "k.toml").unwrap_err().to_string();
    assert!(
        message.contains("k.toml:4:9: expect[0].event: no component in this scenario emits \"orchestrator.request\"; it needs a [discover] section or a [[maintenance]] episode"),
        "{message}"
    );
    assert!(
        message.contains("k.toml:7:9: expect[1].event: no component in this scenario emits \"topo.change\"; it needs a [shard_conn] section"),
        "{message}"
    );
}

#[test]
fn a_where_field_the_kind_never_carries_is_an_error() {
    let text = r#"
duration = "1m"
[discover]
interval = "5s"
[[expect]]
event = "discover.attempt"
min = 1
where = { atempt = 1 }
[[expect]]
event = "discover.recovered"
count = 0
where = { error = "x" }
[[expect]]
event = "discover.attempt"
min = 1
where = { attempt = 1, port = 3306, host = "tablet-1" }
"#;
    let err = Scenario::parse(text, "w.toml").unwrap_err();
    assert_eq!(err.diagnostics().len(), 2, "{err}");
    let message = err.to_string();
    assert!(
        message.contains("w.toml:8:20: expect[0].where.atempt: discover.attempt events have no field \"atempt\", so this would match nothing; allowed: host, port, attempt"),
        "{message}"
    );
    assert!(
        message.contains("w.toml:12:19: expect[1].where.error: discover.recovered events have no field \"error\", so this would match nothing; allowed: none, discover.recovered events carry no fields; remove the where"),
        "{message}"
    );
}
