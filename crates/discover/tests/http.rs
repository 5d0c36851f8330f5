//! The production path: the same DiscoverLoop over real HTTP (UreqTransport) to a tiny
//! Orchestrator on loopback, on real tokio, outside any simulation.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use vtsim_discover::{OrcClient, OrcConfig, OrcError, TransportError, UreqTransport};
use vtsim_runtime::{task, time};

/// Bounds every wait, so a broken test fails instead of hanging.
const PATIENCE: Duration = Duration::from_secs(10);

/// What the test Orchestrator does with one connection.
#[derive(Clone, Copy, Debug)]
enum Answer {
    Status(u16),
    /// Read the request, then close without answering.
    Close,
    /// Read the request, then say nothing until the test ends.
    Silence,
}

/// Serves one connection per answer, in order, then stops listening. Sends each request's
/// path on the returned channel.
async fn orchestrator(script: Vec<Answer>) -> (String, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_url = format!("http://{}/api", listener.local_addr().unwrap());
    let (paths, rx) = mpsc::unbounded_channel();
    drop(task::spawn(async move {
        let mut silent = Vec::new();
        for answer in script {
            let Ok(Ok((mut stream, _))) = time::timeout(PATIENCE, listener.accept()).await else {
                return;
            };
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let head = String::from_utf8_lossy(&head);
            let request_line = head.lines().next().unwrap_or_default();
            let path = request_line.split(' ').nth(1).unwrap_or_default();
            assert!(request_line.starts_with("GET "), "{request_line}");
            let _ = paths.send(path.to_owned());
            match answer {
                Answer::Status(status) => {
                    let response = format!(
                        "HTTP/1.1 {status} Scripted\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                    let _ = stream.shutdown().await;
                }
                Answer::Close => drop(stream),
                Answer::Silence => silent.push(stream),
            }
        }
        // Keep silent connections open until the test is over.
        time::sleep(PATIENCE).await;
        drop(silent);
    }));
    (api_url, rx)
}

/// The `kind` and level of every event, recorded on this thread.
#[derive(Clone, Debug, Default)]
struct Logs(Arc<Mutex<Vec<(Level, String)>>>);

impl Logs {
    fn kinds(&self, kind: &str) -> Vec<Level> {
        let logs = self.0.lock().unwrap();
        logs.iter()
            .filter(|(_, k)| k == kind)
            .map(|(l, _)| *l)
            .collect()
    }

    /// The transition logs, in order.
    fn transitions(&self) -> Vec<String> {
        let logs = self.0.lock().unwrap();
        let transitions = logs.iter().map(|(_, kind)| kind.clone());
        transitions
            .filter(|k| k == "discover.failed" || k == "discover.recovered")
            .collect()
    }
}

struct KindVisitor(Option<String>);

impl Visit for KindVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "kind" {
            self.0 = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, _field: &Field, _value: &dyn std::fmt::Debug) {}
}

impl<S: Subscriber> Layer<S> for Logs {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut kind = KindVisitor(None);
        event.record(&mut kind);
        if let Some(kind) = kind.0 {
            self.0
                .lock()
                .unwrap()
                .push((*event.metadata().level(), kind));
        }
    }
}

fn capture() -> (Logs, tracing::subscriber::DefaultGuard) {
    let logs = Logs::default();
    let guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(logs.clone()));
    (logs, guard)
}

fn client(api_url: String, interval: Duration, http_status_fix: bool) -> OrcClient {
    let mut config = OrcConfig {
        api_url,
        timeout: Duration::from_secs(2),
        interval,
        host: "db-1".into(),
        mysql_port: 3306,
        ..OrcConfig::default()
    };
    config.fixes.http_status = http_status_fix;
    OrcClient::new(
        config,
        Arc::new(UreqTransport::new(Some(Duration::from_secs(2)))),
    )
}

async fn next_path(paths: &mut mpsc::UnboundedReceiver<String>) -> String {
    let path = time::timeout(PATIENCE, paths.recv()).await;
    path.expect("a request within 10s")
        .expect("the server is running")
}

/// Waits until `done` holds, polling every 5ms, for at most PATIENCE.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let waited = time::timeout(PATIENCE, async {
        while !done() {
            time::sleep(Duration::from_millis(5)).await;
        }
    });
    waited
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
}

// The loop over real HTTP: requests arrive on the right path, and only transitions log.
#[tokio::test]
async fn discover_loop_over_real_http() {
    assert!(!task::in_simulation());
    let (logs, _guard) = capture();
    // Two spare answers, so the loop meets no closed port before it is aborted.
    let mut script = vec![Answer::Status(200), Answer::Close];
    script.extend([Answer::Status(200); 4]);
    let (api_url, mut paths) = orchestrator(script).await;
    let client = client(api_url, Duration::from_millis(40), false);
    let looping = task::spawn(async move { client.discover_loop().await });
    for _ in 0..3 {
        assert_eq!(next_path(&mut paths).await, "/api/discover/db-1/3306");
    }
    eventually("the recovery log", || {
        !logs.kinds("discover.recovered").is_empty()
    })
    .await;
    looping.abort();
    // First success silent, the closed connection warns, the next success informs.
    assert_eq!(
        logs.transitions()[..2],
        ["discover.failed", "discover.recovered"]
    );
    assert_eq!(logs.kinds("discover.failed")[0], Level::WARN);
    assert_eq!(logs.kinds("discover.recovered")[0], Level::INFO);
    assert!(logs.kinds("discover.attempt").len() >= 3);
}

// A 500 is a success faithfully, and a failure with the http_status fix.
#[tokio::test]
async fn http_500_over_real_http() {
    let (logs, _guard) = capture();
    for fixed in [false, true] {
        let (api_url, mut paths) = orchestrator(vec![Answer::Status(500); 6]).await;
        let one = client(api_url.clone(), Duration::ZERO, fixed)
            .discover()
            .await;
        let url = format!("{api_url}/discover/db-1/3306");
        let expected = if fixed {
            Err(OrcError::HttpStatus { url, status: 500 })
        } else {
            Ok(())
        };
        assert_eq!(one, expected, "fixed {fixed}");
        next_path(&mut paths).await;

        let warnings_before = logs.kinds("discover.failed").len();
        let client = client(api_url, Duration::from_millis(30), fixed);
        let looping = task::spawn(async move { client.discover_loop().await });
        // The third request proves the first two answers were handled.
        for _ in 0..3 {
            next_path(&mut paths).await;
        }
        looping.abort();
        let warnings = logs.kinds("discover.failed").len() - warnings_before;
        assert_eq!(warnings, usize::from(fixed), "fixed {fixed}");
    }
}

// Transport failures over real sockets: refused, and the client's timeout on a silent server.
#[tokio::test]
async fn refused_and_timed_out_over_real_http() {
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_url = format!("http://{}/api", closed.local_addr().unwrap());
    drop(closed);
    let refused = client(api_url, Duration::ZERO, false).discover().await;
    assert!(
        matches!(
            refused,
            Err(OrcError::Transport {
                error: TransportError::Refused,
                ..
            })
        ),
        "{refused:?}"
    );

    let (api_url, mut paths) = orchestrator(vec![Answer::Silence]).await;
    let mut config = client(api_url, Duration::ZERO, false).config().clone();
    config.timeout = Duration::from_millis(200);
    let impatient = OrcClient::new(
        config,
        Arc::new(UreqTransport::new(Some(Duration::from_secs(2)))),
    );
    let started = vtsim_runtime::time::Instant::now();
    let timed_out = impatient.discover().await;
    assert!(
        matches!(timed_out, Err(OrcError::Timeout { .. })),
        "{timed_out:?}"
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_secs(2),
        "{took:?}"
    );
    next_path(&mut paths).await;
}
