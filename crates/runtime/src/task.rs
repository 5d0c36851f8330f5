//! Tasks: scheduled by the simulation inside one, by tokio outside one.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use crate::context;

/// Spawns a task.
///
/// Inside a simulation it joins the simulation's ready queue; outside one it is `tokio::spawn`, so
/// the bounds are tokio's.
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    spawn_inner(None, future)
}

/// Spawns a task with a name, which reports (deadlocks, stuck tasks, panics) show.
pub fn spawn_named<F>(name: impl Into<String>, future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    spawn_inner(Some(name.into()), future)
}

/// Spawns a task that nothing awaits or aborts, such as one per request: what
/// `drop(spawn(future))` does, without the join state that `spawn` allocates for its handle.
///
/// A panic in it is still reported with the seed, as for any task.
pub fn spawn_detached<F>(future: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    if context::in_simulation() {
        // Allocated first and written into, as in `spawn_inner`. (A helper shared by both moved
        // the future once more on its way in: 6M more instructions a replica-hour seed.)
        let mut task = Box::<F>::new_uninit();
        task.write(future);
        // SAFETY: written just above.
        let task = unsafe { task.assume_init() };
        context::with_core(|c| c.spawn(Box::into_pin(task), None)).expect("in a simulation");
    } else {
        #[allow(clippy::disallowed_methods)] // production fallback: outside any simulation
        drop(tokio::spawn(future));
    }
}

fn spawn_inner<F>(name: Option<String>, future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    if context::in_simulation() {
        let shared = Arc::new(Mutex::new(JoinState {
            result: None,
            waker: None,
        }));
        // Allocated first and written into, so the future is copied once, not built beside the
        // allocation and copied in. (`Box::write` says this from Rust 1.87; the MSRV is 1.85.)
        let mut task = Box::<Joined<F>>::new_uninit();
        task.write(Joined {
            future,
            guard: CompleteOnDrop(Arc::clone(&shared)),
        });
        // SAFETY: written just above.
        let task = unsafe { task.assume_init() };
        let (idx, gen) = context::with_core(|c| c.spawn(Box::into_pin(task), name.map(Arc::from)))
            .expect("in a simulation");
        JoinHandle {
            inner: Inner::Sim { shared, idx, gen },
        }
    } else {
        #[allow(clippy::disallowed_methods)] // production fallback: outside any simulation
        let handle = tokio::spawn(future);
        JoinHandle {
            inner: Inner::Tokio(handle),
        }
    }
}

/// True when called from inside a simulation.
pub fn in_simulation() -> bool {
    context::in_simulation()
}

/// Yields once, letting every other ready task run first.
pub async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(move |cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}

pin_project_lite::pin_project! {
    /// A spawned future and the join state its output goes to. Dropped before it finishes
    /// (aborted, panicked, or left running), it drops the future first, so a handle sees the
    /// cancellation only once the future is gone.
    struct Joined<F: Future> {
        #[pin]
        future: F,
        guard: CompleteOnDrop<F::Output>,
    }
}

impl<F: Future> Future for Joined<F> {
    type Output = ();

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        let out = std::task::ready!(this.future.poll(cx));
        this.guard.complete(Ok(out));
        Poll::Ready(())
    }
}

struct JoinState<T> {
    result: Option<Result<T, JoinError>>,
    waker: Option<Waker>,
}

/// Completes the join state when the task finishes, and with an error when its future is dropped
/// first (aborted, panicked, or left running when the simulation ended).
struct CompleteOnDrop<T>(Arc<Mutex<JoinState<T>>>);

impl<T> CompleteOnDrop<T> {
    fn complete(&self, result: Result<T, JoinError>) {
        // No handle is left to read it (a detached task): skip the lock.
        if Arc::strong_count(&self.0) == 1 {
            return;
        }
        let waker = {
            let mut st = self.0.lock().unwrap_or_else(|e| e.into_inner());
            if st.result.is_some() {
                return;
            }
            st.result = Some(result);
            st.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> Drop for CompleteOnDrop<T> {
    fn drop(&mut self) {
        if Arc::strong_count(&self.0) == 1 {
            return;
        }
        let panicked = context::with_core(|c| c.dropping_panicked.get()).unwrap_or(false);
        self.complete(Err(JoinError {
            kind: if panicked {
                JoinErrorKind::Panic
            } else {
                JoinErrorKind::Cancelled
            },
        }));
    }
}

/// Awaits a spawned task's output. Dropping it detaches the task, which runs on.
pub struct JoinHandle<T> {
    inner: Inner<T>,
}

enum Inner<T> {
    Sim {
        shared: Arc<Mutex<JoinState<T>>>,
        idx: u32,
        gen: u32,
    },
    Tokio(tokio::task::JoinHandle<T>),
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Inner::Sim { idx, gen, .. } => f
                .debug_struct("JoinHandle")
                .field("slot", idx)
                .field("gen", gen)
                .finish(),
            Inner::Tokio(h) => f
                .debug_struct("JoinHandle")
                .field("tokio_id", &h.id())
                .finish(),
        }
    }
}

impl<T> JoinHandle<T> {
    /// Cancels the task: its future is dropped, and awaiting the handle gives a cancelled error.
    pub fn abort(&self) {
        match &self.inner {
            Inner::Sim { idx, gen, .. } => {
                context::with_core(|c| c.abort(*idx, *gen));
            }
            Inner::Tokio(h) => h.abort(),
        }
    }

    /// True once the task has finished, however it finished.
    pub fn is_finished(&self) -> bool {
        match &self.inner {
            Inner::Sim { shared, .. } => shared
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .result
                .is_some(),
            Inner::Tokio(h) => h.is_finished(),
        }
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().inner {
            Inner::Sim { shared, .. } => {
                let mut st = shared.lock().unwrap_or_else(|e| e.into_inner());
                match st.result.take() {
                    Some(r) => Poll::Ready(r),
                    None => {
                        st.waker = Some(cx.waker().clone());
                        Poll::Pending
                    }
                }
            }
            Inner::Tokio(h) => Pin::new(h).poll(cx).map(|r| {
                r.map_err(|e| JoinError {
                    kind: if e.is_panic() {
                        JoinErrorKind::Panic
                    } else {
                        JoinErrorKind::Cancelled
                    },
                })
            }),
        }
    }
}

/// Why a task did not return its output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinError {
    kind: JoinErrorKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JoinErrorKind {
    Cancelled,
    Panic,
}

impl JoinError {
    /// The task was aborted, or dropped when its simulation ended.
    pub fn is_cancelled(&self) -> bool {
        self.kind == JoinErrorKind::Cancelled
    }

    /// The task panicked.
    pub fn is_panic(&self) -> bool {
        self.kind == JoinErrorKind::Panic
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            JoinErrorKind::Cancelled => f.write_str("task was cancelled"),
            JoinErrorKind::Panic => f.write_str("task panicked"),
        }
    }
}

impl std::error::Error for JoinError {}
