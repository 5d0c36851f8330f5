//! Time: virtual inside a simulation, real tokio time outside one.
//!
//! Inside a simulation the clock stands still while any task is ready, and jumps to the next timer
//! deadline when none is. It has nanosecond resolution, with no millisecond rounding:
//!
//! ```text
//! task A: sleep(1.5ms) ─────────────┐ wakes at 0.001500000s
//! task B: sleep(1.5ms + 1ns) ───────┼┐ wakes at 0.001500001s
//! clock:  0 ── (jump) ──────────────┴┴─► no real time passes while nobody runs
//! ```

use std::fmt;
use std::future::{Future, IntoFuture};
use std::ops::{Add, AddAssign, Sub, SubAssign};
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{ready, Context, Poll};

pub use std::time::Duration;

use pin_project_lite::pin_project;

use crate::context;
use crate::rand::nanos;

/// A point in time: virtual nanoseconds since the simulation started, or, outside a simulation,
/// real monotonic time since the process first asked.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Instant(u64);

/// The real-time epoch, for code running outside a simulation.
fn real_base() -> std::time::Instant {
    static BASE: OnceLock<std::time::Instant> = OnceLock::new();
    #[allow(clippy::disallowed_methods)] // production fallback: outside any simulation
    *BASE.get_or_init(std::time::Instant::now)
}

fn real_now() -> u64 {
    nanos(real_base().elapsed())
}

fn to_tokio(i: Instant) -> tokio::time::Instant {
    tokio::time::Instant::from_std(real_base() + Duration::from_nanos(i.0))
}

impl Instant {
    /// The current time.
    pub fn now() -> Instant {
        Instant(context::with_core(|c| c.now.get()).unwrap_or_else(real_now))
    }

    /// The instant `n` nanoseconds after the epoch (the simulation's start).
    pub const fn from_nanos(n: u64) -> Instant {
        Instant(n)
    }

    /// Nanoseconds since the epoch.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// The time since the epoch (the simulation's start).
    pub const fn since_start(self) -> Duration {
        Duration::from_nanos(self.0)
    }

    /// The time from `earlier` to `self`, or zero when `earlier` is later.
    pub fn duration_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }

    /// The same as [`Instant::duration_since`].
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        self.duration_since(earlier)
    }

    /// The time since `self`.
    pub fn elapsed(self) -> Duration {
        Instant::now().duration_since(self)
    }

    /// `self + d`, or `None` on overflow.
    pub fn checked_add(self, d: Duration) -> Option<Instant> {
        u64::try_from(d.as_nanos())
            .ok()
            .and_then(|d| self.0.checked_add(d))
            .map(Instant)
    }

    /// `self - d`, or `None` before the epoch.
    pub fn checked_sub(self, d: Duration) -> Option<Instant> {
        u64::try_from(d.as_nanos())
            .ok()
            .and_then(|d| self.0.checked_sub(d))
            .map(Instant)
    }

    /// `self + d`, saturating at the far future.
    pub fn saturating_add(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(nanos(d)))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        self.checked_add(d)
            .expect("overflow when adding a duration to an instant")
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, d: Duration) {
        *self = *self + d;
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    fn sub(self, d: Duration) -> Instant {
        self.checked_sub(d)
            .expect("overflow when subtracting a duration from an instant")
    }
}

impl SubAssign<Duration> for Instant {
    fn sub_assign(&mut self, d: Duration) {
        *self = *self - d;
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, earlier: Instant) -> Duration {
        self.duration_since(earlier)
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:09}s",
            self.0 / 1_000_000_000,
            self.0 % 1_000_000_000
        )
    }
}

/// The current time.
pub fn now() -> Instant {
    Instant::now()
}

/// Waits until `d` has elapsed.
pub fn sleep(d: Duration) -> Sleep {
    sleep_until(Instant::now().saturating_add(d))
}

/// Waits until `deadline`.
pub fn sleep_until(deadline: Instant) -> Sleep {
    // Whether it is a virtual or a real timer is settled when it is first polled.
    Sleep {
        inner: SleepInner::Sim {
            deadline,
            timer: None,
        },
    }
}

pin_project! {
    /// The future of [`sleep`] and [`sleep_until`].
    #[derive(Debug)]
    #[must_use = "futures do nothing unless polled"]
    pub struct Sleep {
        #[pin]
        inner: SleepInner,
    }
}

pin_project! {
    #[project = SleepProj]
    #[derive(Debug)]
    enum SleepInner {
        // A virtual timer: its slot and generation once armed. Unarmed, it is what every `Sleep`
        // starts as, and the first poll outside a simulation makes it a real one.
        Sim { deadline: Instant, timer: Option<Armed> },
        // Boxed: a real timer is large, and a simulated one should not pay for it.
        Tokio { deadline: Instant, sleep: Pin<Box<tokio::time::Sleep>> },
    }
}

/// An armed virtual timer, by slot and generation: disarmed when dropped before it fires.
#[derive(Debug)]
struct Armed {
    idx: u32,
    gen: u32,
}

impl Armed {
    /// Forgets a timer that has fired, which the executor has freed already.
    #[inline]
    fn fired(self) {
        std::mem::forget(self);
    }
}

impl Drop for Armed {
    fn drop(&mut self) {
        context::with_core(|c| c.cancel_timer(self.idx, self.gen));
    }
}

impl Sleep {
    /// When it completes.
    pub fn deadline(&self) -> Instant {
        match &self.inner {
            SleepInner::Sim { deadline, .. } | SleepInner::Tokio { deadline, .. } => *deadline,
        }
    }

    /// True once the deadline has passed.
    pub fn is_elapsed(&self) -> bool {
        Instant::now() >= self.deadline()
    }

    /// Moves the deadline, whether or not it has completed.
    pub fn reset(self: Pin<&mut Self>, new: Instant) {
        match self.project().inner.project() {
            SleepProj::Sim { deadline, timer } => {
                drop(timer.take());
                *deadline = new;
            }
            SleepProj::Tokio { deadline, sleep } => {
                *deadline = new;
                sleep.as_mut().reset(to_tokio(new));
            }
        }
    }
}

impl Future for Sleep {
    type Output = ();

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project().inner;
        if let SleepProj::Sim { deadline, timer } = this.as_mut().project() {
            let done = context::with_core(|c| match timer {
                Some(t) => c.poll_timer(t.idx, t.gen, cx.waker()),
                None if c.now.get() >= deadline.0 => true,
                None => {
                    let (idx, gen) = c.arm_timer(deadline.0, cx.waker());
                    *timer = Some(Armed { idx, gen });
                    false
                }
            });
            match done {
                Some(true) => {
                    if let Some(t) = timer.take() {
                        t.fired();
                    }
                    return Poll::Ready(());
                }
                Some(false) => return Poll::Pending,
                None => {}
            }
        }
        poll_real(this, cx)
    }
}

/// A `Sleep` polled outside any simulation: a real timer, made one at its first poll.
#[cold]
#[inline(never)]
fn poll_real(mut inner: Pin<&mut SleepInner>, cx: &mut Context<'_>) -> Poll<()> {
    match inner.as_mut().project() {
        SleepProj::Sim { deadline, timer } => {
            assert!(
                timer.is_none(),
                "vtsim: a simulated Sleep was polled outside its simulation"
            );
            let deadline = *deadline;
            inner.set(real_sleep(deadline));
            poll_real(inner, cx)
        }
        SleepProj::Tokio { sleep, .. } => sleep.as_mut().poll(cx),
    }
}

/// A real timer, for a `Sleep` polled outside any simulation.
fn real_sleep(deadline: Instant) -> SleepInner {
    #[allow(clippy::disallowed_methods)] // production fallback: outside any simulation
    let sleep = Box::pin(tokio::time::sleep_until(to_tokio(deadline)));
    SleepInner::Tokio { deadline, sleep }
}

/// The error of a [`timeout`] whose deadline passed first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed(());

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

/// Runs `future`, giving up after `d`.
pub fn timeout<F: IntoFuture>(d: Duration, future: F) -> Timeout<F::IntoFuture> {
    timeout_at(Instant::now().saturating_add(d), future)
}

/// Runs `future`, giving up at `deadline`.
pub fn timeout_at<F: IntoFuture>(deadline: Instant, future: F) -> Timeout<F::IntoFuture> {
    Timeout {
        future: future.into_future(),
        sleep: sleep_until(deadline),
    }
}

pin_project! {
    /// The future of [`timeout`] and [`timeout_at`].
    #[derive(Debug)]
    #[must_use = "futures do nothing unless polled"]
    pub struct Timeout<F> {
        #[pin]
        future: F,
        #[pin]
        sleep: Sleep,
    }
}

impl<F> Timeout<F> {
    /// The wrapped future.
    pub fn get_ref(&self) -> &F {
        &self.future
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        // The future first, as tokio does: a result ready at the deadline still counts.
        if let Poll::Ready(v) = this.future.poll(cx) {
            return Poll::Ready(Ok(v));
        }
        ready!(this.sleep.poll(cx));
        Poll::Ready(Err(Elapsed(())))
    }
}

/// What an [`Interval`] does when ticks were missed because the consumer was late.
///
/// With a period of 10 and a consumer that is busy from 10 to 35:
///
/// ```text
/// expected:  0    10   20   30   40   50
/// Burst:     0    35   35   35   40   50   (catch up at once, then back on the grid)
/// Delay:     0    35        45        55   (restart the period from the late tick)
/// Skip:      0    35        40   50        (drop the missed ticks, stay on the grid)
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissedTickBehavior {
    /// Fire every missed tick at once, then resume the schedule.
    #[default]
    Burst,
    /// Schedule the next tick one period after the late one.
    Delay,
    /// Skip missed ticks and fire on the next multiple of the period.
    Skip,
}

impl MissedTickBehavior {
    fn next_timeout(self, timeout: Instant, now: Instant, period: Duration) -> Instant {
        match self {
            MissedTickBehavior::Burst => timeout.saturating_add(period),
            MissedTickBehavior::Delay => now.saturating_add(period),
            MissedTickBehavior::Skip => {
                let p = nanos(period).max(1);
                let late = now.duration_since(timeout).as_nanos() as u64 % p;
                now.saturating_add(Duration::from_nanos(p - late))
            }
        }
    }
}

/// A ticker on a fixed period, like `tokio::time::Interval`, at nanosecond resolution.
///
/// The first tick completes at once:
///
/// ```text
/// interval(10ms): tick ─ 0ms ── 10ms ── 20ms ── 30ms ─► ...
/// ```
#[derive(Debug)]
pub struct Interval {
    sleep: Pin<Box<Sleep>>,
    period: Duration,
    missed_tick_behavior: MissedTickBehavior,
}

/// An interval whose first tick is now.
///
/// # Panics
/// When `period` is zero.
pub fn interval(period: Duration) -> Interval {
    interval_at(Instant::now(), period)
}

/// An interval whose first tick is at `start`.
///
/// # Panics
/// When `period` is zero.
pub fn interval_at(start: Instant, period: Duration) -> Interval {
    assert!(!period.is_zero(), "interval period must be non-zero");
    Interval {
        sleep: Box::pin(sleep_until(start)),
        period,
        missed_tick_behavior: MissedTickBehavior::default(),
    }
}

impl Interval {
    /// Waits for the next tick and returns its scheduled time.
    pub async fn tick(&mut self) -> Instant {
        std::future::poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Polls for the next tick.
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        ready!(self.sleep.as_mut().poll(cx));
        let timeout = self.sleep.deadline();
        let now = Instant::now();
        // No 5ms grace as in tokio: the virtual clock is exact, so "late" means late.
        let next = if now > timeout {
            self.missed_tick_behavior
                .next_timeout(timeout, now, self.period)
        } else {
            timeout.saturating_add(self.period)
        };
        self.sleep.as_mut().reset(next);
        Poll::Ready(timeout)
    }

    /// Restarts the period from now: the next tick is one period away.
    pub fn reset(&mut self) {
        let next = Instant::now().saturating_add(self.period);
        self.sleep.as_mut().reset(next);
    }

    /// The missed-tick policy.
    pub fn missed_tick_behavior(&self) -> MissedTickBehavior {
        self.missed_tick_behavior
    }

    /// Sets the missed-tick policy.
    pub fn set_missed_tick_behavior(&mut self, behavior: MissedTickBehavior) {
        self.missed_tick_behavior = behavior;
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }
}
