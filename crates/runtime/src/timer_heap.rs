//! The timer queue: a 4-ary min-heap of `(deadline, timer)` pairs.
//!
//! Entries are 16 bytes and compare on the deadline alone, so a sift touches few cache lines. Ties
//! (timers due at the same instant) are put in order when they fire, by the tie key in their slot.

/// One armed timer: its deadline and its packed slot and generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimerKey {
    pub(crate) deadline: u64,
    pub(crate) timer: u64,
}

#[derive(Debug, Default)]
pub(crate) struct TimerHeap {
    items: Vec<TimerKey>,
}

const ARITY: usize = 4;

impl TimerHeap {
    #[inline]
    pub(crate) fn push(&mut self, key: TimerKey) {
        let mut i = self.items.len();
        self.items.push(key);
        while i > 0 {
            let parent = (i - 1) / ARITY;
            if self.items[parent].deadline <= key.deadline {
                break;
            }
            self.items[i] = self.items[parent];
            i = parent;
        }
        self.items[i] = key;
    }

    #[inline]
    pub(crate) fn peek(&self) -> Option<&TimerKey> {
        self.items.first()
    }

    #[inline]
    pub(crate) fn pop(&mut self) -> Option<TimerKey> {
        let last = self.items.pop()?;
        let n = self.items.len();
        if n == 0 {
            return Some(last);
        }
        let items = self.items.as_mut_ptr();
        // SAFETY: every index read or written below is < n = self.items.len(): `first < n` is
        // checked, children run to `end <= n`, and `i` is always 0 or a child index.
        unsafe {
            let top = *items;
            let mut i = 0;
            loop {
                let first = i * ARITY + 1;
                if first >= n {
                    break;
                }
                let end = (first + ARITY).min(n);
                let mut best = first;
                let mut best_deadline = (*items.add(first)).deadline;
                for c in first + 1..end {
                    let d = (*items.add(c)).deadline;
                    if d < best_deadline {
                        best = c;
                        best_deadline = d;
                    }
                }
                if best_deadline >= last.deadline {
                    break;
                }
                *items.add(i) = *items.add(best);
                i = best;
            }
            *items.add(i) = last;
            Some(top)
        }
    }
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
}
