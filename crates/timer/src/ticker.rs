//! `RandTicker`: the Vitess jittered ticker (`go/timer/randticker.go`), bugs included.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::{self, error::TrySendError};
use tokio::sync::watch;
use vtsim_runtime::rand::{self, Rng};
use vtsim_runtime::task;
use vtsim_runtime::time::{self, Instant};

use crate::{Fixes, TickerError};

/// What a second faithful `Stop` panics with: Go's own message, and where the bug lives.
const DOUBLE_STOP_PANIC: &str =
    "close of closed channel: RandTicker.Stop called twice (vitess go/timer/randticker.go)";

/// A ticker whose delays are jittered, like Vitess's `timer.RandTicker`.
///
/// Each delay is `d + vr`, with `vr` uniform over whole nanoseconds in `[-v, v)`, and it is
/// measured from the instant the previous tick fired. There is no fixed period and no catching
/// up, and the first tick comes after one full delay, not at once:
///
/// ```text
///  d = 10s, v = 2s: every delay is drawn from [8s, 12s)
///
///  new()       tick           tick             tick
///    |-----------|--------------|----------------|---->
///    0s         9.3s          20.8s            29.9s
///       9.3s         11.5s           9.1s
///      (each delay starts where the previous tick fired)
/// ```
///
/// The channel holds one tick. When it is full, a firing tick is dropped (counted by
/// [`RandTicker::dropped`] and traced as `ticker.dropped`) and the tick in the buffer grows
/// stale. A slow consumer sees one stale tick at once, then waits for the next fire:
///
/// ```text
///  d = 1s, v = 0 (fixes.ticker_zero_variance); the consumer is busy from 1s to 4.5s
///
///  time:     1s        2s        3s        4s   4.5s 5s
///            |---------|---------|---------|----|----|---->
///  fires:    t1        t2        t3        t4        t5
///  buffer:   t1 (read) t2        t2        t2   (read) t5
///                                t3 dropped t4 dropped
///  recv():   t1 at 1s                           t2 at 4.5s (stale)
///                                                    t5 at 5s (waited)
/// ```
///
/// When `v > d` a delay can be zero or less, and then the ticker fires again at once (spec 1.6).
///
/// # Stop
///
/// Faithfully, [`stop`](RandTicker::stop) closes `done` and returns before the ticker task has
/// finished. The task then closes the channel, so [`recv`](RandTicker::recv) returns the tick
/// still in the buffer, if any, then `None`. If the timer and `done` are ready at the same
/// instant, the task picks one at random like Go's `select` (the coin is drawn from the ticker's
/// rand stream), so one more tick may arrive after `stop` returned:
///
/// ```text
///  deadline of the next tick:          T
///  consumer:            stop() at T ---|
///  ticker task, woken at T: the timer AND done are ready
///     coin = done:   C closes            recv() -> None
///     coin = timer:  tick T is delivered recv() -> Some(T), a tick after Stop; then None
/// ```
///
/// A second faithful `stop` panics like Go's `close(done)` twice. With `Fixes::ticker_stop`,
/// `stop` is idempotent and nothing is delivered after it returns: `recv` returns `None` at once,
/// even when a tick is still in the buffer. That tick fired before the stop, but whoever reads it
/// would act after the stop, which is the bug the fix removes; so it is ignored, not drained.
///
/// # Lifetime
///
/// Dropping the receiving half ([`Ticks`], or the whole `RandTicker`) ends the ticker task. Go
/// would leak a goroutine that ticks into a buffer nobody reads; nothing else differs.
#[derive(Debug)]
pub struct RandTicker {
    ticks: Ticks,
    stop: TickerStop,
}

/// The receiving half of a [`RandTicker`]: Go's `ticker.C`.
#[derive(Debug)]
pub struct Ticks {
    rx: mpsc::Receiver<Instant>,
    done: watch::Receiver<bool>,
    shared: Arc<Shared>,
}

/// A handle that stops a [`RandTicker`] (Go's `ticker.Stop`). Cheap to clone and send.
#[derive(Clone, Debug)]
pub struct TickerStop {
    shared: Arc<Shared>,
}

/// What the ticker's owner, its stop handles and its task share.
#[derive(Debug)]
struct Shared {
    name: Arc<str>,
    fixes: Fixes,
    /// Set by the first `stop`; a second faithful one panics.
    stopped: AtomicBool,
    /// Go's `done` channel: `true` once closed.
    done: watch::Sender<bool>,
    dropped: AtomicU64,
}

/// How each delay is drawn: Go's `d + rnd.Int63n(2*v) - v`, in nanoseconds.
#[derive(Clone, Copy, Debug)]
struct Jitter {
    period_ns: i64,
    variance_ns: i64,
}

impl Jitter {
    fn new(name: &str, d: Duration, v: Duration, fixes: &Fixes) -> Result<Jitter, TickerError> {
        if d.is_zero() {
            return Err(TickerError::NonPositivePeriod { name: name.into() });
        }
        if v.is_zero() && !fixes.ticker_zero_variance {
            return Err(TickerError::ZeroVariance {
                name: name.into(),
                period: d,
            });
        }
        let (d_ns, v_ns) = (d.as_nanos(), v.as_nanos());
        let max = i64::MAX as u128;
        if d_ns + v_ns > max || 2 * v_ns > max {
            return Err(TickerError::OutOfRange {
                name: name.into(),
                period: d,
                variance: v,
            });
        }
        Ok(Jitter {
            period_ns: d_ns as i64,
            variance_ns: v_ns as i64,
        })
    }

    /// The next delay; zero when `d + vr <= 0`, which fires at once.
    fn draw(self, rng: &mut Rng) -> Duration {
        if self.variance_ns == 0 {
            return Duration::from_nanos(self.period_ns as u64);
        }
        let vr = rng.below(2 * self.variance_ns as u64) as i64 - self.variance_ns;
        Duration::from_nanos((self.period_ns + vr).max(0) as u64)
    }
}

impl RandTicker {
    /// Starts a ticker that fires after jittered delays in `[d - variance, d + variance)`.
    ///
    /// `name` must be unique among the tickers of a simulation: it names the rand stream
    /// (`ticker/{name}`), the task, and the `ticker` field of the trace events.
    ///
    /// # Errors
    ///
    /// [`TickerError::NonPositivePeriod`] when `d` is zero; [`TickerError::ZeroVariance`] when
    /// `variance` is zero, unless `fixes.ticker_zero_variance` (Go panics in `Int63n(0)`);
    /// [`TickerError::OutOfRange`] when the durations overflow Go's `time.Duration`.
    pub fn new(
        name: &str,
        d: Duration,
        variance: Duration,
        fixes: &Fixes,
    ) -> Result<RandTicker, TickerError> {
        let jitter = Jitter::new(name, d, variance, fixes)?;
        let (tx, rx) = mpsc::channel(1);
        let (done_tx, done_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            name: name.into(),
            fixes: *fixes,
            stopped: AtomicBool::new(false),
            done: done_tx,
            dropped: AtomicU64::new(0),
        });
        let ticker_task = TickerTask {
            jitter,
            rng: rand::stream(&format!("ticker/{name}")),
            start: Instant::now(),
            tx,
            done: done_rx.clone(),
            shared: Arc::clone(&shared),
        };
        // Detached, like the Go goroutine: it ends on stop or when the receiver is dropped.
        drop(task::spawn_named(
            format!("ticker/{name}"),
            ticker_task.run(),
        ));
        Ok(RandTicker {
            ticks: Ticks {
                rx,
                done: done_rx,
                shared: Arc::clone(&shared),
            },
            stop: TickerStop { shared },
        })
    }

    /// Waits for the next tick, like `<-ticker.C`; `None` once the ticker is stopped and the
    /// channel is drained (see [`Ticks::recv`]).
    pub async fn recv(&mut self) -> Option<Instant> {
        self.ticks.recv().await
    }

    /// Stops the ticker, like Go's `Stop` (see the type docs for what may still arrive).
    ///
    /// # Panics
    ///
    /// Faithfully, when the ticker was already stopped (through any handle): Go closes `done`
    /// a second time. With `Fixes::ticker_stop` a second stop does nothing.
    pub fn stop(&self) {
        self.stop.stop();
    }

    /// A handle that can stop this ticker from elsewhere.
    pub fn stop_handle(&self) -> TickerStop {
        self.stop.clone()
    }

    /// Splits the ticker into its receiving half and its stop handle.
    pub fn into_parts(self) -> (Ticks, TickerStop) {
        (self.ticks, self.stop)
    }

    /// How many ticks were dropped because the buffer was full.
    pub fn dropped(&self) -> u64 {
        self.ticks.dropped()
    }

    /// The name given to [`RandTicker::new`].
    pub fn name(&self) -> &str {
        &self.stop.shared.name
    }
}

impl Ticks {
    /// Waits for the next tick, like `<-ticker.C`: the instant the tick fired.
    ///
    /// Faithfully, after a stop this still returns a tick that was buffered (or that won the
    /// race with the stop), then `None` once the ticker task has closed the channel. With
    /// `Fixes::ticker_stop` it returns `None` as soon as the ticker is stopped, even from a
    /// `recv` that was already waiting.
    pub async fn recv(&mut self) -> Option<Instant> {
        if !self.shared.fixes.ticker_stop {
            return self.rx.recv().await;
        }
        if self.shared.is_stopped() {
            return None;
        }
        tokio::select! {
            biased;
            _ = self.done.wait_for(|&done| done) => None,
            tick = self.rx.recv() => tick.filter(|_| !self.shared.is_stopped()),
        }
    }

    /// How many ticks were dropped because the buffer was full.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }
}

impl TickerStop {
    /// Stops the ticker; the same as [`RandTicker::stop`], with the same panic.
    pub fn stop(&self) {
        let shared = &self.shared;
        if shared.stopped.swap(true, Ordering::AcqRel) {
            if shared.fixes.ticker_stop {
                return;
            }
            panic!("{DOUBLE_STOP_PANIC}");
        }
        tracing::debug!(
            kind = "ticker.stop",
            ticker = &*shared.name,
            "ticker stopped"
        );
        shared.done.send_replace(true);
    }
}

impl Shared {
    fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }
}

/// The ticker goroutine: sleep a jittered delay, try to send, repeat until `done`.
struct TickerTask {
    jitter: Jitter,
    rng: Rng,
    start: Instant,
    tx: mpsc::Sender<Instant>,
    done: watch::Receiver<bool>,
    shared: Arc<Shared>,
}

impl fmt::Debug for TickerTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TickerTask")
            .field("ticker", &self.shared.name)
            .field("jitter", &self.jitter)
            .finish_non_exhaustive()
    }
}

/// Polls `sleep` once: whether its timer has fired.
async fn is_ready(mut sleep: std::pin::Pin<&mut time::Sleep>) -> bool {
    std::future::poll_fn(|cx| std::task::Poll::Ready(sleep.as_mut().poll(cx).is_ready())).await
}

/// What woke the ticker task up.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Wake {
    Done,
    Abandoned,
    Timer,
}

impl TickerTask {
    async fn run(mut self) {
        let mut last_fire = self.start;
        loop {
            let delay = self.jitter.draw(&mut self.rng);
            let deadline = last_fire.saturating_add(delay);
            if delay.is_zero() {
                // Go's timer fires "immediately", but through the scheduler: let others run.
                task::yield_now().await;
            }
            let sleep = time::sleep_until(deadline);
            tokio::pin!(sleep);
            let wake = tokio::select! {
                biased;
                _ = self.done.wait_for(|&done| done) => Wake::Done,
                () = self.tx.closed() => Wake::Abandoned,
                () = &mut sleep => Wake::Timer,
            };
            let (timer_ready, done_ready) = match wake {
                Wake::Abandoned => return,
                Wake::Timer => (true, *self.done.borrow()),
                // Has the timer fired too, at this same instant?
                Wake::Done => (is_ready(sleep.as_mut()).await, true),
            };
            let now = Instant::now();
            let fire = match (timer_ready, done_ready) {
                // Go's select picks uniformly among the ready cases; the fix always stops.
                (true, true) => !self.shared.fixes.ticker_stop && self.rng.below(2) == 0,
                (timer, _) => timer,
            };
            if !fire {
                // Go: tmr.Stop(); close(c). Dropping the sender closes the channel.
                return;
            }
            if !self.deliver(now, delay) {
                return;
            }
            last_fire = now;
        }
    }

    /// Go's `select { case c <- time.Now(): default: }`. False once nobody can receive.
    fn deliver(&self, now: Instant, delay: Duration) -> bool {
        let ticker = &*self.shared.name;
        let delay_ns = u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX);
        match self.tx.try_send(now) {
            Ok(()) => {
                tracing::debug!(kind = "ticker.tick", ticker, delay_ns, "tick");
                true
            }
            Err(TrySendError::Full(_)) => {
                let dropped = self.shared.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::debug!(
                    kind = "ticker.dropped",
                    ticker,
                    delay_ns,
                    dropped,
                    "tick dropped: buffer full"
                );
                true
            }
            Err(TrySendError::Closed(_)) => false,
        }
    }
}
