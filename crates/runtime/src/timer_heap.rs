//! The timer queue: a 4-ary min-heap of `(deadline, timer)` pairs for the near timers, and, once
//! there are many, a ring of unsorted 8.4 ms buckets for the later ones, each sorted once when the
//! clock reaches it.
//!
//! Entries are 16 bytes and compare on the deadline alone, so a sift touches few cache lines. Ties
//! (timers due at the same instant) are put in order when they fire, by their arm order, seeded or
//! not: the order in which this queue hands out equal deadlines is never seen.

/// One armed timer: its deadline and its packed slot and generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimerKey {
    pub(crate) deadline: u64,
    pub(crate) timer: u64,
}

/// Four entries: one cache line, and exactly the children of one node.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
struct Group([TimerKey; ARITY]);

const EMPTY: Group = Group(
    [TimerKey {
        deadline: 0,
        timer: 0,
    }; ARITY],
);

/// The heap is stored in cache-line groups with the root at lane `ARITY - 1` of group 0, so the
/// children of node `j` (`ARITY * j + 1 ..= ARITY * j + ARITY`) are exactly group `j + 1`: a sift
/// touches one cache line per level rather than two.
#[derive(Debug, Default)]
struct Heap4 {
    groups: Vec<Group>,
    len: usize,
}

const ARITY: usize = 4;
/// Where node 0 sits in the flat array of entries.
const SKEW: usize = ARITY - 1;

impl Heap4 {
    #[inline]
    fn base(&mut self) -> *mut TimerKey {
        self.groups.as_mut_ptr().cast::<TimerKey>()
    }

    #[inline]
    fn push(&mut self, key: TimerKey) {
        let mut i = self.len;
        if i + SKEW >= self.groups.len() * ARITY {
            self.groups.push(EMPTY);
        }
        self.len = i + 1;
        let items = self.base();
        // SAFETY: `Group` is `repr(C)` over `[TimerKey; ARITY]`, so the groups are a flat array of
        // `groups.len() * ARITY` entries; every node index used is `< len`, and `len - 1 + SKEW` is
        // below that bound by the check above. (Index arithmetic wraps rather than being checked:
        // every index is below `len`, which fits in memory.)
        unsafe {
            while i > 0 {
                let parent = (i - 1) / ARITY;
                let p = *at(items, parent);
                if p.deadline <= key.deadline {
                    break;
                }
                *at(items, i) = p;
                i = parent;
            }
            *at(items, i) = key;
        }
    }

    #[inline]
    fn peek(&self) -> Option<&TimerKey> {
        if self.len == 0 {
            None
        } else {
            Some(&self.groups[0].0[SKEW])
        }
    }

    /// The children of the minimum: the next minimum is among them.
    #[inline]
    fn next_few(&self) -> &[TimerKey] {
        let n = self.len.saturating_sub(1).min(ARITY);
        match self.groups.get(1) {
            Some(g) => &g.0[..n],
            None => &[],
        }
    }

    #[inline(always)]
    fn pop(&mut self) -> Option<TimerKey> {
        if self.len == 0 {
            return None;
        }
        let n = self.len - 1;
        self.len = n;
        let groups = self.groups.as_mut_ptr();
        let items = groups.cast::<TimerKey>();
        // SAFETY: as in `push`, the groups hold at least `n + 1 + SKEW` entries; every node index
        // read or written below is <= n: a full group of children is read only when its last index
        // `first + ARITY - 1 < n`, a partial one only up to `n - 1`, and `i` is always 0 or a child
        // index. The children of node `i` are group `i + 1`.
        unsafe {
            let top = *at(items, 0);
            if n == 0 {
                return Some(top);
            }
            let last = *at(items, n);
            let big = n >= PREFETCH_MIN_LEN;
            let mut i = 0usize;
            loop {
                let first = i.wrapping_mul(ARITY).wrapping_add(1);
                if big {
                    // The next level is one of the groups of the children read now: ask for all
                    // four (adjacent lines) so that its miss overlaps this one.
                    let next = first.wrapping_add(1);
                    if next.wrapping_add(ARITY) <= self.groups.len() {
                        for k in 0..ARITY {
                            prefetch(groups.add(next.wrapping_add(k)).cast::<u8>());
                        }
                    }
                }
                let (best, best_deadline) = if first.wrapping_add(ARITY) <= n {
                    // A full group, one cache line: the least of four without branches.
                    let g = &(*groups.add(i.wrapping_add(1))).0;
                    let (d0, d1, d2, d3) =
                        (g[0].deadline, g[1].deadline, g[2].deadline, g[3].deadline);
                    let (a, da) = if d1 < d0 { (1, d1) } else { (0, d0) };
                    let (b, db) = if d3 < d2 { (3, d3) } else { (2, d2) };
                    let (m, dm) = if db < da { (b, db) } else { (a, da) };
                    (first.wrapping_add(m), dm)
                } else if first < n {
                    let mut best = first;
                    let mut best_deadline = (*at(items, first)).deadline;
                    let mut c = first.wrapping_add(1);
                    while c < n {
                        let d = (*at(items, c)).deadline;
                        if d < best_deadline {
                            best = c;
                            best_deadline = d;
                        }
                        c = c.wrapping_add(1);
                    }
                    (best, best_deadline)
                } else {
                    break;
                };
                if best_deadline >= last.deadline {
                    break;
                }
                *at(items, i) = *at(items, best);
                i = best;
            }
            *at(items, i) = last;
            Some(top)
        }
    }
}

/// The ring comes into use once this many timers are in the heap, or for a timer this many
/// buckets (about 134 ms) past the earliest one.
const RING_MIN: usize = 512;
const FAR: u64 = 16;
/// Bucket width: 2^23 ns, about 8.4 ms.
const SHIFT: u32 = 23;
/// Buckets in the ring: it covers about 2.1 s ahead of its cursor.
const BUCKETS: usize = 256;

/// The timer queue: a small heap of the near timers, and a ring of unsorted buckets of later
/// ones. When the clock comes near a bucket it is sorted once and read in order as the current
/// run, so with many timers most firings take the next entry of a sorted array, and the heap that
/// a firing sifts holds only the few timers armed for the current bucket or beyond the ring.
///
/// ```text
/// deadlines:  ──run (sorted)──┬── bucket ──┬── bucket ──┬ … 256 buckets of 8.4 ms … ┬── heap
///             cursor-1        │  cursor    │  cursor+1  │                           │  (near and far)
/// ```
///
/// Invariants: every entry of bucket `b & (BUCKETS - 1)` has `deadline >> SHIFT == b` for one `b` in
/// `cursor .. cursor + BUCKETS`; the run's unread entries are sorted and below `cursor << SHIFT`;
/// the heap holds every other entry, whatever its deadline. And between calls the ring is empty or
/// the run or the heap has an entry below `cursor << SHIFT`, so the lesser of the heads of the run
/// and the heap is the minimum of all: a push or pop settles, and a peek is two plain reads.
#[derive(Debug, Default)]
pub(crate) struct TimerHeap {
    near: Heap4,
    run: Vec<TimerKey>,
    /// The next unread entry of `run`.
    head: usize,
    ring: Vec<Vec<TimerKey>>,
    occupied: [u64; BUCKETS / 64],
    cursor: u64,
    in_ring: usize,
}

impl TimerHeap {
    #[inline]
    pub(crate) fn push(&mut self, key: TimerKey) {
        let b = key.deadline >> SHIFT;
        let was_empty = self.in_ring == 0;
        if was_empty {
            // No bucket holds anything, so the window can start anywhere past the run and the
            // heap's minimum. Few timers all close together are cheaper in the heap alone; a
            // far one waits in the ring, where it costs nothing if it is cancelled first.
            let Some(first) = self.peek().map(|k| (k.deadline >> SHIFT) + 1) else {
                self.near.push(key);
                return;
            };
            if b < first + FAR && self.near.len < RING_MIN {
                self.near.push(key);
                return;
            }
            self.cursor = self.cursor.max(first);
        }
        if b >= self.cursor && b - self.cursor < BUCKETS as u64 {
            if self.ring.is_empty() {
                self.ring = (0..BUCKETS).map(|_| Vec::new()).collect();
            }
            let i = b as usize & (BUCKETS - 1);
            self.ring[i].push(key);
            self.occupied[i / 64] |= 1 << (i % 64);
            self.in_ring = self.in_ring.wrapping_add(1);
            if was_empty {
                self.settle();
            }
        } else {
            self.near.push(key);
        }
    }

    /// Pours buckets into the run until the run or the heap holds the minimum of all.
    #[inline]
    fn settle(&mut self) {
        while self.in_ring != 0 {
            if self.head < self.run.len() {
                return;
            }
            let limit = self.cursor.saturating_mul(1 << SHIFT);
            if self.near.peek().is_some_and(|k| k.deadline < limit) {
                return;
            }
            self.pour();
        }
    }

    /// Makes the first non-empty bucket at or after the cursor the run, sorted, and moves the
    /// cursor past it. The run is used up when this is called.
    #[cold]
    #[inline(never)]
    fn pour(&mut self) {
        // The arithmetic wraps rather than being checked: distances stay below `2 * BUCKETS`, the
        // cursor counts buckets of nanoseconds, and `in_ring` counts what the ring holds.
        let start = self.cursor as usize & (BUCKETS - 1);
        // The distance from `start` to the next occupied bucket, going round the ring.
        let mut d = 0usize;
        loop {
            let i = start.wrapping_add(d) & (BUCKETS - 1);
            let word = self.occupied[i / 64] >> (i % 64);
            if word != 0 {
                d = d.wrapping_add(word.trailing_zeros() as usize);
                break;
            }
            d = d.wrapping_add(64 - i % 64);
            debug_assert!(d < 2 * BUCKETS, "in_ring > 0, so some bucket is occupied");
        }
        let i = start.wrapping_add(d) & (BUCKETS - 1);
        self.cursor = self.cursor.wrapping_add(d as u64).wrapping_add(1);
        self.occupied[i / 64] &= !(1 << (i % 64));
        // The used-up run's allocation becomes the emptied bucket's.
        self.run.clear();
        self.head = 0;
        std::mem::swap(&mut self.run, &mut self.ring[i]);
        self.in_ring = self.in_ring.wrapping_sub(self.run.len());
        self.run.sort_unstable_by_key(|k| k.deadline);
    }

    /// The earliest entry.
    #[inline]
    pub(crate) fn peek(&self) -> Option<&TimerKey> {
        match (self.run.get(self.head), self.near.peek()) {
            (Some(r), Some(n)) if n.deadline < r.deadline => Some(n),
            (Some(r), _) => Some(r),
            (None, n) => n,
        }
    }

    /// The entries likely to come out next, in order when they are the run's (the heap's are only
    /// the minimum's children): for prefetching.
    #[inline]
    pub(crate) fn upcoming(&self) -> &[TimerKey] {
        match self.run.get(self.head..) {
            Some(rest) if !rest.is_empty() => &rest[..rest.len().min(LOOKAHEAD)],
            _ => self.near.next_few(),
        }
    }

    /// Removes the earliest entry.
    #[inline(always)]
    pub(crate) fn pop(&mut self) -> Option<TimerKey> {
        let top = match (self.run.get(self.head), self.near.peek()) {
            (Some(r), Some(n)) if n.deadline < r.deadline => self.near.pop(),
            (Some(&r), _) => {
                self.head += 1;
                Some(r)
            }
            (None, _) => self.near.pop(),
        };
        self.settle();
        top
    }
}

/// How far ahead `upcoming` looks.
const LOOKAHEAD: usize = 4;

/// From this many entries the heap is out of the faster caches, and a pop prefetches.
const PREFETCH_MIN_LEN: usize = 1 << 14;

/// Asks for the cache line at `p`, which need not be valid (the executor's prefetches use it too).
#[inline(always)]
pub(crate) fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint that never faults, whatever the address, and reads nothing
    // observable. SSE is part of the x86_64 baseline.
    #[allow(unused_unsafe)]
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// The entry of node `j`.
///
/// # Safety
/// `items` points at the heap's groups, and `j + SKEW` is below their number of entries.
#[inline(always)]
unsafe fn at(items: *mut TimerKey, j: usize) -> *mut TimerKey {
    // SAFETY: in bounds by the caller's promise.
    unsafe { items.add(j.wrapping_add(SKEW)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_deadline_order() {
        let mut h = TimerHeap::default();
        let mut expect = Vec::new();
        let mut x = 12345u64;
        for t in 0..5000u64 {
            x = crate::rand::mix(x);
            let d = x % 1_000_000;
            h.push(TimerKey {
                deadline: d,
                timer: t,
            });
            expect.push(d);
            if t % 3 == 0 {
                let k = h.pop().unwrap();
                let min = *expect.iter().min().unwrap();
                assert_eq!(k.deadline, min);
                expect.remove(expect.iter().position(|&e| e == min).unwrap());
            }
        }
        expect.sort_unstable();
        let mut got = Vec::new();
        while let Some(k) = h.pop() {
            got.push(k.deadline);
        }
        assert_eq!(got, expect);
        assert!(h.peek().is_none());
    }

    /// The queue beside a sorted model of it: every pop must give the model's minimum.
    #[derive(Default)]
    struct Checked {
        queue: TimerHeap,
        model: std::collections::BTreeSet<(u64, u64)>,
    }

    impl Checked {
        fn push(&mut self, deadline: u64, timer: u64) {
            self.queue.push(TimerKey { deadline, timer });
            self.model.insert((deadline, timer));
        }

        /// Pops one timer and returns its deadline.
        fn pop(&mut self) -> u64 {
            let k = self.queue.pop().expect("the model is not empty");
            let &(min, _) = self.model.first().expect("the queue is not empty");
            assert_eq!(k.deadline, min);
            assert!(self.model.remove(&(k.deadline, k.timer)));
            k.deadline
        }

        fn drain(mut self) {
            while !self.model.is_empty() {
                self.pop();
            }
            assert!(self.queue.pop().is_none());
            assert!(self.queue.peek().is_none());
        }
    }

    #[test]
    fn few_timers_far_apart_pop_in_deadline_order() {
        // A handful at a time, from microseconds to minutes ahead: far ones wait in the ring
        // while the heap holds the near ones.
        let mut c = Checked::default();
        let mut x = 7u64;
        let mut now = 0u64;
        for t in 0..20_000u64 {
            x = crate::rand::mix(x);
            let ahead = match x % 4 {
                0 => x % 5_000_000,
                1 => 1_000_000_000 + (x >> 8) % 1_000_000,
                2 => (x >> 8) % 3_000_000_000,
                _ => (x >> 8) % 120_000_000_000,
            };
            c.push(now + ahead, t);
            while c.model.len() > 12 || (x >> 60) == 0 && !c.model.is_empty() {
                now = c.pop();
            }
        }
        c.drain();
    }

    #[test]
    fn ring_and_heap_pop_in_deadline_order() {
        // Many timers, spread from nanoseconds to hours ahead of a moving clock, with the far
        // future (u64::MAX) mixed in: buckets, heap and the window's moves all take part.
        let mut c = Checked::default();
        let mut x = 99u64;
        let mut now = 0u64;
        for t in 0..200_000u64 {
            x = crate::rand::mix(x);
            let ahead = match x % 10 {
                0 => x % 1000,
                1..=6 => 750_000_000 + (x >> 8) % 500_000_000,
                7 | 8 => (x >> 8) % 5_000_000_000,
                _ if x % 1000 == 9 => u64::MAX - now,
                _ => (x >> 8) % 7_200_000_000_000,
            };
            c.push(now.saturating_add(ahead), t);
            if x % 3 != 0 {
                now = c.pop().min(u64::MAX / 2);
            }
        }
        c.drain();
    }
}
