//! The executor: one thread, a virtual clock, seeded scheduling.

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
use std::time::Duration;

use tracing::Dispatch;

use crate::config::{Config, Scheduler, TimerOrder};
use crate::context::{self, Enter};
use crate::rand::{mix, nanos, Rng};
use crate::timer_heap::{prefetch as prefetch_ptr, TimerHeap, TimerKey};
use crate::trace::{self, Event, Trace, Value};

type Task = Pin<Box<dyn Future<Output = ()>>>;

/// A deterministic simulation: a seed, a virtual clock, and the tasks that run on it.
///
/// ```
/// use std::time::Duration;
/// use vtsim_runtime::{time, Sim};
///
/// let mut sim = Sim::new(7);
/// let waited = sim.block_on(async {
///     let start = time::now();
///     time::sleep(Duration::from_secs(3600)).await;
///     start.elapsed()
/// }).unwrap();
/// assert_eq!(waited, Duration::from_secs(3600)); // an hour of virtual time, in microseconds of real time
/// ```
pub struct Sim {
    core: Box<Core>,
    dispatch: Dispatch,
}

impl fmt::Debug for Sim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sim")
            .field("seed", &self.core.seed)
            .field("now", &Duration::from_nanos(self.core.now.get()))
            .field("config", &self.core.config)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Sim`] with a non-default [`Config`].
#[derive(Debug, Clone)]
pub struct SimBuilder {
    seed: u64,
    config: Config,
}

impl SimBuilder {
    /// Sets the whole configuration.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Sets the order in which ready tasks run.
    pub fn scheduler(mut self, scheduler: Scheduler) -> Self {
        self.config.scheduler = scheduler;
        self
    }

    /// Sets the order in which timers due at the same instant fire.
    pub fn timer_order(mut self, order: TimerOrder) -> Self {
        self.config.timer_order = order;
        self
    }

    /// Makes every timer fire late by a seeded random amount in `[0, slop]`.
    pub fn timer_slop(mut self, slop: Duration) -> Self {
        self.config.timer_slop = slop;
        self
    }

    /// Fails a run whose virtual clock would pass `limit`.
    pub fn time_limit(mut self, limit: Option<Duration>) -> Self {
        self.config.time_limit = limit;
        self
    }

    /// Builds the simulation.
    pub fn build(self) -> Sim {
        Sim::with_config(self.seed, self.config)
    }
}

impl Sim {
    /// A simulation with `seed` and the default [`Config`].
    pub fn new(seed: u64) -> Sim {
        Sim::with_config(seed, Config::default())
    }

    /// A builder for a simulation with `seed`.
    pub fn builder(seed: u64) -> SimBuilder {
        SimBuilder {
            seed,
            config: Config::default(),
        }
    }

    /// A simulation with `seed` and an explicit configuration.
    pub fn with_config(seed: u64, config: Config) -> Sim {
        let core = Box::new(Core::new(seed, config));
        core.trace.borrow_mut().push(Event::new(
            0,
            None,
            tracing::Level::INFO,
            "vtsim",
            Some("sim.start"),
            None,
            vec![
                ("seed", Value::U64(seed)),
                (
                    "scheduler",
                    Value::Str(core.config.scheduler.to_string().into()),
                ),
                (
                    "timer_order",
                    Value::Str(core.config.timer_order.to_string().into()),
                ),
                ("timer_slop_ns", Value::U64(nanos(core.config.timer_slop))),
            ],
        ));
        Sim {
            core,
            dispatch: trace::dispatch(),
        }
    }

    /// The seed this simulation was made with.
    pub fn seed(&self) -> u64 {
        self.core.seed
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.core.config
    }

    /// The virtual time elapsed since the simulation started.
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.core.now.get())
    }

    /// Spawns a task before (or between) runs; it starts when the simulation next runs.
    pub fn spawn<F>(&self, name: &str, future: F)
    where
        F: Future<Output = ()> + 'static,
    {
        let _enter = Enter::new(&self.core);
        self.core.spawn(Box::pin(future), Some(Arc::from(name)));
    }

    /// Runs `future` to completion, with every task it spawns, and returns its output.
    ///
    /// Other tasks still running when `future` completes are left as they are; [`Sim::report`]
    /// lists the ones stuck on something other than a timer.
    pub fn block_on<F: Future + 'static>(&mut self, future: F) -> Result<F::Output, SimError> {
        let out = Arc::new(std::sync::Mutex::new(None));
        let slot = Arc::clone(&out);
        let main = {
            let _enter = Enter::new(&self.core);
            self.core.spawn(
                Box::pin(async move {
                    let v = future.await;
                    *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(v);
                }),
                Some(Arc::from("main")),
            )
        };
        self.run(Some(main), None)?;
        let v = out.lock().unwrap_or_else(|e| e.into_inner()).take();
        Ok(v.expect("the main task finished, so it stored its output"))
    }

    /// Runs the spawned tasks until the virtual clock reaches `duration` after the start.
    ///
    /// Timers due at exactly that instant still fire. Ends early, and normally, when no task is left.
    pub fn run_for(&mut self, duration: Duration) -> Result<(), SimError> {
        self.run(None, Some(nanos(duration)))
    }

    fn run(&mut self, main: Option<(u32, u32)>, end: Option<u64>) -> Result<(), SimError> {
        let _dispatch = tracing::dispatcher::set_default(&self.dispatch);
        let _enter = Enter::new(&self.core);
        trace::install_panic_hook();
        self.core.run(main, end)
    }

    /// The trace recorded so far.
    pub fn trace(&self) -> std::cell::Ref<'_, Trace> {
        self.core.trace.borrow()
    }

    /// Takes the recorded trace out of the simulation.
    pub fn take_trace(&mut self) -> Trace {
        let trace = std::mem::take(&mut *self.core.trace.borrow_mut());
        Trace::remember_len(trace.len());
        trace
    }

    /// What is left when a run ends: live tasks, and the ones stuck on something other than a timer.
    pub fn report(&self) -> Report {
        let st = self.core.state.borrow();
        let now = self.core.now.get();
        let mut report = Report {
            seed: self.core.seed,
            now: Duration::from_nanos(now),
            live_tasks: st.alive,
            stuck: Vec::new(),
        };
        // A task waits on a timer when an armed timer was last polled by it.
        let mut on_timer = vec![false; st.tasks.len()];
        for t in st
            .timers
            .iter()
            .filter(|t| t.state & ARMED != 0 && t.owner != NO_TASK)
        {
            on_timer[t.owner as usize] = true;
        }
        for (i, slot) in st
            .tasks
            .iter()
            .enumerate()
            .filter(|(_, s)| s.alive && s.fut.is_some())
        {
            if !on_timer[i] && !slot.queued {
                report.stuck.push(StuckTask {
                    task: st.meta[i].info(),
                    since: Duration::from_nanos(slot.waiting_since),
                    waited: Duration::from_nanos(now - slot.waiting_since),
                });
            }
        }
        report
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        // Drop task futures inside the simulation, so that timers and join handles they own find it.
        let _enter = Enter::new(&self.core);
        Trace::remember_len(self.core.trace.borrow().len());
        let tasks: Vec<Task> = {
            let mut st = self.core.state.borrow_mut();
            st.tasks.iter_mut().filter_map(|s| s.fut.take()).collect()
        };
        drop(tasks);
    }
}

/// A task named in a report or an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskInfo {
    /// The task's id, in spawn order from 1.
    pub id: u64,
    /// The name given at spawn, if any.
    pub name: Option<String>,
}

impl fmt::Display for TaskInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "task {} `{}`", self.id, name),
            None => write!(f, "task {}", self.id),
        }
    }
}

/// A task still waiting, when a run ended, on something other than a timer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StuckTask {
    /// Which task.
    pub task: TaskInfo,
    /// The virtual time of its last poll.
    pub since: Duration,
    /// How long it has waited since then.
    pub waited: Duration,
}

/// The state of a simulation after a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The seed.
    pub seed: u64,
    /// The virtual time when the run ended.
    pub now: Duration,
    /// Tasks that have not finished.
    pub live_tasks: usize,
    /// Tasks waiting on something other than a timer (a channel, a lock, a consolidated dial).
    pub stuck: Vec<StuckTask>,
}

/// Why a simulation run failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SimError {
    /// A task panicked.
    Panic {
        /// The simulation seed.
        seed: u64,
        /// The task that panicked.
        task: TaskInfo,
        /// The panic message.
        message: String,
        /// Where it panicked, when known.
        location: Option<String>,
        /// The virtual time of the panic.
        time: Duration,
    },
    /// Unfinished tasks can never be woken: none is ready and no timer is pending.
    Deadlock {
        /// The simulation seed.
        seed: u64,
        /// The virtual time.
        time: Duration,
        /// The tasks that are blocked.
        blocked: Vec<TaskInfo>,
    },
    /// Tasks kept running without virtual time advancing.
    Livelock {
        /// The simulation seed.
        seed: u64,
        /// The virtual time that stood still.
        time: Duration,
        /// Polls made at that instant.
        polls: u64,
    },
    /// The virtual clock would pass the configured time limit.
    TimeLimit {
        /// The simulation seed.
        seed: u64,
        /// The limit.
        limit: Duration,
    },
    /// The trace grew past the configured event limit.
    EventLimit {
        /// The simulation seed.
        seed: u64,
        /// The virtual time.
        time: Duration,
        /// The limit.
        limit: usize,
    },
    /// The run took longer than its wall-time limit.
    WallTimeLimit {
        /// The simulation seed.
        seed: u64,
        /// The virtual time reached.
        time: Duration,
        /// The limit.
        limit: Duration,
    },
}

impl SimError {
    /// True for deadlock, livelock and the time, event and wall-time limits.
    pub fn is_liveness(&self) -> bool {
        !matches!(self, SimError::Panic { .. })
    }

    /// The seed of the run that failed.
    pub fn seed(&self) -> u64 {
        match self {
            SimError::Panic { seed, .. }
            | SimError::Deadlock { seed, .. }
            | SimError::Livelock { seed, .. }
            | SimError::TimeLimit { seed, .. }
            | SimError::EventLimit { seed, .. }
            | SimError::WallTimeLimit { seed, .. } => *seed,
        }
    }
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimError::Panic {
                seed,
                task,
                message,
                location,
                time,
            } => {
                write!(f, "{task} panicked at {}", trace::fmt_time(*time))?;
                if let Some(loc) = location {
                    write!(f, " ({loc})")?;
                }
                write!(f, ": {message} [seed {seed}]")
            }
            SimError::Deadlock {
                seed,
                time,
                blocked,
            } => {
                write!(
                    f,
                    "deadlock at {}: no task is ready and no timer is pending; blocked: ",
                    trace::fmt_time(*time)
                )?;
                for (i, t) in blocked.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{t}")?;
                }
                write!(f, " [seed {seed}]")
            }
            SimError::Livelock { seed, time, polls } => write!(
                f,
                "livelock at {}: {polls} polls without virtual time advancing [seed {seed}]",
                trace::fmt_time(*time)
            ),
            SimError::TimeLimit { seed, limit } => {
                write!(
                    f,
                    "virtual time limit of {} reached [seed {seed}]",
                    trace::fmt_time(*limit)
                )
            }
            SimError::EventLimit { seed, time, limit } => write!(
                f,
                "event limit of {limit} trace events reached at {} [seed {seed}]",
                trace::fmt_time(*time)
            ),
            SimError::WallTimeLimit { seed, time, limit } => write!(
                f,
                "wall-time limit of {limit:?} reached at virtual {} [seed {seed}]",
                trace::fmt_time(*time)
            ),
        }
    }
}

impl std::error::Error for SimError {}

// ---------------------------------------------------------------------------------------------
// The core, reached from facade calls through `context::with_core`.

pub(crate) struct Core {
    pub(crate) seed: u64,
    pub(crate) config: Config,
    pub(crate) now: Cell<u64>,
    /// The slot index of the task being polled.
    current: Cell<Option<u32>>,
    state: RefCell<State>,
    /// Wakes that came while `state` was borrowed (a waker woken from inside the executor).
    deferred: RefCell<Vec<u64>>,
    /// True when `deferred` may hold wakes: a cheaper test than borrowing it.
    has_deferred: Cell<bool>,
    pub(crate) trace: RefCell<Trace>,
    /// Set while dropping the future of a task that panicked, so its join handle says so.
    pub(crate) dropping_panicked: Cell<bool>,
}

struct State {
    tasks: Vec<TaskSlot>,
    /// What only reports and the PCT scheduler read; by task slot.
    meta: Vec<TaskMeta>,
    free: Vec<u32>,
    alive: usize,
    next_id: u64,
    ready: Ready,
    /// Draws the initial task priorities of the PCT scheduler.
    pct_rng: Option<Rng>,
    heap: TimerHeap,
    /// Timers due now, being sorted into their firing order.
    due: Vec<TimerKey>,
    timers: Vec<TimerSlot>,
    /// The wakers of timers last polled with a waker that is not the executor's own; by timer slot.
    foreign: Vec<Option<Waker>>,
    timer_free: Vec<u32>,
    timer_seq: u64,
    tie_key: Option<u64>,
    slop: Option<(u64, Rng)>,
    fired: Vec<Waker>,
    /// True while a task is being polled: its wakes go to `batch`.
    in_poll: bool,
    batch: Vec<u64>,
    polls_at_instant: u64,
    polls: u64,
}

/// What a wake and a poll touch, 32 bytes and aligned so that it never straddles a cache line.
#[repr(align(32))]
struct TaskSlot {
    fut: Option<Task>,
    waiting_since: u64,
    gen: u32,
    alive: bool,
    queued: bool,
    aborted: bool,
}

/// The cold part of a task slot.
struct TaskMeta {
    id: u64,
    name: Option<Arc<str>>,
    priority: u64,
}

impl TaskMeta {
    fn info(&self) -> TaskInfo {
        TaskInfo {
            id: self.id,
            name: self.name.as_deref().map(str::to_owned),
        }
    }
}

/// A timer: what arming and firing it touch, in half a cache line. A foreign waker lives in a
/// side table.
#[derive(Clone, Copy)]
#[repr(align(32))]
struct TimerSlot {
    /// `gen << GEN_SHIFT | FOREIGN | FIRED | ARMED`.
    state: u32,
    /// The task that last polled it, or `NO_TASK`.
    owner: u32,
    /// The task key of its waker, when that is the executor's own (not `FOREIGN`).
    target: u64,
    /// When it was armed, counted over the run: orders it among timers due at the same instant.
    seq: u64,
}

const ARMED: u32 = 1;
const FIRED: u32 = 2;
/// Its waker is someone else's, kept in `State::foreign`.
const FOREIGN: u32 = 4;
const GEN_SHIFT: u32 = 3;

impl TimerSlot {
    #[inline]
    fn gen(self) -> u32 {
        self.state >> GEN_SHIFT
    }

    /// True when the handle `gen` names this slot's current timer and it is armed.
    #[inline]
    fn is_armed(self, gen: u32) -> bool {
        self.state & ARMED != 0 && self.gen() == gen
    }

    /// Frees the slot for the next timer: a new generation, no flags.
    #[inline]
    fn retire(&mut self) {
        self.state = (self.gen().wrapping_add(1) << GEN_SHIFT) & !(ARMED | FIRED | FOREIGN);
    }
}

/// The ready queue: task keys (`gen << 32 | slot`) in the order they became ready, and the policy
/// that picks the next. FIFO reads from a moving head; the other policies take from anywhere.
/// The queue empties whenever it drains, which it does at least every time the clock moves, and
/// FIFO drops its read part once that is most of it, so it stays small even when tasks keep each
/// other ready.
struct Ready {
    queue: Vec<u64>,
    head: usize,
    policy: Policy,
}

enum Policy {
    Fifo,
    Random(Rng),
    Pct { change_points: Vec<u64>, steps: u64 },
}

const NO_TASK: u32 = u32::MAX;

impl Core {
    fn new(seed: u64, config: Config) -> Core {
        let mut pct_rng = None;
        let policy = match config.scheduler {
            Scheduler::Fifo => Policy::Fifo,
            Scheduler::Random => Policy::Random(Rng::derive(seed, "vtsim/scheduler")),
            Scheduler::Pct { depth, steps } => {
                let mut rng = Rng::derive(seed, "vtsim/scheduler");
                let mut change_points: Vec<u64> = (0..depth.saturating_sub(1))
                    .map(|_| rng.below(steps.max(1)))
                    .collect();
                change_points.sort_unstable_by(|a, b| b.cmp(a));
                pct_rng = Some(rng);
                Policy::Pct {
                    change_points,
                    steps: 0,
                }
            }
        };
        let ready = Ready {
            queue: Vec::new(),
            head: 0,
            policy,
        };
        let tie_key = match config.timer_order {
            TimerOrder::Fifo => None,
            TimerOrder::Random => Some(Rng::derive(seed, "vtsim/timer-order").next_u64()),
        };
        let slop = (!config.timer_slop.is_zero()).then(|| {
            (
                nanos(config.timer_slop),
                Rng::derive(seed, "vtsim/timer-slop"),
            )
        });
        Core {
            seed,
            config,
            now: Cell::new(0),
            current: Cell::new(None),
            state: RefCell::new(State {
                tasks: Vec::new(),
                meta: Vec::new(),
                free: Vec::new(),
                alive: 0,
                next_id: 1,
                ready,
                pct_rng,
                heap: TimerHeap::default(),
                due: Vec::new(),
                timers: Vec::new(),
                foreign: Vec::new(),
                timer_free: Vec::new(),
                timer_seq: 0,
                tie_key,
                slop,
                fired: Vec::new(),
                in_poll: false,
                batch: Vec::new(),
                polls_at_instant: 0,
                polls: 0,
            }),
            deferred: RefCell::new(Vec::new()),
            has_deferred: Cell::new(false),
            trace: RefCell::new(Trace::sized_like_last()),
            dropping_panicked: Cell::new(false),
        }
    }

    /// The id of the task being polled.
    pub(crate) fn current_task_id(&self) -> Option<u64> {
        let idx = self.current.get()?;
        Some(self.state.try_borrow().ok()?.meta[idx as usize].id)
    }

    pub(crate) fn spawn(&self, fut: Task, name: Option<Arc<str>>) -> (u32, u32) {
        let mut st = self.state.borrow_mut();
        let st = &mut *st;
        let id = st.next_id;
        st.next_id += 1;
        let priority = match (&st.ready.policy, &mut st.pct_rng) {
            (Policy::Pct { change_points, .. }, Some(rng)) => {
                change_points.len() as u64 + 1 + rng.below(1 << 32)
            }
            _ => 0,
        };
        let idx = match st.free.pop() {
            Some(idx) => idx,
            None => {
                st.tasks.push(TaskSlot {
                    fut: None,
                    waiting_since: 0,
                    gen: 0,
                    alive: false,
                    queued: false,
                    aborted: false,
                });
                st.meta.push(TaskMeta {
                    id: 0,
                    name: None,
                    priority: 0,
                });
                u32::try_from(st.tasks.len() - 1).expect("fewer than 4 billion tasks")
            }
        };
        let now = self.now.get();
        let slot = &mut st.tasks[idx as usize];
        slot.alive = true;
        slot.queued = true;
        slot.aborted = false;
        slot.waiting_since = now;
        slot.fut = Some(fut);
        let gen = slot.gen;
        let meta = &mut st.meta[idx as usize];
        meta.id = id;
        meta.name = name;
        meta.priority = priority;
        st.alive += 1;
        st.ready.push(pack(idx, gen));
        (idx, gen)
    }

    /// Makes a task ready. Safe to call from anywhere on the simulation's thread.
    fn wake(&self, key: u64) {
        match self.state.try_borrow_mut() {
            Ok(mut st) => st.wake(key),
            Err(_) => {
                self.deferred.borrow_mut().push(key);
                self.has_deferred.set(true);
            }
        }
    }

    pub(crate) fn abort(&self, idx: u32, gen: u32) {
        let fut = {
            let mut st = self.state.borrow_mut();
            let slot = &mut st.tasks[idx as usize];
            if slot.gen != gen || !slot.alive {
                return;
            }
            match slot.fut.take() {
                Some(fut) => fut,
                // It is aborting itself: the executor drops it once this poll returns.
                None => {
                    slot.aborted = true;
                    return;
                }
            }
        };
        drop(fut);
        self.state.borrow_mut().finish(idx);
    }

    pub(crate) fn is_finished(&self, idx: u32, gen: u32) -> bool {
        let st = self.state.borrow();
        let slot = &st.tasks[idx as usize];
        slot.gen != gen || !slot.alive
    }

    // --- timers

    /// Arms a timer for `deadline` (nanoseconds). Returns its handle.
    #[inline]
    pub(crate) fn arm_timer(&self, deadline: u64, waker: &Waker) -> (u32, u32) {
        let owner = self.current.get().unwrap_or(NO_TASK);
        let mut st = self.state.borrow_mut();
        let st = &mut *st;
        let deadline = match st.slop {
            Some(_) => st.slop(deadline),
            None => deadline,
        };
        let idx = match st.timer_free.pop() {
            Some(idx) => idx,
            None => st.new_timer_slot(),
        };
        // Counts like these cannot wrap within any run (a u64 of nanosecond-scale events), so
        // they skip the overflow check that release builds keep.
        st.timer_seq = st.timer_seq.wrapping_add(1);
        let seq = st.timer_seq;
        let slot = &mut st.timers[idx as usize];
        let gen = slot.gen();
        slot.owner = owner;
        slot.seq = seq;
        if std::ptr::eq(waker.vtable(), &VTABLE) {
            slot.state = gen << GEN_SHIFT | ARMED;
            slot.target = waker.data() as usize as u64;
        } else {
            st.arm_foreign(idx, gen, waker);
        }
        st.heap.push(TimerKey {
            deadline,
            timer: pack(idx, gen),
        });
        (idx, gen)
    }

    /// True once the timer has fired (and then frees it); otherwise refreshes its waker.
    #[inline]
    pub(crate) fn poll_timer(&self, idx: u32, gen: u32, waker: &Waker) -> bool {
        let mut st = self.state.borrow_mut();
        let st = &mut *st;
        let slot = &mut st.timers[idx as usize];
        if slot.gen() != gen {
            return true;
        }
        if slot.state & FIRED != 0 {
            slot.retire();
            st.timer_free.push(idx);
            return true;
        }
        if std::ptr::eq(waker.vtable(), &VTABLE) {
            if slot.state & FOREIGN != 0 {
                slot.state &= !FOREIGN;
                st.foreign[idx as usize] = None;
            }
            slot.target = waker.data() as usize as u64;
        } else if slot.state & FOREIGN == 0
            || !st.foreign[idx as usize]
                .as_ref()
                .is_some_and(|w| w.will_wake(waker))
        {
            slot.state |= FOREIGN;
            st.foreign[idx as usize] = Some(waker.clone());
        }
        slot.owner = self.current.get().unwrap_or(NO_TASK);
        false
    }

    /// Disarms and frees a timer (a `Sleep` dropped or reset before it fired).
    pub(crate) fn cancel_timer(&self, idx: u32, gen: u32) {
        let waker = {
            let Ok(mut st) = self.state.try_borrow_mut() else {
                return;
            };
            let st = &mut *st;
            let slot = &mut st.timers[idx as usize];
            if slot.gen() != gen {
                return;
            }
            let foreign = slot.state & FOREIGN != 0;
            slot.retire();
            st.timer_free.push(idx);
            if foreign {
                st.foreign[idx as usize].take()
            } else {
                None
            }
        };
        drop(waker);
    }

    // --- the run loop

    fn run(&self, main: Option<(u32, u32)>, end: Option<u64>) -> Result<(), SimError> {
        let limit = self.config.time_limit.map(nanos);
        let max_events = self.config.max_events;
        let wall = self
            .config
            .max_wall
            .map(|limit| (limit, WallClock::start()));
        loop {
            if self.has_deferred.replace(false) {
                let keys = std::mem::take(&mut *self.deferred.borrow_mut());
                let mut st = self.state.borrow_mut();
                for key in keys {
                    st.wake(key);
                }
            }
            let mut st = self.state.borrow_mut();
            let (idx, gen, fut) = match st.pop_ready() {
                Some(next) => next,
                None => {
                    // Nothing is ready: jump to the next timer.
                    let Some(first) = st.next_timer() else {
                        if st.alive == 0 {
                            if let Some(end) = end {
                                self.now.set(self.now.get().max(end));
                            }
                            return Ok(());
                        }
                        let mut blocked: Vec<TaskInfo> = st
                            .tasks
                            .iter()
                            .zip(&st.meta)
                            .filter(|(s, _)| s.alive)
                            .map(|(_, m)| m.info())
                            .collect();
                        blocked.sort_by_key(|t| t.id);
                        return Err(SimError::Deadlock {
                            seed: self.seed,
                            time: Duration::from_nanos(self.now.get()),
                            blocked,
                        });
                    };
                    let deadline = first.deadline;
                    // A run that stops short of the timer leaves it for the next run.
                    if let Some(end) = end {
                        if deadline > end {
                            st.heap.push(first);
                            self.now.set(end);
                            return Ok(());
                        }
                    }
                    if let Some(limit) = limit {
                        if deadline > limit {
                            st.heap.push(first);
                            return Err(SimError::TimeLimit {
                                seed: self.seed,
                                limit: Duration::from_nanos(limit),
                            });
                        }
                    }
                    if deadline > self.now.get() {
                        self.now.set(deadline);
                        st.polls_at_instant = 0;
                    }
                    if let Some(next) = st.fire_due(first) {
                        next
                    } else if !st.fired.is_empty() {
                        let mut fired = std::mem::take(&mut st.fired);
                        drop(st);
                        for waker in fired.drain(..) {
                            waker.wake();
                        }
                        self.state.borrow_mut().fired = fired;
                        continue;
                    } else {
                        // No foreign waker ran, so no wake was deferred: go straight on to the
                        // tasks the timers woke, under the same borrow.
                        match st.pop_ready() {
                            Some(next) => next,
                            None => continue,
                        }
                    }
                }
            };
            drop(st);
            let (at_instant, polls) = self.poll_task(idx, gen, fut)?;
            if main.is_some_and(|(i, g)| i == idx && g == gen) && self.is_finished(idx, gen) {
                // The run ends before this poll is counted.
                let mut st = self.state.borrow_mut();
                st.polls_at_instant -= 1;
                st.polls -= 1;
                return Ok(());
            }
            if at_instant > self.config.max_polls_per_instant {
                return Err(SimError::Livelock {
                    seed: self.seed,
                    time: Duration::from_nanos(self.now.get()),
                    polls: at_instant,
                });
            }
            // After every poll, so a run stops within one poll's events of the limit.
            if let Some(limit) = max_events {
                if self.trace.borrow().len() > limit {
                    return Err(SimError::EventLimit {
                        seed: self.seed,
                        time: Duration::from_nanos(self.now.get()),
                        limit,
                    });
                }
            }
            // The wall clock is dearer to read: every 1024 polls.
            if polls % 1024 == 0 {
                self.check_wall(wall.as_ref())?;
            }
        }
    }

    fn check_wall(&self, wall: Option<&(Duration, WallClock)>) -> Result<(), SimError> {
        let time = Duration::from_nanos(self.now.get());
        if let Some((limit, clock)) = wall {
            if clock.elapsed() > *limit {
                return Err(SimError::WallTimeLimit {
                    seed: self.seed,
                    time,
                    limit: *limit,
                });
            }
        }
        Ok(())
    }

    /// Polls a task; returns the polls made at this instant and in all, this one included.
    fn poll_task(&self, idx: u32, gen: u32, mut fut: Task) -> Result<(u64, u64), SimError> {
        self.current.set(Some(idx));
        // Dropping one of these wakers does nothing: skip the call.
        let waker = std::mem::ManuallyDrop::new(task_waker(idx, gen));
        let mut cx = Context::from_waker(&waker);
        let res = catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(&mut cx)));
        self.current.set(None);
        match res {
            Ok(Poll::Pending) => {
                let mut st = self.state.borrow_mut();
                let slot = &mut st.tasks[idx as usize];
                if slot.aborted {
                    drop(st);
                    drop(fut);
                    let mut st = self.state.borrow_mut();
                    st.finish(idx);
                    st.end_poll();
                    Ok(st.count_poll())
                } else {
                    slot.fut = Some(fut);
                    slot.waiting_since = self.now.get();
                    st.end_poll();
                    Ok(st.count_poll())
                }
            }
            Ok(Poll::Ready(())) => {
                drop(fut);
                let mut st = self.state.borrow_mut();
                st.finish(idx);
                st.end_poll();
                Ok(st.count_poll())
            }
            Err(payload) => {
                let task = self.state.borrow().meta[idx as usize].info();
                let (message, location) = trace::panic_details(payload.as_ref());
                self.dropping_panicked.set(true);
                drop(fut);
                self.dropping_panicked.set(false);
                let mut st = self.state.borrow_mut();
                st.finish(idx);
                st.end_poll();
                Err(SimError::Panic {
                    seed: self.seed,
                    task,
                    message,
                    location,
                    time: Duration::from_nanos(self.now.get()),
                })
            }
        }
    }
}

impl State {
    #[inline]
    fn count_poll(&mut self) -> (u64, u64) {
        self.polls_at_instant = self.polls_at_instant.wrapping_add(1);
        self.polls = self.polls.wrapping_add(1);
        (self.polls_at_instant, self.polls)
    }

    #[inline(always)]
    fn wake(&mut self, key: u64) {
        let (idx, gen) = unpack(key);
        let Some(slot) = self.tasks.get_mut(idx as usize) else {
            return;
        };
        if slot.gen == gen && slot.alive && !slot.queued {
            slot.queued = true;
            if self.in_poll {
                self.batch.push(key);
            } else {
                self.ready.push(key);
            }
        }
    }

    #[inline(always)]
    fn pop_ready(&mut self) -> Option<(u32, u32, Task)> {
        loop {
            let key = self.ready.pop(&mut self.meta)?;
            if let Some(next) = self.start_poll(key) {
                return Some(next);
            }
        }
    }

    /// Takes the future of task `key` out to poll it, unless the task is gone or being polled.
    #[inline(always)]
    fn start_poll(&mut self, key: u64) -> Option<(u32, u32, Task)> {
        let (idx, gen) = unpack(key);
        let slot = self.tasks.get_mut(idx as usize)?;
        if slot.gen != gen || !slot.alive {
            return None;
        }
        slot.queued = false;
        let fut = slot.fut.take()?;
        self.in_poll = true;
        Some((idx, gen, fut))
    }

    /// Queues the tasks woken during a poll, in slot order rather than wake order: libraries may
    /// wake in an order of their own (tokio's `watch` spreads waiters over its `Notify`s with an
    /// unseeded RNG), and a simulation must not inherit it.
    #[inline(always)]
    fn end_poll(&mut self) {
        self.in_poll = false;
        match self.batch.len() {
            0 => {}
            1 => self.ready.push(self.batch.pop().expect("one")),
            _ => {
                self.batch.sort_unstable_by_key(|&k| k as u32);
                let mut batch = std::mem::take(&mut self.batch);
                for key in batch.drain(..) {
                    self.ready.push(key);
                }
                self.batch = batch;
            }
        }
    }

    fn finish(&mut self, idx: u32) {
        let slot = &mut self.tasks[idx as usize];
        if !slot.alive {
            return;
        }
        slot.alive = false;
        slot.queued = false;
        slot.fut = None;
        slot.gen = slot.gen.wrapping_add(1);
        self.meta[idx as usize].name = None;
        self.alive -= 1;
        self.free.push(idx);
    }

    /// `deadline` made late by the timer slop.
    #[cold]
    #[inline(never)]
    fn slop(&mut self, deadline: u64) -> u64 {
        match &mut self.slop {
            Some((max, rng)) => deadline.saturating_add(rng.below(max.saturating_add(1))),
            None => deadline,
        }
    }

    #[cold]
    #[inline(never)]
    fn new_timer_slot(&mut self) -> u32 {
        self.timers.push(TimerSlot {
            state: 0,
            owner: NO_TASK,
            target: 0,
            seq: 0,
        });
        self.foreign.push(None);
        u32::try_from(self.timers.len() - 1).expect("fewer than 4 billion timers")
    }

    /// Arms slot `idx` with a waker that is not the executor's own.
    #[cold]
    #[inline(never)]
    fn arm_foreign(&mut self, idx: u32, gen: u32, waker: &Waker) {
        self.timers[idx as usize].state = gen << GEN_SHIFT | ARMED | FOREIGN;
        self.foreign[idx as usize] = Some(waker.clone());
    }

    /// Takes the earliest armed timer out of the queue, dropping the cancelled ones before it.
    #[inline]
    fn next_timer(&mut self) -> Option<TimerKey> {
        while let Some(top) = self.heap.pop() {
            let (idx, gen) = unpack(top.timer);
            if self.timers[idx as usize].is_armed(gen) {
                return Some(top);
            }
        }
        None
    }

    /// Fires `first`, the earliest armed timer, which `next_timer` took out, and any others due
    /// at the same instant, in tie order. The executor's own wakers are queued here directly; any
    /// other waker is left in `fired` for the caller to wake.
    ///
    /// Called with nothing ready. When only one timer is due and it wakes one of our tasks, that
    /// task is returned, to be polled at once, where the policy would hand it straight back.
    #[inline(always)]
    fn fire_due(&mut self, first: TimerKey) -> Option<(u32, u32, Task)> {
        // Polling the woken task at once would jump it ahead of any task already ready.
        debug_assert!(
            self.ready.queue.is_empty(),
            "timers fire with nothing ready"
        );
        let now = first.deadline;
        let mut next = None;
        if self.heap.peek().is_some_and(|k| k.deadline <= now) {
            self.fire_ties(first, now);
        } else if !self.ready.passes_lone_task_through() {
            self.fire(first);
        } else if let Some(target) = self.fire_timer(first) {
            // Usually one timer is due: it fires without going through `due` or the queue.
            next = self.start_poll(target);
        }
        if self.timers.len() >= PREFETCH_MIN_TIMERS {
            self.prefetch_upcoming();
        }
        next
    }

    /// Fires `first` and every other armed timer due at `now`, in tie order: the order they were
    /// armed in, mixed by the seed when the timer order is random.
    #[cold]
    #[inline(never)]
    fn fire_ties(&mut self, first: TimerKey, now: u64) {
        self.due.push(first);
        while let Some(&key) = self.heap.peek() {
            if key.deadline > now {
                break;
            }
            self.heap.pop();
            let (idx, gen) = unpack(key.timer);
            if self.timers[idx as usize].is_armed(gen) {
                self.due.push(key);
            }
        }
        // The seeded order is mixed here, not when a timer is armed: ties are rare.
        let timers = &self.timers;
        let tie_key = self.tie_key;
        self.due.sort_unstable_by_key(|k| {
            let seq = timers[unpack(k.timer).0 as usize].seq;
            tie_key.map_or(seq, |key| mix(seq ^ key))
        });
        let mut due = std::mem::take(&mut self.due);
        for key in due.drain(..) {
            self.fire(key);
        }
        self.due = due;
    }

    /// Fires one due timer: wakes its task, or leaves a foreign waker in `fired`.
    #[inline(always)]
    fn fire(&mut self, key: TimerKey) {
        if let Some(target) = self.fire_timer(key) {
            self.wake(target);
        }
    }

    /// Marks one due timer fired. Returns the task key of its waker when that is the executor's
    /// own; a foreign waker is left in `fired`.
    #[inline(always)]
    fn fire_timer(&mut self, key: TimerKey) -> Option<u64> {
        let idx = unpack(key.timer).0 as usize;
        let slot = &mut self.timers[idx];
        if slot.state & FOREIGN != 0 {
            slot.state = slot.state & !(ARMED | FOREIGN) | FIRED;
            if let Some(w) = self.foreign[idx].take() {
                self.fired.push(w);
            }
            None
        } else {
            slot.state = slot.state & !ARMED | FIRED;
            Some(slot.target)
        }
    }

    /// Starts loading, in stages, what the next firings will touch, which with many timers is out
    /// of cache: the slot of the timer due fourth from now, the task slot of the third (its timer
    /// slot was asked for a firing ago) and the future of the second (its task slot likewise). So
    /// each load made here was asked for a firing earlier, and the task a firing wakes finds its
    /// future in cache. Only a hint to the memory system: nothing observable changes.
    #[inline]
    fn prefetch_upcoming(&self) {
        let up = self.heap.upcoming();
        let timer = |i: usize| {
            up.get(i)
                .and_then(|k| self.timers.get(unpack(k.timer).0 as usize))
        };
        let task = |i: usize| {
            timer(i)
                .filter(|t| t.state & (ARMED | FOREIGN) == ARMED)
                .and_then(|t| self.tasks.get(unpack(t.target).0 as usize))
        };
        if let Some(t) = timer(3) {
            prefetch(t);
        }
        if let Some(t) = task(2) {
            prefetch(t);
        }
        if let Some(fut) = task(1).and_then(|t| t.fut.as_ref()) {
            let p = (&**fut as *const dyn Future<Output = ()>).cast::<u8>();
            let size = std::mem::size_of_val::<dyn Future<Output = ()>>(&**fut);
            let mut off = 0;
            while off < size.min(256) {
                prefetch_ptr(p.wrapping_add(off));
                off += 64;
            }
        }
    }
}

impl Ready {
    /// True when a task pushed on the empty queue is simply the next one popped, with nothing
    /// else changed, so the executor may skip the queue. PCT counts its picks.
    #[inline(always)]
    fn passes_lone_task_through(&self) -> bool {
        !matches!(self.policy, Policy::Pct { .. })
    }

    #[inline(always)]
    fn push(&mut self, key: u64) {
        self.queue.push(key);
    }

    #[inline(always)]
    fn pop(&mut self, tasks: &mut [TaskMeta]) -> Option<u64> {
        match &mut self.policy {
            Policy::Fifo => {
                let key = *self.queue.get(self.head)?;
                self.head += 1;
                if self.head == self.queue.len() {
                    self.queue.clear();
                    self.head = 0;
                } else if self.head >= 1024 && self.head * 2 >= self.queue.len() {
                    self.queue.drain(..self.head);
                    self.head = 0;
                }
                Some(key)
            }
            Policy::Random(rng) => match self.queue.len() {
                0 => None,
                1 => self.queue.pop(),
                n => Some(self.queue.swap_remove(rng.below(n as u64) as usize)),
            },
            Policy::Pct {
                change_points,
                steps,
            } => pick_pct(&mut self.queue, change_points, steps, tasks),
        }
    }
}

/// The PCT scheduler's choice: the ready task of highest priority.
#[inline(never)]
fn pick_pct(
    queue: &mut Vec<u64>,
    change_points: &mut Vec<u64>,
    steps: &mut u64,
    tasks: &mut [TaskMeta],
) -> Option<u64> {
    let best = (0..queue.len()).max_by_key(|&i| {
        let (idx, _) = unpack(queue[i]);
        (tasks[idx as usize].priority, Reverse(i))
    })?;
    let key = queue.swap_remove(best);
    *steps += 1;
    // At a change point the chosen task drops below every other: PCT's way of forcing a
    // preemption at a seeded depth.
    if change_points.last() == Some(steps) {
        change_points.pop();
        tasks[unpack(key).0 as usize].priority = change_points.len() as u64;
    }
    Some(key)
}

/// Below this many timer slots (each with a task slot and a future, a quarter of a KiB or so) what
/// firings touch fits in a 64 KiB L1 cache, and prefetching would only cost.
const PREFETCH_MIN_TIMERS: usize = 1 << 8;

/// Asks for the cache line holding `*p`.
#[inline(always)]
fn prefetch<T>(p: &T) {
    prefetch_ptr((p as *const T).cast::<u8>());
}

#[inline]
fn pack(idx: u32, gen: u32) -> u64 {
    u64::from(gen) << 32 | u64::from(idx)
}

#[inline]
fn unpack(key: u64) -> (u32, u32) {
    (key as u32, (key >> 32) as u32)
}

#[cfg(not(target_pointer_width = "64"))]
compile_error!("vtsim packs a task's slot and generation into a waker's 64-bit data pointer");

// --- wakers: a task's slot and generation packed into the data pointer, no allocation.

fn task_waker(idx: u32, gen: u32) -> Waker {
    let data = pack(idx, gen) as usize as *const ();
    // SAFETY: the vtable functions below treat `data` as a plain integer, never dereference it,
    // and are safe to call from any thread (off the simulation thread a wake does nothing).
    unsafe { Waker::from_raw(RawWaker::new(data, &VTABLE)) }
}

static VTABLE: RawWakerVTable =
    RawWakerVTable::new(waker_clone, waker_wake, waker_wake, waker_drop);

fn waker_clone(data: *const ()) -> RawWaker {
    RawWaker::new(data, &VTABLE)
}

fn waker_wake(data: *const ()) {
    let key = data as usize as u64;
    context::with_core(|core| core.wake(key));
}

fn waker_drop(_: *const ()) {}

/// Wall time, for the harness's own wall-time limit only: never visible to simulated code.
struct WallClock(std::time::Instant);

impl WallClock {
    #[allow(clippy::disallowed_methods)]
    fn start() -> WallClock {
        WallClock(std::time::Instant::now())
    }

    fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }
}
