//! Happy paths: valid files parse to the expected values, with every default applied.

use std::time::Duration;

use vtsim_scenario::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// The example of issue 4, except `duration`: the issue says "10m" while a tablet outage starts
/// at 10m, which its own window rules reject (see `issue_example_as_written_is_rejected`).
const ISSUE_EXAMPLE: &str = r#"
name = "discover-outage"          # optional, defaults to the file stem
description = "Orchestrator black-holes requests for a minute"
duration = "15m"                  # virtual time to simulate; required
seeds = 8                         # how many seeds `cargo test` runs, or a list: seeds = [1, 7, 0xdead]
scheduler = "random"              # or "fifo"; optional

[discover]                        # runs a DiscoverLoop when present
interval = "5s"                   # orc_discover_interval; "0s" means never
timeout = "30s"                   # orc_timeout
mysql_port = 3306                 # 0 means the port is unknown

[orchestrator]
latency = "1ms..10ms"

[[orchestrator.outage]]
from = "0s"
until = "65s"
mode = "hang"                     # refuse | hang | http-500

[shard_conn]                      # runs a ShardConn and a workload when present
keyspace = "ks"
shard = "-80"
tablet_type = "replica"           # master | replica | rdonly
retry_delay = "2ms"
retry_count = 2
conn_timeout_total = "3s"
conn_timeout_per_conn = "1500ms"
conn_life = "1m"

[[tablet]]
uid = 1
query_latency = "1ms..5ms"        # a uniform range drawn from the seed; a single value also works
[[tablet]]
uid = 2
[[tablet.outage]]                 # belongs to the tablet above it
from = "10m"
until = "12m"
mode = "refuse"                   # refuse | hang | retry-error | fatal-error | slow

[workload]
qps = 20
query_timeout = "1s"

[fixes]                           # the fix knobs of the components issue; all false by default
http_status = false

[[expect]]
event = "discover.failed"         # an event kind from the trace vocabulary
count = 1                         # exact; or min = / max =
from = "29s"                      # optional window in virtual time
until = "31s"
"#;

#[test]
fn issue_example_parses_to_the_expected_values() {
    let s = Scenario::parse(ISSUE_EXAMPLE, "sim-scenarios/whatever.toml").unwrap();
    assert_eq!(s.name, "discover-outage");
    assert_eq!(
        s.description,
        "Orchestrator black-holes requests for a minute"
    );
    assert_eq!(s.version, 1);
    assert_eq!(s.duration, secs(15 * 60));
    assert_eq!(s.seeds, Seeds::Count(8));
    assert_eq!(s.seeds.to_vec(), (0..8).collect::<Vec<u64>>());
    assert_eq!(s.scheduler, SchedulerKind::Random);

    assert_eq!(
        s.discover,
        Some(DiscoverConfig {
            interval: secs(5),
            timeout: secs(30),
            mysql_port: 3306,
            host: "tablet-1".into(),
        })
    );
    assert_eq!(
        s.orchestrator,
        OrchestratorConfig {
            latency: DurationRange::new(ms(1), ms(10)),
            outages: vec![OrchestratorOutage {
                window: Window::new(Duration::ZERO, secs(65)),
                mode: OrchestratorOutageMode::Hang,
            }],
            host: "tablet-1".into(),
            mysql_port: 3306,
        }
    );
    assert_eq!(
        s.shard_conn,
        Some(ShardConnConfig {
            keyspace: "ks".into(),
            shard: "-80".into(),
            tablet_type: TabletType::Replica,
            retry_delay: ms(2),
            retry_count: 2,
            conn_timeout_total: secs(3),
            conn_timeout_per_conn: ms(1500),
            conn_life: secs(60),
            reset_down_conn_delay: secs(600),
            close_at: Vec::new(),
        })
    );
    assert_eq!(s.tablets.len(), 2);
    assert_eq!(s.tablets[0].uid, 1);
    assert_eq!(s.tablets[0].host, "tablet-1");
    assert_eq!(s.tablets[0].query_latency, DurationRange::new(ms(1), ms(5)));
    assert!(s.tablets[0].outages.is_empty());
    assert_eq!(
        s.tablets[1].outages,
        vec![TabletOutage {
            window: Window::new(secs(600), secs(720)),
            mode: TabletOutageMode::Refuse,
        }]
    );
    let workload = s.workload.as_ref().unwrap();
    assert_eq!(workload.qps, 20.0);
    assert_eq!(workload.query_timeout, secs(1));
    assert_eq!(workload.stop, s.duration);
    assert_eq!(s.fixes, Fixes::faithful());
    assert_eq!(s.expectations.len(), 1);
    let expect = &s.expectations[0];
    assert_eq!(expect.event, "discover.failed");
    assert_eq!(expect.count, CountBound::Exactly(1));
    assert_eq!(expect.window, Window::new(secs(29), secs(31)));
    assert_eq!(expect.line, 48);
    assert_eq!(
        expect.to_string(),
        "discover.failed count = 1 in [29s, 31s)"
    );
}

#[test]
fn issue_example_as_written_is_rejected() {
    // With duration = "10m" the tablet outage 10m..12m lies entirely after the run.
    let text = ISSUE_EXAMPLE.replace("duration = \"15m\"", "duration = \"10m\"");
    let err = Scenario::parse(&text, "issue.toml").unwrap_err();
    let lines: Vec<String> = err.to_string().lines().map(String::from).collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(
        lines[0].starts_with("issue.toml:37:8: tablet[1].outage[0].from: 10m is not before"),
        "{err}"
    );
    assert!(
        lines[1].starts_with("issue.toml:38:9: tablet[1].outage[0].until: 12m is beyond"),
        "{err}"
    );
}

#[test]
fn minimal_file_gets_every_default() {
    let s = Scenario::parse("duration = \"1h\"\n", "dir/quiet.toml").unwrap();
    assert_eq!(s.name, "quiet");
    assert_eq!(s.source, std::path::Path::new("dir/quiet.toml"));
    assert_eq!(s.description, "");
    assert_eq!(s.duration, secs(3600));
    assert_eq!(s.seeds, Seeds::Count(8));
    assert_eq!(s.scheduler, SchedulerKind::Random);
    assert_eq!(s.timer_slop, Duration::ZERO);
    assert_eq!(s.timer_order, TimerOrder::Random);
    assert_eq!(
        s.limits,
        Limits {
            max_events: 5_000_000,
            max_wall: secs(60),
        }
    );
    assert_eq!(s.discover, None);
    assert_eq!(s.orchestrator.latency, DurationRange::new(ms(1), ms(10)));
    assert!(s.orchestrator.outages.is_empty());
    assert_eq!(s.topo.latency, DurationRange::new(ms(1), ms(2)));
    assert_eq!(s.shard_conn, None);
    assert!(s.tablets.is_empty());
    assert_eq!(s.workload, None);
    assert!(s.maintenance.is_empty());
    assert_eq!(s.fixes, Fixes::default());
    assert!(s.expectations.is_empty());
}

#[test]
fn section_defaults_follow_the_vitess_flags() {
    let text = "duration = \"1m\"\n[discover]\n[shard_conn]\n[[tablet]]\nuid = 7\n";
    let s = Scenario::parse(text, "d.toml").unwrap();
    let discover = s.discover.unwrap();
    assert_eq!(
        discover.interval,
        Duration::ZERO,
        "orc_discover_interval 0: never"
    );
    assert_eq!(discover.timeout, secs(30));
    assert_eq!(discover.mysql_port, 3306);
    let sc = s.shard_conn.unwrap();
    assert_eq!(sc.keyspace, "ks");
    assert_eq!(sc.shard, "0");
    assert_eq!(sc.tablet_type, TabletType::Replica);
    assert_eq!(sc.retry_delay, ms(2));
    assert_eq!(sc.retry_count, 2);
    assert_eq!(sc.conn_timeout_total, secs(3));
    assert_eq!(sc.conn_timeout_per_conn, ms(1500));
    assert_eq!(sc.conn_life, secs(365 * 86_400));
    assert_eq!(sc.reset_down_conn_delay, secs(600));
    let t = &s.tablets[0];
    assert_eq!(t.host, "tablet-7");
    assert_eq!(t.dial_latency, DurationRange::new(ms(1), ms(3)));
    assert_eq!(t.query_latency, DurationRange::new(ms(1), ms(5)));
    let w = s.workload.unwrap();
    assert_eq!(w.qps, 10.0);
    assert_eq!(w.query_timeout, secs(1));
    assert_eq!(w.transaction_share, 0.0);
    assert_eq!(w.stream_share, 0.0);
    assert_eq!(w.stream_duration, DurationRange::fixed(secs(1)));
    assert_eq!((w.start, w.stop), (Duration::ZERO, secs(60)));
    assert!(w.bursts.is_empty());
}

#[test]
fn seeds_list_takes_hex_and_keeps_order() {
    let text = "duration = \"1s\"\nseeds = [1, 7, 0xdead, 0o17, 0b11]\n";
    let s = Scenario::parse(text, "s.toml").unwrap();
    assert_eq!(s.seeds, Seeds::List(vec![1, 7, 0xdead, 0o17, 0b11]));
    assert_eq!(s.seeds.len(), 5);
    assert_eq!(s.seeds.first(), 1);
}

#[test]
fn humantime_forms_are_accepted_everywhere() {
    let text = r#"
duration = "1h30m"
timer_slop = "250us"
[limits]
max_wall = "1.5s"
max_events = 1_000
[discover]
interval = "1.5s"
timeout = "2m 30s"
[shard_conn]
conn_life = "1d"
retry_delay = "0s"
[[tablet]]
uid = 1
dial_latency = "10ms"
query_latency = "500us..2.5ms"
"#;
    let s = Scenario::parse(text, "h.toml").unwrap();
    assert_eq!(s.duration, secs(5400));
    assert_eq!(s.timer_slop, Duration::from_micros(250));
    assert_eq!(s.limits.max_wall, ms(1500));
    assert_eq!(s.limits.max_events, 1000);
    let d = s.discover.unwrap();
    assert_eq!(d.interval, ms(1500));
    assert_eq!(d.timeout, secs(150));
    let sc = s.shard_conn.unwrap();
    assert_eq!(sc.conn_life, secs(86_400));
    assert_eq!(sc.retry_delay, Duration::ZERO);
    assert_eq!(s.tablets[0].dial_latency, DurationRange::fixed(ms(10)));
    assert_eq!(
        s.tablets[0].query_latency,
        DurationRange::new(Duration::from_micros(500), Duration::from_micros(2500))
    );
}

#[test]
fn every_section_and_extension_parses() {
    let text = r#"
duration = "10m"
version = 1
scheduler = "fifo"
seeds = 3

[discover]
interval = "5s"
mysql_port = 0
host = "db-7"

[orchestrator]
[[orchestrator.outage]]
until = "1m"
mode = "http-500"
[[orchestrator.outage]]
from = "1m"
mode = "refuse"

[topo]
latency = "0s"
[[topo.error]]
from = "2m"
until = "3m"
[[topo.change]]
at = "4m"
endpoints = [2]
[[topo.change]]
at = "5m"
endpoints = []

[shard_conn]
tablet_type = "master"
conn_life = "0s"             # ignored for master: no rotation ticker

[[tablet]]
uid = 1
host = "alpha"
[[tablet.outage]]
from = "1m"
until = "2m"
mode = "slow"
extra_latency = "1s..2s"
[[tablet.outage]]
from = "2m"
until = "3m"
mode = "retry-error"
[[tablet]]
uid = 2
[[tablet.outage]]
mode = "fatal-error"
from = "9m"

[workload]
qps = 0.5
transaction_share = 0.25
stream_share = 0.5
stream_duration = "1s..4s"
start = "10s"
stop = "9m"
burst = [{ at = "30s", count = 50 }, { at = "0s", count = 3 }]

[[maintenance]]
begin = "1m"
end = "1m"
reason = "backup"
[[maintenance]]
begin = "8m"

[fixes]
ticker_stop = true
http_status = true

[[expect]]
event = "query.failed"
min = 1
max = 10
where = { uid = 2, timeout = false, error = "ConnClosed" }
[[expect]]
event = "maintenance.end"
max = 1
[[expect]]
event = "ticker.tick"
min = 0
"#;
    let s = Scenario::parse(text, "all.toml").unwrap();
    assert_eq!(s.scheduler, SchedulerKind::Fifo);
    assert_eq!(s.timer_order, TimerOrder::Fifo, "follows a fifo scheduler");
    assert_eq!(s.seeds.to_vec(), vec![0, 1, 2]);
    let d = s.discover.as_ref().unwrap();
    assert_eq!((d.mysql_port, d.host.as_str()), (0, "db-7"));
    assert_eq!(
        s.orchestrator.outages,
        vec![
            OrchestratorOutage {
                window: Window::new(Duration::ZERO, secs(60)),
                mode: OrchestratorOutageMode::Http500,
            },
            OrchestratorOutage {
                window: Window::new(secs(60), secs(600)),
                mode: OrchestratorOutageMode::Refuse,
            },
        ]
    );
    assert_eq!(
        s.topo,
        TopoConfig {
            latency: DurationRange::fixed(Duration::ZERO),
            errors: vec![Window::new(secs(120), secs(180))],
            changes: vec![
                EndpointChange {
                    at: secs(240),
                    endpoints: vec![2],
                },
                EndpointChange {
                    at: secs(300),
                    endpoints: vec![],
                },
            ],
        }
    );
    assert_eq!(
        s.shard_conn.as_ref().unwrap().tablet_type,
        TabletType::Master
    );
    assert_eq!(s.tablets[0].host, "alpha");
    assert_eq!(
        s.tablets[0].outages[0].mode,
        TabletOutageMode::Slow {
            extra_latency: DurationRange::new(secs(1), secs(2)),
        }
    );
    assert_eq!(s.tablets[0].outages[1].mode, TabletOutageMode::RetryError);
    assert_eq!(
        s.tablets[1].outages[0],
        TabletOutage {
            window: Window::new(secs(540), secs(600)),
            mode: TabletOutageMode::FatalError,
        }
    );
    let w = s.workload.as_ref().unwrap();
    assert_eq!(
        (w.qps, w.transaction_share, w.stream_share),
        (0.5, 0.25, 0.5)
    );
    assert_eq!(w.stream_duration, DurationRange::new(secs(1), secs(4)));
    assert_eq!((w.start, w.stop), (secs(10), secs(540)));
    assert_eq!(
        w.bursts,
        vec![
            Burst {
                at: Duration::ZERO,
                count: 3,
            },
            Burst {
                at: secs(30),
                count: 50,
            },
        ],
        "sorted by time"
    );
    assert_eq!(
        s.maintenance,
        vec![
            Maintenance {
                begin: secs(60),
                end: Some(secs(60)),
                reason: "backup".into(),
            },
            Maintenance {
                begin: secs(480),
                end: None,
                reason: "vtsim".into(),
            },
        ]
    );
    let mut fixes = Fixes::faithful();
    fixes.ticker_stop = true;
    fixes.http_status = true;
    assert_eq!(s.fixes, fixes);

    let e = &s.expectations[0];
    assert_eq!(e.count, CountBound::Between(1, 10));
    assert_eq!(e.window, Window::new(Duration::ZERO, secs(600)));
    assert_eq!(
        e.filters,
        vec![
            FieldFilter {
                field: "error".into(),
                value: FieldValue::Str("ConnClosed".into()),
            },
            FieldFilter {
                field: "timeout".into(),
                value: FieldValue::Bool(false),
            },
            FieldFilter {
                field: "uid".into(),
                value: FieldValue::Int(2),
            },
        ]
    );
    assert_eq!(
        e.to_string(),
        "query.failed min = 1, max = 10 in [0s, 10m) where error = \"ConnClosed\", timeout = false, uid = 2"
    );
    assert_eq!(s.expectations[1].count, CountBound::AtMost(1));
    assert_eq!(s.expectations[2].count, CountBound::AtLeast(0));
}

#[test]
fn zero_variance_is_allowed_with_the_fix() {
    let text = r#"
duration = "1s"
[discover]
interval = "3ns"
[shard_conn]
conn_life = "1ns"
[[tablet]]
uid = 1
[fixes]
ticker_zero_variance = true
"#;
    let s = Scenario::parse(text, "z.toml").unwrap();
    assert_eq!(s.discover.unwrap().interval, Duration::from_nanos(3));
    assert_eq!(s.shard_conn.unwrap().conn_life, Duration::from_nanos(1));
}

#[test]
fn windows_may_end_at_duration_and_touch_each_other() {
    let text = r#"
duration = "1m"
[discover]
[[orchestrator.outage]]
from = "0s"
until = "30s"
mode = "hang"
[[orchestrator.outage]]
from = "30s"
until = "1m"
mode = "refuse"
[[expect]]
event = "discover.attempt"
count = 0
from = "59s"
until = "1m"
"#;
    let s = Scenario::parse(text, "w.toml").unwrap();
    assert_eq!(s.orchestrator.outages[1].window.until, secs(60));
    assert_eq!(s.expectations[0].window, Window::new(secs(59), secs(60)));
}

#[test]
fn count_bounds_are_inclusive() {
    assert!(CountBound::Exactly(2).allows(2));
    assert!(!CountBound::Exactly(2).allows(3));
    assert!(CountBound::AtLeast(2).allows(2));
    assert!(!CountBound::AtLeast(2).allows(1));
    assert!(CountBound::AtMost(2).allows(2));
    assert!(!CountBound::AtMost(2).allows(3));
    assert!(CountBound::Between(1, 3).allows(1));
    assert!(CountBound::Between(1, 3).allows(3));
    assert!(!CountBound::Between(1, 3).allows(4));
}

#[test]
fn field_values_match_display_text() {
    assert!(FieldValue::Int(2).matches_text("2"));
    assert!(!FieldValue::Int(2).matches_text("20"));
    assert!(FieldValue::Bool(true).matches_text("true"));
    assert!(FieldValue::Str("ks.-80.replica".into()).matches_text("ks.-80.replica"));
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = r#"
duration = "1m"
scheduler = "lifo"
[discover]
interval = "2ns"
timeout = "0s"
[[expect]]
event = "discover.failed"
min = 3
max = 1
"#;
    let err = Scenario::parse(text, "many.toml").unwrap_err();
    let lines: Vec<String> = err.to_string().lines().map(String::from).collect();
    assert_eq!(lines.len(), 4, "{lines:#?}");
    assert!(lines[0].starts_with("many.toml:3:13: scheduler: unknown scheduler \"lifo\""));
    assert!(lines[1].starts_with("many.toml:5:12: discover.interval: "));
    assert!(lines[2].starts_with("many.toml:6:11: discover.timeout: must be greater than 0s"));
    assert!(lines[3].starts_with("many.toml:9:7: expect[0].min: min = 3 is above max = 1"));
}

#[test]
fn load_reports_missing_files_and_bad_utf8() {
    let err = Scenario::load("/nonexistent/vtsim/x.toml").unwrap_err();
    assert!(matches!(err, ScenarioError::Read { .. }));
    assert!(err
        .to_string()
        .starts_with("/nonexistent/vtsim/x.toml: cannot read scenario file:"));

    let dir = std::env::temp_dir().join(format!("vtsim-scenario-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("latin1.toml");
    std::fs::write(&file, b"duration = \"1m\"\nname = \"caf\xe9\"\n").unwrap();
    let err = Scenario::load(&file).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("latin1.toml:2:12: the file is not valid UTF-8"),
        "{message}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn send_latency_defaults_to_zero_and_takes_a_range() {
    let text = r#"
duration = "1m"
[shard_conn]
[[tablet]]
uid = 1
[[tablet]]
uid = 2
send_latency = "1ms..2s"
"#;
    let scenario = Scenario::parse(text, "send.toml").unwrap();
    assert_eq!(
        scenario.tablets[0].send_latency,
        DurationRange::fixed(Duration::ZERO)
    );
    assert_eq!(
        scenario.tablets[1].send_latency,
        DurationRange::new(ms(1), secs(2))
    );
    let err = Scenario::parse(&text.replace("1ms..2s", "2s..1ms"), "send.toml").unwrap_err();
    assert!(
        err.to_string()
            .contains("send.toml:8:16: tablet[1].send_latency: "),
        "{err}"
    );
}

#[test]
fn close_at_and_expect_panic_parse_and_validate() {
    let text = r#"
duration = "2m"
[shard_conn]
close_at = ["1m", "1m", "90s"]
[[tablet]]
uid = 1
[expect_panic]
message = "RandTicker.Stop called twice"
"#;
    let s = Scenario::parse(text, "close.toml").unwrap();
    assert_eq!(
        s.shard_conn.unwrap().close_at,
        vec![secs(60), secs(60), secs(90)]
    );
    let panic = s.expect_panic.unwrap();
    assert_eq!(panic.message, "RandTicker.Stop called twice");
    assert_eq!(panic.line, 7);

    let bad = text
        .replace(r#"["1m", "1m", "90s"]"#, r#"["1m", "30s", "2m"]"#)
        .replace("message = \"RandTicker.Stop called twice\"", "");
    let message = Scenario::parse(&bad, "close.toml").unwrap_err().to_string();
    assert!(
        message.contains(
            "close.toml:4:19: shard_conn.close_at[1]: 30s is before the close before it (1m)"
        ),
        "{message}"
    );
    assert!(
        message.contains(
            "close.toml:4:26: shard_conn.close_at[2]: 2m is not before the end of the run"
        ),
        "{message}"
    );
    assert!(
        message.contains("close.toml:7:1: expect_panic.message: missing required key message"),
        "{message}"
    );
}

#[test]
fn the_tablet_identity_comes_from_discover_or_else_orchestrator() {
    let maintenance_only = r#"
duration = "1m"
[orchestrator]
host = "db-7"
mysql_port = 3307
[[maintenance]]
begin = "10s"
"#;
    let s = Scenario::parse(maintenance_only, "m.toml").unwrap();
    assert_eq!(
        (s.orchestrator.host.as_str(), s.orchestrator.mysql_port),
        ("db-7", 3307)
    );

    let defaults = Scenario::parse(
        "duration = \"1m\"\n[[maintenance]]\nbegin = \"1s\"\n",
        "d.toml",
    )
    .unwrap();
    assert_eq!(
        (
            defaults.orchestrator.host.as_str(),
            defaults.orchestrator.mysql_port
        ),
        ("tablet-1", 3306)
    );

    let with_discover = "duration = \"1m\"\n[discover]\nhost = \"db-1\"\nmysql_port = 0\n";
    let s = Scenario::parse(with_discover, "w.toml").unwrap();
    assert_eq!(
        (s.orchestrator.host.as_str(), s.orchestrator.mysql_port),
        ("db-1", 0)
    );

    let both = "duration = \"1m\"\n[discover]\n[orchestrator]\nmysql_port = 3307\n";
    let message = Scenario::parse(both, "b.toml").unwrap_err().to_string();
    assert!(message.contains("b.toml:4:14: orchestrator.mysql_port: with [discover] the tablet's mysql_port is discover.mysql_port"), "{message}");
}
