//! The workload generator: Poisson arrivals and bursts of queries through a ShardConn.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use vtsim_runtime::rand::{self, Rng};
use vtsim_runtime::task;
use vtsim_runtime::time::{self, Duration};
use vtsim_scenario::Workload;
use vtsim_shardconn::ShardConn;

use crate::faults::instant;

/// What one query does.
#[derive(Clone, Copy, PartialEq, Eq)]
enum QueryKind {
    Plain,
    Transaction,
    Stream,
}

impl QueryKind {
    fn draw(rng: &mut Rng, w: &Workload) -> QueryKind {
        let u = rng.f64();
        if u < w.transaction_share {
            QueryKind::Transaction
        } else if u < w.transaction_share + w.stream_share {
            QueryKind::Stream
        } else {
            QueryKind::Plain
        }
    }
}

/// What every query of one workload shares.
struct Load {
    shard_conn: Arc<ShardConn>,
    query_timeout: Duration,
    // A stream is meant to run for up to the longest stream duration: its deadline allows that.
    stream_timeout: Duration,
    next_id: AtomicU64,
}

/// Starts the workload of `config` against `shard_conn`: one task for the Poisson arrivals (rand
/// stream `workload/arrivals`, kinds from `workload/kinds`), one for the bursts (kinds from
/// `workload/bursts`), and one task per query.
///
/// Each query emits `query.start` with its id (`query = "q17"`, the text it runs), then runs
/// with a deadline of `query_timeout`; a stream's deadline is `query_timeout` past the longest
/// `stream_duration`. The ShardConn emits the query's one `query.ok` or `query.failed`.
///
/// No query starts at or after `cutoff` (the first `close_at`): vtgate stops using a ShardConn it
/// closed.
pub(crate) fn start(shard_conn: Arc<ShardConn>, config: &Workload, cutoff: Option<Duration>) {
    let mut config = config.clone();
    if let Some(cutoff) = cutoff {
        config.stop = config.stop.min(cutoff);
        config.bursts.retain(|b| b.at < cutoff);
    }
    let config = &config;
    let load = Arc::new(Load {
        shard_conn,
        query_timeout: config.query_timeout,
        stream_timeout: config
            .stream_duration
            .hi
            .saturating_add(config.query_timeout),
        next_id: AtomicU64::new(1),
    });
    // A rate so low that one gap overflows a Duration means no Poisson arrival at all.
    let mean = (config.qps > 0.0)
        .then(|| Duration::try_from_secs_f64(1.0 / config.qps).ok())
        .flatten();
    if let Some(mean) = mean {
        drop(task::spawn_named(
            "workload/arrivals",
            arrivals(load.clone(), config.clone(), mean),
        ));
    }
    if !config.bursts.is_empty() {
        drop(task::spawn_named(
            "workload/bursts",
            bursts(load, config.clone()),
        ));
    }
}

/// A Poisson process from `start` (t=0 by default): exponential gaps with mean `1/qps`.
async fn arrivals(load: Arc<Load>, w: Workload, mean: Duration) {
    let mut gaps = rand::stream("workload/arrivals");
    let mut kinds = rand::stream("workload/kinds");
    let mut at = w.start;
    loop {
        at = at.saturating_add(gaps.exp(mean));
        if at >= w.stop {
            return;
        }
        time::sleep_until(instant(at)).await;
        launch(&load, QueryKind::draw(&mut kinds, &w));
    }
}

async fn bursts(load: Arc<Load>, w: Workload) {
    let mut kinds = rand::stream("workload/bursts");
    for burst in &w.bursts {
        time::sleep_until(instant(burst.at)).await;
        for _ in 0..burst.count {
            launch(&load, QueryKind::draw(&mut kinds, &w));
        }
    }
}

fn launch(load: &Arc<Load>, kind: QueryKind) {
    let id = load.next_id.fetch_add(1, Ordering::Relaxed);
    // Unnamed and unjoined: a name or a join state would cost an allocation per query.
    task::spawn_detached(query(load.clone(), id, kind));
}

/// A query's id as text (`q17`), kept in the query's own future: no allocation per query.
struct QueryId {
    buf: [u8; 21],
    start: usize,
}

impl QueryId {
    fn new(id: u64) -> QueryId {
        // Digits from the end backwards, then the 'q' in front of them.
        let mut buf = [0u8; 21];
        let mut start = buf.len();
        let mut n = id;
        loop {
            start -= 1;
            buf[start] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        start -= 1;
        buf[start] = b'q';
        QueryId { buf, start }
    }

    fn as_str(&self) -> &str {
        let text = &self.buf[self.start..];
        debug_assert!(text.is_ascii());
        // SAFETY: `new` writes only b'q' and ASCII digits from `start` on, and ASCII is UTF-8.
        // (The check `from_utf8` makes cost 1.4% of a replica-hour seed.)
        unsafe { std::str::from_utf8_unchecked(text) }
    }
}

async fn query(load: Arc<Load>, id: u64, kind: QueryKind) {
    let id = QueryId::new(id);
    let text = id.as_str();
    let transaction = kind == QueryKind::Transaction;
    let stream = kind == QueryKind::Stream;
    // No message: this is the hottest event of a run, and the kind says it all.
    vtsim_runtime::trace_event!(
        DEBUG,
        kind = "query.start",
        query = text,
        transaction,
        stream
    );
    let now = time::now();
    let sc = &load.shard_conn;
    // Failures are the ShardConn's to trace; the workload only drives.
    if stream {
        // Boxed: streams are the rare kind, and their future would enlarge every query's.
        Box::pin(async {
            let Ok(mut rows) = sc
                .stream_execute(text, Some(now + load.stream_timeout))
                .await
            else {
                return;
            };
            while let Some(Ok(_)) = rows.next().await {}
        })
        .await;
    } else {
        let _ = sc
            .execute(text, transaction, Some(now + load.query_timeout))
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::QueryId;

    #[test]
    fn query_ids_print_as_q_and_decimal() {
        for (id, text) in [(0, "q0"), (7, "q7"), (17, "q17"), (1000, "q1000")] {
            assert_eq!(QueryId::new(id).as_str(), text);
        }
        assert_eq!(QueryId::new(u64::MAX).as_str(), format!("q{}", u64::MAX));
    }
}
