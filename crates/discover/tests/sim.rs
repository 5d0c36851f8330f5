//! DiscoverLoop and the Orchestrator client in the simulation, pinned to spec section 2 and
//! to the timing bugs 7.1 (coalesced ticks) and 7.7 (maintenance reordering).

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use vtsim_discover::{
    HttpRequest, HttpResponse, Method, OrcClient, OrcConfig, OrcError, OrchestratorTransport,
    TransportError, TransportFuture,
};
use vtsim_runtime::time::{self, Instant};
use vtsim_runtime::{task, Sim, Trace};
use vtsim_timer::{Fixes, TickerError};

const SECOND: Duration = Duration::from_secs(1);
const DISCOVER_PATH: &str = "/api/discover/db-1/3306";

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn now() -> Duration {
    Instant::now().since_start()
}

/// What the scripted network does with one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reply {
    /// The Orchestrator answers with this status after this latency.
    Status(u16, Duration),
    /// A black hole: the exchange never completes.
    Hang,
    /// The connection is refused at once.
    Refuse,
}

type Rule = dyn Fn(usize, Duration, &HttpRequest) -> Reply + Send + Sync;

/// A scripted network in front of a model Orchestrator. The rule sees the request's number
/// (from 0), the time it is sent, and the request.
#[derive(Clone)]
struct Net {
    rule: Arc<Rule>,
    /// (time sent, request) for every request.
    sent: Arc<Mutex<Vec<(Duration, HttpRequest)>>>,
    /// (time delivered, path) for every request the Orchestrator received.
    delivered: Arc<Mutex<Vec<(Duration, String)>>>,
}

impl fmt::Debug for Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Net").finish_non_exhaustive()
    }
}

impl Net {
    fn new(rule: impl Fn(usize, Duration, &HttpRequest) -> Reply + Send + Sync + 'static) -> Net {
        Net {
            rule: Arc::new(rule),
            sent: Arc::default(),
            delivered: Arc::default(),
        }
    }

    fn always(reply: Reply) -> Net {
        Net::new(move |_, _, _| reply)
    }

    fn sent_at(&self) -> Vec<Duration> {
        self.sent.lock().unwrap().iter().map(|(t, _)| *t).collect()
    }

    fn sent_paths(&self) -> Vec<String> {
        let sent = self.sent.lock().unwrap();
        sent.iter().map(|(_, r)| r.path.clone()).collect()
    }

    fn delivered(&self) -> Vec<(Duration, String)> {
        self.delivered.lock().unwrap().clone()
    }
}

impl OrchestratorTransport for Net {
    fn send(&self, request: HttpRequest) -> TransportFuture {
        let at = now();
        let reply = {
            let mut sent = self.sent.lock().unwrap();
            let reply = (self.rule)(sent.len(), at, &request);
            sent.push((at, request.clone()));
            reply
        };
        let delivered = Arc::clone(&self.delivered);
        Box::pin(async move {
            match reply {
                Reply::Refuse => Err(TransportError::Refused),
                Reply::Hang => std::future::pending().await,
                Reply::Status(status, latency) => {
                    time::sleep(latency).await;
                    delivered.lock().unwrap().push((now(), request.path));
                    Ok(HttpResponse::status(status))
                }
            }
        })
    }
}

fn config(interval: Duration) -> OrcConfig {
    OrcConfig {
        api_url: "http://orc:3000/api".into(),
        interval,
        host: "db-1".into(),
        mysql_port: 3306,
        ..OrcConfig::default()
    }
}

fn client(config: OrcConfig, net: &Net) -> OrcClient {
    OrcClient::new(config, Arc::new(net.clone()))
}

/// Runs DiscoverLoop for `run_for` of virtual time; true if the loop is still running then.
fn run_loop(sim: &mut Sim, client: OrcClient, run_for: Duration) -> bool {
    sim.block_on(async move {
        let looping =
            task::spawn_named("discover-loop", async move { client.discover_loop().await });
        time::sleep(run_for).await;
        !looping.is_finished()
    })
    .unwrap()
}

fn times(trace: &Trace, kind: &str) -> Vec<Duration> {
    trace.of_kind(kind).map(|e| e.time()).collect()
}

fn ok(latency: Duration) -> Reply {
    Reply::Status(200, latency)
}

// 2.1: the flag defaults: no URL (disabled), a 30s timeout, interval 0 (never).
#[test]
fn flag_defaults_disable_the_client() {
    let defaults = OrcConfig::default();
    assert_eq!(defaults.api_url, "");
    assert_eq!(defaults.timeout, 30 * SECOND);
    assert_eq!(defaults.interval, Duration::ZERO);
    assert_eq!(defaults.fixes, Fixes::faithful());

    let net = Net::always(ok(ms(1)));
    let mut disabled = config(5 * SECOND);
    disabled.api_url.clear();
    let disabled = client(disabled, &net);
    assert!(!disabled.is_enabled());
    let mut sim = Sim::new(1);
    let (looped, discovered) = sim
        .block_on(async move {
            let looped = disabled.discover_loop().await;
            disabled.begin_maintenance_async("ignored");
            let discovered = disabled.discover().await;
            (looped.map(|()| now()), discovered)
        })
        .unwrap();
    assert_eq!(looped, Ok(Duration::ZERO), "returns at once");
    assert_eq!(discovered, Err(OrcError::Disabled));
    assert!(net.sent_at().is_empty());
}

// 2.1: the timeout covers the whole exchange; zero means none, like Go's http.Client.
#[test]
fn timeout_covers_the_whole_exchange() {
    let outcome = |timeout: Duration, latency: Duration| {
        let net = Net::always(ok(latency));
        let mut config = config(Duration::ZERO);
        config.timeout = timeout;
        let client = client(config, &net);
        Sim::new(2)
            .block_on(async move { (client.discover().await, now()) })
            .unwrap()
    };
    assert_eq!(outcome(30 * SECOND, ms(29_999)), (Ok(()), ms(29_999)));
    let (err, at) = outcome(30 * SECOND, ms(30_001));
    let url = format!("http://orc:3000{DISCOVER_PATH}");
    assert_eq!(
        err,
        Err(OrcError::Timeout {
            url,
            timeout: 30 * SECOND
        })
    );
    assert_eq!(
        at,
        30 * SECOND,
        "gives up at the timeout, not when the answer comes"
    );
    assert!(err.unwrap_err().to_string().contains("Client.Timeout"));
    assert_eq!(
        outcome(Duration::ZERO, 100 * SECOND),
        (Ok(()), 100 * SECOND)
    );
}

// 2.2: interval 0 returns at once, with no attempt.
#[test]
fn interval_zero_never_discovers() {
    let net = Net::always(ok(ms(1)));
    let client = client(config(Duration::ZERO), &net);
    let mut sim = Sim::new(3);
    let returned = sim
        .block_on(async move { client.discover_loop().await.map(|()| now()) })
        .unwrap();
    assert_eq!(returned, Ok(Duration::ZERO));
    assert_eq!(sim.trace().count_kind("discover.attempt"), 0);
    assert!(net.sent_at().is_empty());
}

// 2.2 with 1.4: an interval under 4ns makes i/4 zero: Go panics in Int63n(0). Faithfully that
// is the ticker's error, before any Discover; the fix runs the loop without jitter.
#[test]
fn interval_under_4ns_is_the_int63n_panic() {
    let net = Net::always(ok(Duration::ZERO));
    let tiny = Duration::from_nanos(3);
    let faithful = client(config(tiny), &net);
    let mut sim = Sim::new(4);
    let err = sim
        .block_on(async move { faithful.discover_loop().await })
        .unwrap();
    assert!(
        matches!(err, Err(TickerError::ZeroVariance { period, .. }) if period == tiny),
        "{err:?}"
    );

    let mut fixed = config(tiny);
    fixed.fixes.ticker_zero_variance = true;
    let net = Net::always(ok(Duration::ZERO));
    let mut sim = Sim::new(4);
    assert!(run_loop(
        &mut sim,
        client(fixed, &net),
        Duration::from_nanos(300)
    ));
    // One at once, then one every 3ns (the one due at 300ns may or may not beat the end).
    let sent = net.sent_at();
    assert!((100..=101).contains(&sent.len()), "{sent:?}");
    assert!(sent.windows(2).all(|p| p[1] - p[0] == tiny), "{sent:?}");
}

// 2.2: the first Discover runs at once, each later one on a tick in [0.75i, 1.25i); the loop
// never exits.
#[test]
fn first_discover_at_once_then_on_each_tick() {
    let interval = 10 * SECOND;
    for seed in 0..16 {
        let net = Net::always(ok(ms(5)));
        let mut sim = Sim::new(seed);
        let running = run_loop(&mut sim, client(config(interval), &net), 600 * SECOND);
        assert!(running, "seed {seed}: the loop exited");
        let sent = net.sent_at();
        assert_eq!(sent[0], Duration::ZERO, "seed {seed}");
        assert_eq!(times(&sim.trace(), "discover.attempt"), sent, "seed {seed}");
        assert!(
            sent.len() >= 600 / 12,
            "seed {seed}: {} attempts",
            sent.len()
        );
        for pair in sent.windows(2) {
            let gap = pair[1] - pair[0];
            assert!(
                gap >= ms(7_500) && gap < ms(12_500),
                "seed {seed}: gap {gap:?}"
            );
        }
        assert!(net.sent_paths().iter().all(|p| p == DISCOVER_PATH));
        assert_eq!(sim.trace().count_kind("discover.failed"), 0, "seed {seed}");
        assert_eq!(
            sim.trace().count_kind("discover.recovered"),
            0,
            "seed {seed}"
        );
    }
}

// 2.3 and 7.1: ticks coalesce while Discover hangs. Interval 5s, timeout 30s, black-holed
// during [0, 65s): attempts at 0, 30, 60, then 90; one Warning at 30s, one Info at 90s + latency.
#[test]
fn coalesced_ticks_spec_7_1() {
    let latency = ms(100);
    for seed in 0..16 {
        let net = Net::new(move |_, at, _| {
            if at < 65 * SECOND {
                Reply::Hang
            } else {
                ok(latency)
            }
        });
        let mut config = config(5 * SECOND);
        config.timeout = 30 * SECOND;
        let mut sim = Sim::new(seed);
        assert!(run_loop(&mut sim, client(config, &net), 120 * SECOND));
        let sent = net.sent_at();
        let expected = [0, 30, 60, 90].map(|s| s * SECOND);
        assert_eq!(sent[..4], expected, "seed {seed}: {sent:?}");
        for pair in sent[4..].windows(2) {
            assert!(pair[1] - pair[0] >= ms(3_750), "seed {seed}: {sent:?}");
        }
        let trace = sim.trace();
        assert_eq!(
            times(&trace, "discover.failed"),
            [30 * SECOND],
            "seed {seed}"
        );
        assert_eq!(
            times(&trace, "discover.recovered"),
            [90 * SECOND + latency],
            "seed {seed}"
        );
        assert_eq!(
            times(&trace, "discover.error"),
            expected[1..],
            "seed {seed}"
        );
        let warning = trace.of_kind("discover.failed").next().unwrap();
        assert_eq!(warning.level(), tracing::Level::WARN);
        assert_eq!(
            warning.message(),
            Some("Orchestrator self-registration attempt failed")
        );
        let error = warning.field("error").and_then(|v| v.as_str()).unwrap();
        assert!(error.contains("Client.Timeout"), "{error}");
        let info = trace.of_kind("discover.recovered").next().unwrap();
        assert_eq!(info.level(), tracing::Level::INFO);
        assert!(trace.count_kind("ticker.dropped") >= 10, "seed {seed}");
    }
}

// 2.4: only transitions log, and the last error starts as none: the first success is silent,
// the first failure warns, a recovery informs, and repeats say nothing.
#[test]
fn logs_only_on_transitions() {
    // Attempts: ok, ok, fail, fail, ok, ok, fail, then ok forever.
    let outcomes = [true, true, false, false, true, true, false];
    let net = Net::new(move |n, _, _| match outcomes.get(n) {
        Some(false) => Reply::Refuse,
        _ => ok(ms(10)),
    });
    let mut sim = Sim::new(6);
    assert!(run_loop(
        &mut sim,
        client(config(10 * SECOND), &net),
        100 * SECOND
    ));
    let sent = net.sent_at();
    let trace = sim.trace();
    let logs: Vec<(&str, Duration)> = trace
        .events()
        .iter()
        .filter_map(|e| match e.kind() {
            Some(kind @ ("discover.failed" | "discover.recovered")) => Some((kind, e.time())),
            _ => None,
        })
        .collect();
    assert_eq!(
        logs,
        [
            ("discover.failed", sent[2]),
            ("discover.recovered", sent[4] + ms(10)),
            ("discover.failed", sent[6]),
            ("discover.recovered", sent[7] + ms(10)),
        ]
    );
    assert_eq!(trace.count_kind("discover.error"), 3);
    let error = trace.of_kind("discover.failed").next().unwrap();
    assert_eq!(
        error.field("error").and_then(|v| v.as_str()),
        Some("Get http://orc:3000/api/discover/db-1/3306: connection refused")
    );
}

// 2.4: lastErr starts as nil, so a first failure warns at once.
#[test]
fn first_failure_warns_at_once() {
    let net = Net::always(Reply::Refuse);
    let mut sim = Sim::new(7);
    assert!(run_loop(
        &mut sim,
        client(config(10 * SECOND), &net),
        60 * SECOND
    ));
    let trace = sim.trace();
    assert_eq!(times(&trace, "discover.failed"), [Duration::ZERO]);
    assert_eq!(trace.count_kind("discover.recovered"), 0);
    assert_eq!(trace.count_kind("discover.error"), net.sent_at().len());
}

// 2.5: Discover sends GET {api}/discover/{host}/{port}.
#[test]
fn discover_sends_get_under_the_api_url() {
    let net = Net::always(ok(ms(1)));
    let client = client(config(Duration::ZERO), &net);
    let mut sim = Sim::new(8);
    sim.block_on(async move { client.discover().await })
        .unwrap()
        .unwrap();
    let sent = net.sent.lock().unwrap().clone();
    assert_eq!(
        sent,
        [(
            Duration::ZERO,
            HttpRequest {
                method: Method::Get,
                url: format!("http://orc:3000{DISCOVER_PATH}"),
                path: DISCOVER_PATH.into(),
            }
        )]
    );
    let trace = sim.trace();
    let attempt = trace.of_kind("discover.attempt").next().unwrap();
    assert_eq!(attempt.field("host").and_then(|v| v.as_str()), Some("db-1"));
    assert_eq!(attempt.field("port").and_then(|v| v.as_u64()), Some(3306));
    assert_eq!(attempt.field("attempt").and_then(|v| v.as_u64()), Some(1));
}

// 2.5: a MySQL port of 0 is "MySQL port is unknown": a failure that sends no request, and is
// still an attempt.
#[test]
fn unknown_mysql_port_fails_without_a_request() {
    let net = Net::always(ok(ms(1)));
    let mut config = config(10 * SECOND);
    config.mysql_port = 0;
    let one = client(config.clone(), &net);
    let mut sim = Sim::new(9);
    let err = sim.block_on(async move { one.discover().await }).unwrap();
    assert_eq!(err, Err(OrcError::UnknownMySqlPort));
    assert_eq!(err.unwrap_err().to_string(), "MySQL port is unknown");
    assert_eq!(sim.trace().count_kind("discover.attempt"), 1);
    assert_eq!(sim.trace().count_kind("discover.error"), 1);

    let mut sim = Sim::new(9);
    assert!(run_loop(&mut sim, client(config, &net), 60 * SECOND));
    let trace = sim.trace();
    let attempts = trace.count_kind("discover.attempt");
    assert!(attempts >= 5, "{attempts} attempts");
    assert_eq!(trace.count_kind("discover.error"), attempts);
    assert_eq!(times(&trace, "discover.failed"), [Duration::ZERO]);
    let error = trace
        .of_kind("discover.failed")
        .next()
        .unwrap()
        .field("error")
        .cloned();
    assert_eq!(
        error.as_ref().and_then(|v| v.as_str()),
        Some("MySQL port is unknown")
    );
    assert!(net.sent_at().is_empty(), "no request ever");
}

// 2.6: the HTTP status is never checked, so a 500 or a 404 is a success; with the fix, a
// status other than 2xx is a failure.
#[test]
fn http_status_ignored_faithfully_failure_with_the_fix() {
    for status in [500, 404] {
        for fixed in [false, true] {
            let net = Net::always(Reply::Status(status, ms(20)));
            let mut config = config(10 * SECOND);
            config.fixes.http_status = fixed;
            let one = client(config.clone(), &net);
            let mut sim = Sim::new(10);
            let result = sim.block_on(async move { one.discover().await }).unwrap();
            let expected = if fixed {
                Err(OrcError::HttpStatus {
                    url: format!("http://orc:3000{DISCOVER_PATH}"),
                    status,
                })
            } else {
                Ok(())
            };
            assert_eq!(result, expected, "status {status}, fixed {fixed}");

            let mut sim = Sim::new(10);
            assert!(run_loop(&mut sim, client(config, &net), 60 * SECOND));
            let warnings = times(&sim.trace(), "discover.failed");
            let expected: &[Duration] = if fixed { &[ms(20)] } else { &[] };
            assert_eq!(warnings, expected, "status {status}, fixed {fixed}");
        }
    }
}

// 2.7: the maintenance calls and their paths; the trace marks each request as it is sent.
#[test]
fn maintenance_paths_and_trace() {
    let net = Net::always(ok(ms(5)));
    let client = client(config(Duration::ZERO), &net);
    let mut sim = Sim::new(11);
    sim.block_on(async move {
        client
            .begin_maintenance("vttablet has been told to StopSlave")
            .await?;
        client.end_maintenance().await
    })
    .unwrap()
    .unwrap();
    assert_eq!(
        net.sent_paths(),
        [
            "/api/begin-maintenance/db-1/3306/vitess/vttablet%20has%20been%20told%20to%20StopSlave",
            "/api/end-maintenance/db-1/3306",
        ]
    );
    let trace = sim.trace();
    assert_eq!(times(&trace, "maintenance.begin"), [Duration::ZERO]);
    assert_eq!(times(&trace, "maintenance.end"), [ms(5)]);
    let begin = trace.of_kind("maintenance.begin").next().unwrap();
    assert_eq!(
        begin.field("reason").and_then(|v| v.as_str()),
        Some("vttablet has been told to StopSlave")
    );
}

/// StopSlave at 0 (Begin takes 200ms to arrive), StartSlave at 50ms (End takes 20ms). Returns
/// what the Orchestrator received, in order, and whether it ends in maintenance.
fn stop_then_start_slave(seed: u64, fixes: Fixes) -> (Vec<(Duration, String)>, bool, Sim) {
    let net = Net::new(|_, _, request| {
        if request.path.contains("begin-maintenance") {
            ok(ms(200))
        } else {
            ok(ms(20))
        }
    });
    let mut config = config(Duration::ZERO);
    config.fixes = fixes;
    let client = client(config, &net);
    let mut sim = Sim::new(seed);
    sim.block_on(async move {
        client.begin_maintenance_async("vttablet has been told to StopSlave");
        time::sleep(ms(50)).await;
        client.end_maintenance_async();
        time::sleep(10 * SECOND).await;
    })
    .unwrap();
    let delivered = net.delivered();
    // The model Orchestrator: the last mark it received wins.
    let in_maintenance = delivered
        .iter()
        .fold(false, |_, (_, path)| path.contains("begin-maintenance"));
    (delivered, in_maintenance, sim)
}

// 2.7 and 7.7: faithfully the two calls race, End arrives first, and the tablet stays in
// maintenance; with the fix they arrive in call order.
#[test]
fn maintenance_reordering_spec_7_7() {
    let begin =
        "/api/begin-maintenance/db-1/3306/vitess/vttablet%20has%20been%20told%20to%20StopSlave";
    let end = "/api/end-maintenance/db-1/3306";
    for seed in 0..8 {
        let (delivered, stuck, sim) = stop_then_start_slave(seed, Fixes::faithful());
        assert_eq!(
            delivered,
            [(ms(70), end.into()), (ms(200), begin.into())],
            "seed {seed}"
        );
        assert!(
            stuck,
            "seed {seed}: the bug leaves the tablet in maintenance"
        );
        assert_eq!(times(&sim.trace(), "maintenance.end"), [ms(50)]);

        let mut fixes = Fixes::faithful();
        fixes.maintenance_order = true;
        let (delivered, stuck, sim) = stop_then_start_slave(seed, fixes);
        assert_eq!(
            delivered,
            [(ms(200), begin.into()), (ms(220), end.into())],
            "seed {seed}"
        );
        assert!(!stuck, "seed {seed}");
        assert_eq!(times(&sim.trace(), "maintenance.begin"), [Duration::ZERO]);
        assert_eq!(
            times(&sim.trace(), "maintenance.end"),
            [ms(200)],
            "End waits for Begin"
        );
    }
}

// 2.7: a background maintenance call that fails is logged as a warning, like the goroutines.
#[test]
fn failed_background_maintenance_warns() {
    for ordered in [false, true] {
        let net = Net::always(Reply::Refuse);
        let mut config = config(Duration::ZERO);
        config.fixes.maintenance_order = ordered;
        let client = client(config, &net);
        let mut sim = Sim::new(12);
        sim.block_on(async move {
            client.begin_maintenance_async("told to StopSlave");
            client.end_maintenance_async();
            time::sleep(SECOND).await;
        })
        .unwrap();
        let trace = sim.trace();
        let mut ops: Vec<&str> = trace
            .of_kind("maintenance.failed")
            .map(|e| e.field("op").and_then(|v| v.as_str()).unwrap())
            .collect();
        ops.sort_unstable();
        assert_eq!(ops, ["begin", "end"], "ordered {ordered}");
        assert!(trace
            .of_kind("maintenance.failed")
            .all(|e| e.level() == tracing::Level::WARN));
    }
}
