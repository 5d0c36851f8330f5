//! The `vtsim` binary end to end: exit codes, messages, and output that must not change between
//! runs, job counts or shards.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn malformed_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/malformed")
}

fn vtsim<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Command::new(env!("CARGO_BIN_EXE_vtsim"))
        .args(args)
        .env_remove("VTSIM_LOG")
        .output()
        .expect("the vtsim binary runs")
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("vtsim exits normally")
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("UTF-8 output")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn every_malformed_file_exits_2_naming_file_line_and_key() {
    let text = std::fs::read_to_string(malformed_dir().join("EXPECTED.toml")).unwrap();
    let table: toml::Table = text.parse().unwrap();
    let cases = table["case"].as_array().unwrap();
    assert!(cases.len() >= 20, "the table has {} cases", cases.len());
    let mut failures = Vec::new();
    for case in cases {
        let file = case["file"].as_str().unwrap();
        let line = case["line"].as_integer().unwrap();
        let key = case["key"].as_str().unwrap();
        let fragment = case["fragment"].as_str().unwrap();
        // `run` and `replay` load the same way; alternate so both paths are covered.
        let path = malformed_dir().join(file);
        let out = if line % 2 == 0 {
            vtsim([Path::new("run"), &path])
        } else {
            vtsim([
                "replay".as_ref(),
                path.as_os_str(),
                "--seed".as_ref(),
                "1".as_ref(),
            ])
        };
        let message = stderr(&out);
        let location = format!("{file}:{line}:");
        let named = message.lines().any(|l| {
            l.contains(&location) && l.contains(&format!(": {key}: ")) && l.contains(fragment)
        });
        if code(&out) != 2 || !named || !out.stdout.is_empty() && line % 2 == 1 {
            failures.push(format!(
                "{file}: exit {}, wanted 2 with `{location}`, key `{key}` and `{fragment}`:\n{message}",
                code(&out)
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn usage_errors_exit_2_and_help_exits_0_with_an_example() {
    for bad in [
        vec!["run"],
        vec!["frobnicate"],
        vec!["replay", "x.toml"],
        vec!["explore", "x.toml", "--seeds", "10", "--shard", "2/2"],
        vec!["explore", "x.toml", "--seeds", "10", "--shard", "0/0"],
        vec!["run", "x.toml", "--seed", "ten"],
    ] {
        let out = vtsim(&bad);
        assert_eq!(code(&out), 2, "{bad:?}: {}", stderr(&out));
        assert!(!stderr(&out).is_empty(), "{bad:?}");
    }
    for sub in ["run", "replay", "explore", "check-determinism"] {
        let out = vtsim([sub, "--help"]);
        assert_eq!(code(&out), 0, "{sub}");
        let help = stdout(&out);
        assert!(
            help.contains("Examples:") && help.contains(&format!("  vtsim {sub} ")),
            "{sub}:\n{help}"
        );
    }
    let out = vtsim(["--version"]);
    assert_eq!(code(&out), 0);
    assert!(stdout(&out).starts_with(&format!("vtsim {} (", env!("CARGO_PKG_VERSION"))));
}

#[test]
fn missing_files_and_empty_folders_are_bad_input() {
    let out = vtsim([data("no-such.toml")]);
    assert_eq!(code(&out), 2);
    let out = vtsim([Path::new("run"), &data("no-such.toml")]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("no-such.toml: no such file or folder"),
        "{}",
        stderr(&out)
    );
    let out = vtsim([
        Path::new("explore"),
        &data("no-such.toml"),
        Path::new("--seeds"),
        Path::new("3"),
    ]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("no-such.toml: cannot read scenario file"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn run_prints_one_summary_line_per_scenario_and_the_worst_exit_code() {
    let pass = data("discover-hang.toml");
    let fail = data("healthy-expects-failure.toml");
    let liveness = data("event-limit.toml");
    let bad = malformed_dir().join("bad-duration.toml");

    let out = vtsim([Path::new("run"), &pass]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert!(
        stdout(&out).starts_with("PASS discover-hang: 4/4 seeds passed ("),
        "{}",
        stdout(&out)
    );

    let out = vtsim([Path::new("run"), &fail, &pass]);
    assert_eq!(code(&out), 1);
    let text = stdout(&out);
    let summaries: Vec<&str> = text.lines().filter(|l| !l.starts_with(' ')).collect();
    assert_eq!(summaries.len(), 3, "{text}");
    assert!(
        summaries[0].starts_with(
            "FAIL healthy-expects-failure: 0/3 seeds passed, 3 failed; first failing seed 0: \
         expect[0] discover.failed: expected count = 1, observed 0 ("
        ),
        "{text}"
    );
    assert!(summaries[1].starts_with("PASS discover-hang: "), "{text}");
    assert!(
        summaries[2].starts_with("vtsim run: 2 scenarios, 7 seeds, 1 failing, 0 invalid"),
        "{text}"
    );
    // The replay line, with the version and commit the seed replays on.
    let replay = format!(
        "  replay: vtsim replay {} --seed 0  # vtsim {} (commit ",
        fail.display(),
        env!("CARGO_PKG_VERSION")
    );
    assert!(text.contains(&replay), "{text}");

    // Precedence: liveness (3) over failure (1); bad input (2) over everything.
    let out = vtsim([Path::new("run"), &fail, &liveness]);
    assert_eq!(code(&out), 3, "{}", stdout(&out));
    assert!(
        stdout(&out).contains("LIVENESS event-limit: 0/2 seeds passed"),
        "{}",
        stdout(&out)
    );
    let out = vtsim([Path::new("run"), &liveness, &bad, &fail]);
    assert_eq!(code(&out), 2);
    // The valid files still run and report.
    assert!(
        stdout(&out).contains("vtsim run: 2 scenarios, 5 seeds, 2 failing, 1 invalid"),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("bad-duration.toml:2:"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn run_seed_overrides_accept_hex_and_print_decimal() {
    let fail = data("healthy-expects-failure.toml");
    let out = vtsim([
        Path::new("run"),
        &fail,
        Path::new("--seed"),
        Path::new("0x10"),
    ]);
    assert_eq!(code(&out), 1);
    assert!(
        stdout(&out).contains("0/1 seeds passed, 1 failed; first failing seed 16: "),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("vtsim run: 1 scenario, 1 seed, 1 failing, 0 invalid"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains(" --seed 16  # vtsim "),
        "{}",
        stdout(&out)
    );
    let out = vtsim([
        Path::new("run"),
        &data("discover-hang.toml"),
        Path::new("--seeds"),
        Path::new("6"),
    ]);
    assert!(
        stdout(&out).starts_with("PASS discover-hang: 6/6 seeds passed"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn run_with_jobs_reports_the_same_as_one_job() {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    // Everything but the seeds/s figures and the wall time must match.
    let strip = |out: &Output| -> Vec<String> {
        stdout(out)
            .lines()
            .map(|l| l.rsplit_once(" (").map_or(l, |(head, _)| head).to_owned())
            .collect()
    };
    let one = vtsim([
        Path::new("run"),
        &folder,
        Path::new("--seeds"),
        Path::new("5"),
    ]);
    let two = vtsim([
        Path::new("run"),
        &folder,
        Path::new("--seeds"),
        Path::new("5"),
        Path::new("--jobs"),
        Path::new("2"),
    ]);
    assert_eq!(code(&one), code(&two));
    assert_eq!(strip(&one), strip(&two));
    assert_eq!(stdout(&one).lines().count(), stdout(&two).lines().count());
}

#[test]
fn replay_is_byte_identical_every_time_in_every_format() {
    let file = data("rotation.toml");
    for format in ["text", "json", "chrome"] {
        let args = [
            Path::new("replay"),
            &file,
            Path::new("--seed"),
            Path::new("7"),
            Path::new("--format"),
            Path::new(format),
        ];
        let (a, b) = (vtsim(args), vtsim(args));
        assert_eq!(code(&a), 0, "{format}: {}", stderr(&a));
        assert!(a.stdout.len() > 1000, "{format}: {} bytes", a.stdout.len());
        assert!(a.stdout == b.stdout, "{format}: two replays differ");
    }
}

#[test]
fn replay_filters_and_hash() {
    let file = data("rotation.toml");
    let base = [
        Path::new("replay"),
        &file,
        Path::new("--seed"),
        Path::new("1"),
    ];
    let full = stdout(&vtsim(base));
    let filtered = stdout(&vtsim(base.iter().copied().chain(
        ["--kind", "shardconn.rot", "--from", "5s", "--until", "40s"].map(Path::new),
    )));
    assert!(!filtered.is_empty());
    for line in filtered.lines() {
        assert!(line.contains(" shardconn.rotated "), "{line}");
        assert!(full.contains(line));
    }
    let all_rotations = full
        .lines()
        .filter(|l| l.contains(" shardconn.rotated "))
        .count();
    assert!(
        filtered.lines().count() < all_rotations,
        "the window drops some rotations"
    );

    let hash = vtsim(base.iter().copied().chain([Path::new("--hash")]));
    let hash = stdout(&hash);
    assert_eq!(hash.len(), 17, "{hash:?}");
    assert!(hash.trim_end().chars().all(|c| c.is_ascii_hexdigit()));

    let out = vtsim(
        base.iter()
            .copied()
            .chain(["--from", "10s", "--until", "10s"].map(Path::new)),
    );
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("--until"), "{}", stderr(&out));

    // A failing seed replays with its exit code, and says why on stderr.
    let fail = data("healthy-expects-failure.toml");
    let out = vtsim([
        Path::new("replay"),
        &fail,
        Path::new("--seed"),
        Path::new("2"),
    ]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("expect[0] discover.failed: expected count = 1, observed 0"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn chrome_output_is_trace_event_json_with_spans() {
    let file = data("rotation.toml");
    let target = std::env::temp_dir().join(format!("vtsim-chrome-{}.json", std::process::id()));
    let out = vtsim([
        Path::new("replay"),
        &file,
        Path::new("--seed"),
        Path::new("7"),
        Path::new("--format"),
        Path::new("chrome"),
        Path::new("-o"),
        &target,
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "-o writes nothing to stdout");
    let text = std::fs::read_to_string(&target).unwrap();
    let _ = std::fs::remove_file(&target);
    let doc: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    let events = doc["traceEvents"].as_array().expect("traceEvents");
    let count = |ph: &str, cat: &str| {
        events
            .iter()
            .filter(|e| e["ph"] == ph && (cat.is_empty() || e["cat"] == cat))
            .count()
    };
    assert!(count("i", "") > 100);
    assert!(
        count("X", "connection") >= 2,
        "rotations make several connections"
    );
    assert!(count("X", "query") > 100, "20 qps for a minute");
    for event in events {
        assert!(
            event["ph"].is_string() && event["pid"].is_number() && event["tid"].is_number(),
            "{event}"
        );
        if event["ph"] != "M" {
            assert!(event["ts"].as_f64().is_some_and(|ts| ts >= 0.0), "{event}");
        }
    }
    let tracks: BTreeSet<&str> = events
        .iter()
        .filter(|e| e["name"] == "thread_name")
        .map(|e| e["args"]["name"].as_str().unwrap())
        .collect();
    assert!(
        tracks.contains("tablet 1") && tracks.contains("queries"),
        "{tracks:?}"
    );
}

fn explore_lines(file: &Path, extra: &[&str]) -> (i32, Vec<String>) {
    let mut args: Vec<&std::ffi::OsStr> = vec!["explore".as_ref(), file.as_os_str()];
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    let out = vtsim(args);
    let lines = stdout(&out).lines().map(str::to_owned).collect();
    (code(&out), lines)
}

#[test]
fn explore_json_is_the_same_set_of_lines_for_any_jobs_and_shards() {
    let file = data("discover-hang.toml");
    let (code1, one) = explore_lines(&file, &["--seeds", "12", "--start", "3", "--json"]);
    let (code2, two) = explore_lines(
        &file,
        &["--seeds", "12", "--start", "3", "--json", "--jobs", "2"],
    );
    assert_eq!((code1, code2), (0, 0));
    assert_eq!(one.len(), 12);
    let set = |lines: &[String]| lines.iter().cloned().collect::<BTreeSet<_>>();
    assert_eq!(set(&one), set(&two));
    for line in &one {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        let keys: Vec<&String> = value.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["failed", "hash", "outcome", "seed"], "{line}");
        assert_eq!(value["outcome"], "pass");
    }
    let seeds: BTreeSet<u64> = one
        .iter()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["seed"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(seeds, (3..15).collect());

    let (_, shard0) = explore_lines(
        &file,
        &["--seeds", "12", "--start", "3", "--json", "--shard", "0/2"],
    );
    let (_, shard1) = explore_lines(
        &file,
        &[
            "--seeds", "12", "--start", "3", "--json", "--shard", "1/2", "--jobs", "2",
        ],
    );
    assert_eq!(shard0.len() + shard1.len(), 12);
    assert!(set(&shard0).is_disjoint(&set(&shard1)));
    let union: BTreeSet<String> = set(&shard0).union(&set(&shard1)).cloned().collect();
    assert_eq!(union, set(&one));
    assert!(shard0.iter().all(|l| l.starts_with("{\"seed\":") && {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        v["seed"].as_u64().unwrap() % 2 == 0
    }));
}

#[test]
fn explore_prints_each_failure_and_exits_with_the_worst_code() {
    let fail = data("healthy-expects-failure.toml");
    let (code1, one) = explore_lines(&fail, &["--seeds", "4", "--start", "0x20"]);
    assert_eq!(code1, 1);
    assert_eq!(one.len(), 4, "{one:?}");
    for (line, seed) in one.iter().zip(32..) {
        assert!(line.starts_with(&format!("FAIL seed={seed} expect[0] discover.failed: expected count = 1, observed 0 | replay: vtsim replay ")), "{line}");
        assert!(
            line.contains(&format!(
                " --seed {seed}  # vtsim {} (commit ",
                env!("CARGO_PKG_VERSION")
            )),
            "{line}"
        );
    }
    let (code2, two) = explore_lines(&fail, &["--seeds", "4", "--start", "0x20", "--jobs", "2"]);
    assert_eq!(code2, 1);
    assert_eq!(
        one.iter().collect::<BTreeSet<_>>(),
        two.iter().collect::<BTreeSet<_>>()
    );

    let (code, lines) = explore_lines(&data("event-limit.toml"), &["--seeds", "2", "--json"]);
    assert_eq!(code, 3);
    assert!(
        lines.iter().all(|l| l.contains("\"outcome\":\"liveness\"")),
        "{lines:?}"
    );

    let (code, lines) = explore_lines(&data("discover-hang.toml"), &["--seeds", "3"]);
    assert_eq!((code, lines.len()), (0, 0), "no failure, no output");
}

#[test]
fn check_determinism_prints_the_hash_that_replay_prints() {
    let file = data("rotation.toml");
    let out = vtsim([
        Path::new("check-determinism"),
        &file,
        Path::new("--seed"),
        Path::new("0xdead"),
    ]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let hash = vtsim([
        Path::new("replay"),
        &file,
        Path::new("--seed"),
        Path::new("57005"),
        Path::new("--hash"),
    ]);
    assert_eq!(stdout(&out), format!("deterministic {}", stdout(&hash)));

    // Bad input in the children is bad input of the parent.
    let bad = malformed_dir().join("bad-duration.toml");
    let out = vtsim([Path::new("check-determinism"), &bad]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("bad-duration.toml:2:"),
        "{}",
        stderr(&out)
    );
}

/// `VTSIM_LOG` prints events to stderr as they happen, stamped with virtual time, and leaves
/// stdout (here the hash) alone; piped, it has no colour codes.
#[test]
fn vtsim_log_prints_events_in_virtual_time() {
    let out = Command::new(env!("CARGO_BIN_EXE_vtsim"))
        .args([
            "replay",
            data("discover-hang.toml").to_str().unwrap(),
            "--seed",
            "1",
            "--hash",
        ])
        .env("VTSIM_LOG", "warn")
        .output()
        .expect("the vtsim binary runs");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let quiet = vtsim([
        "replay",
        data("discover-hang.toml").to_str().unwrap(),
        "--seed",
        "1",
        "--hash",
    ]);
    assert_eq!(
        stdout(&out),
        stdout(&quiet),
        "logging does not change the trace"
    );
    let err = stderr(&out);
    let line = err
        .lines()
        .find(|l| l.contains("Orchestrator self-registration attempt failed"))
        .unwrap_or_else(|| panic!("no warning logged:\n{err}"));
    assert!(line.trim_start().starts_with("30.000000000s"), "{line}");
    assert!(!err.contains('\u{1b}'), "colour codes on a pipe: {err:?}");
    assert!(!stderr(&quiet).contains("attempt failed"));
}
