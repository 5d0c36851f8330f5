//! The thread-local link from facade calls to the simulation running on this thread.

use std::cell::Cell;
use std::ptr;

use crate::sim::Core;

thread_local! {
    static CURRENT: Cell<*const Core> = const { Cell::new(ptr::null()) };
}

/// Runs `f` with the simulation running on this thread, if any.
#[inline]
pub(crate) fn with_core<R>(f: impl FnOnce(&Core) -> R) -> Option<R> {
    let p = CURRENT.with(Cell::get);
    if p.is_null() {
        None
    } else {
        // SAFETY: `p` is set only by `Enter` below, from a `&Core` that outlives the guard, and it is
        // cleared when the guard drops; the executor is single-threaded.
        Some(f(unsafe { &*p }))
    }
}

/// True when this thread is running a simulation.
pub(crate) fn in_simulation() -> bool {
    !CURRENT.with(Cell::get).is_null()
}

/// The seed of the simulation running on this thread.
pub(crate) fn seed() -> Option<u64> {
    with_core(|c| c.seed)
}

/// Makes `core` the current simulation until dropped.
pub(crate) struct Enter {
    prev: *const Core,
}

impl Enter {
    pub(crate) fn new(core: &Core) -> Enter {
        let prev = CURRENT.with(|c| c.replace(core as *const Core));
        assert!(
            prev.is_null() || ptr::eq(prev, core),
            "vtsim: a simulation cannot run inside another simulation"
        );
        Enter { prev }
    }
}

impl Drop for Enter {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.prev));
    }
}
