//! Fault timelines: windows of virtual time in which a peer misbehaves, and the task that marks
//! their edges in the trace.

use std::fmt;

use vtsim_runtime::time::{self, Duration, Instant};
use vtsim_scenario::{OrchestratorOutageMode, TabletOutageMode, Window};

/// Windows of virtual time, each with a mode: when a peer misbehaves, and how.
///
/// A peer looks its mode up by the time a request *reaches* it ([`at`](Timeline::at)), so a request
/// that arrives one nanosecond before a window is served normally and one that arrives at its
/// `from` is not. Windows are `[from, until)`; when two overlap (a validated scenario never does),
/// the one that starts first wins.
#[derive(Clone, PartialEq)]
pub struct Timeline<M> {
    // Sorted by start; short (a handful of outages per peer), so lookups scan.
    windows: Vec<(Window, M)>,
}

impl<M: fmt::Debug> fmt::Debug for Timeline<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.windows.iter()).finish()
    }
}

impl<M> Default for Timeline<M> {
    fn default() -> Timeline<M> {
        Timeline {
            windows: Vec::new(),
        }
    }
}

impl<M: Copy> Timeline<M> {
    /// A timeline of `windows`, in any order.
    pub fn new(windows: impl IntoIterator<Item = (Window, M)>) -> Timeline<M> {
        let mut windows: Vec<(Window, M)> = windows.into_iter().collect();
        windows.sort_by_key(|(w, _)| (w.from, w.until));
        Timeline { windows }
    }

    /// The mode in force at virtual time `t` (time since the simulation started), if any.
    pub fn at(&self, t: Duration) -> Option<M> {
        self.windows
            .iter()
            .take_while(|(w, _)| w.from <= t)
            .find(|(w, _)| w.contains(t))
            .map(|(_, m)| *m)
    }

    /// The first window accepted by `pick` that starts in `(after, until]`: what happens to work
    /// that arrived at `after` and would finish at `until`.
    pub fn first_start_within(
        &self,
        after: Duration,
        until: Duration,
        mut pick: impl FnMut(&M) -> bool,
    ) -> Option<(Duration, M)> {
        self.windows
            .iter()
            .skip_while(|(w, _)| w.from <= after)
            .take_while(|(w, _)| w.from <= until)
            .find(|(_, m)| pick(m))
            .map(|(w, m)| (w.from, *m))
    }

    /// The windows, sorted by start.
    pub fn windows(&self) -> &[(Window, M)] {
        &self.windows
    }

    /// True when the peer never misbehaves.
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }
}

/// The short name of a mode, as the trace and the scenario file spell it.
pub(crate) trait ModeName {
    fn name(&self) -> &'static str;
}

impl ModeName for OrchestratorOutageMode {
    fn name(&self) -> &'static str {
        match self {
            OrchestratorOutageMode::Refuse => "refuse",
            OrchestratorOutageMode::Hang => "hang",
            OrchestratorOutageMode::Http500 => "http-500",
        }
    }
}

/// A topo error window has no mode of its own.
impl ModeName for () {
    fn name(&self) -> &'static str {
        "error"
    }
}

impl ModeName for TabletOutageMode {
    fn name(&self) -> &'static str {
        match self {
            TabletOutageMode::Refuse => "refuse",
            TabletOutageMode::Hang => "hang",
            TabletOutageMode::RetryError => "retry-error",
            TabletOutageMode::FatalError => "fatal-error",
            TabletOutageMode::ServerError => "server-error",
            TabletOutageMode::Slow { .. } => "slow",
        }
    }
}

/// Something the timeline task writes into the trace at a given time.
pub(crate) struct Mark {
    pub(crate) at: Duration,
    pub(crate) what: MarkKind,
    /// `orchestrator`, `topo` or `tablet/{uid}`.
    pub(crate) peer: String,
    /// The fault mode, or the endpoint list of a topo change.
    pub(crate) detail: String,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum MarkKind {
    // Ends sort first: back-to-back windows read end, then start.
    FaultEnd,
    FaultStart,
    TopoChange,
}

impl Mark {
    /// The start and end marks of each window of `timeline`.
    pub(crate) fn windows<M: Copy + ModeName>(peer: &str, timeline: &Timeline<M>) -> Vec<Mark> {
        let mut marks = Vec::new();
        for (w, mode) in timeline.windows() {
            for (at, what) in [
                (w.from, MarkKind::FaultStart),
                (w.until, MarkKind::FaultEnd),
            ] {
                marks.push(Mark {
                    at,
                    what,
                    peer: peer.to_owned(),
                    detail: mode.name().to_owned(),
                });
            }
        }
        marks
    }
}

/// Writes `fault.start`, `fault.end` and `topo.change` into the trace at their times, so a replay
/// shows the faults beside what they caused. The peers never read these marks: they look their
/// mode up by arrival time, so nothing depends on which of two tasks due at one instant runs first.
pub(crate) async fn write_marks(mut marks: Vec<Mark>) {
    marks.sort_by_key(|m| (m.at, m.what));
    for mark in marks {
        time::sleep_until(instant(mark.at)).await;
        let (peer, detail) = (mark.peer.as_str(), mark.detail.as_str());
        match mark.what {
            MarkKind::FaultStart => {
                tracing::info!(
                    kind = "fault.start",
                    peer,
                    mode = detail,
                    "Fault window starts"
                );
            }
            MarkKind::FaultEnd => {
                tracing::info!(kind = "fault.end", peer, mode = detail, "Fault window ends");
            }
            MarkKind::TopoChange => {
                tracing::info!(
                    kind = "topo.change",
                    endpoints = detail,
                    "Topo endpoint list changes"
                );
            }
        }
    }
}

pub(crate) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The instant `d` after the simulation started.
pub(crate) fn instant(d: Duration) -> Instant {
    Instant::from_nanos(nanos(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn lookups_are_half_open_and_by_start() {
        let t = Timeline::new([
            (Window::new(s(20), s(30)), 'b'),
            (Window::new(s(10), s(20)), 'a'),
        ]);
        assert_eq!(t.at(s(9)), None);
        assert_eq!(t.at(s(10)), Some('a'));
        assert_eq!(t.at(s(20)), Some('b'), "until is exclusive");
        assert_eq!(t.at(s(30)), None);
        assert_eq!(
            t.first_start_within(s(10), s(20), |_| true),
            Some((s(20), 'b'))
        );
        assert_eq!(t.first_start_within(s(5), s(9), |_| true), None);
        assert_eq!(
            t.first_start_within(s(5), s(25), |m| *m == 'b'),
            Some((s(20), 'b'))
        );
        assert_eq!(
            t.first_start_within(s(10), s(25), |m| *m == 'a'),
            None,
            "a starts at 10, not after"
        );
    }
}
