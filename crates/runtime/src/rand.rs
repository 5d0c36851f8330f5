//! Seeded randomness: ChaCha8 streams named by what consumes them.
//!
//! Every consumer asks for its own stream by a stable name (`"tablet/3/latency"`). In a simulation the
//! stream is derived from the seed and that name alone, so adding or removing one tablet never
//! reshuffles the draws of another. Outside a simulation the stream is seeded from the OS.
//!
//! The sampling on top of the raw ChaCha8 words (ranges, floats, shuffles) is written here rather than
//! taken from `rand`, because `rand`'s `gen_range` output changes across major versions, and the
//! mapping from seed to trace must not. The ChaCha8 block function is here too, with a one-block
//! buffer: a stream is 112 bytes instead of `rand_chacha`'s 304, which matters when 100,000 tasks
//! each hold one. A test checks that its output is word for word `rand_chacha::ChaCha8Rng`'s.

use std::fmt;
use std::time::Duration;

use crate::context;

/// A seeded ChaCha8 random stream.
///
/// Get one with [`stream`]. The same seed and name always give the same sequence.
pub struct Rng {
    inner: ChaCha8,
}

impl fmt::Debug for Rng {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rng").finish_non_exhaustive()
    }
}

/// Returns the random stream named `name`.
///
/// Inside a simulation it is derived from the simulation seed and `name`; asking twice for the same
/// name gives two copies of the same sequence, so give each consumer its own name. Outside a
/// simulation it is seeded from the operating system.
pub fn stream(name: &str) -> Rng {
    match context::seed() {
        Some(seed) => Rng::derive(seed, name),
        None => Rng::from_entropy(),
    }
}

impl Rng {
    /// The stream for `seed` and `name`, as a simulation with that seed would derive it.
    pub fn derive(seed: u64, name: &str) -> Rng {
        let mut state = mix(seed ^ fnv1a(name.as_bytes()));
        let mut key = [0u8; 32];
        for chunk in key.chunks_exact_mut(8) {
            state = mix(state);
            chunk.copy_from_slice(&state.to_le_bytes());
        }
        Rng {
            inner: ChaCha8::new(key),
        }
    }

    fn from_entropy() -> Rng {
        let mut key = [0u8; 32];
        // Production only: a simulation never gets here.
        if getrandom::fill(&mut key).is_err() {
            key = [0x5a; 32];
        }
        Rng {
            inner: ChaCha8::new(key),
        }
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    /// The next 32 random bits.
    #[inline]
    pub fn next_u32(&mut self) -> u32 {
        self.inner.next_u32()
    }

    /// Uniform over `[0, n)`, by Lemire's multiply-and-reject method.
    ///
    /// # Panics
    /// When `n` is 0, like Go's `Int63n(0)`.
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "Rng::below(0): the range is empty");
        let mut m = u128::from(self.next_u64()) * u128::from(n);
        if (m as u64) < n {
            let threshold = n.wrapping_neg() % n;
            while (m as u64) < threshold {
                m = u128::from(self.next_u64()) * u128::from(n);
            }
        }
        (m >> 64) as u64
    }

    /// Uniform over `[lo, hi)`; `lo` when the range is empty.
    #[inline]
    pub fn range_u64(&mut self, lo: u64, hi: u64) -> u64 {
        if lo >= hi {
            lo
        } else {
            lo + self.below(hi - lo)
        }
    }

    /// Uniform over `[lo, hi)` in whole nanoseconds; `lo` when the range is empty.
    pub fn duration_between(&mut self, lo: Duration, hi: Duration) -> Duration {
        let (lo, hi) = (nanos(lo), nanos(hi));
        Duration::from_nanos(self.range_u64(lo, hi))
    }

    /// Uniform over `[0, 1)` with 53 bits of precision.
    #[inline]
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// True with probability `p` (clamped to `[0, 1]`).
    pub fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    /// Shuffles `items` in place (Fisher-Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }

    /// An exponentially distributed duration with the given mean, in whole nanoseconds: the gap
    /// between arrivals of a Poisson process.
    pub fn exp(&mut self, mean: Duration) -> Duration {
        // 1 - f64() is in (0, 1], so the logarithm is finite.
        let gap = -(1.0 - self.f64()).ln() * mean.as_nanos() as f64;
        Duration::from_nanos(if gap >= u64::MAX as f64 {
            u64::MAX
        } else {
            gap as u64
        })
    }
}

/// ChaCha with 8 rounds, a 64-bit block counter and stream 0, as `rand_chacha::ChaCha8Rng`.
#[derive(Clone)]
struct ChaCha8 {
    key: [u32; 8],
    counter: u64,
    buf: [u32; 16],
    /// The next unread word of `buf`; 16 when it is used up.
    index: usize,
}

const SIGMA: [u32; 4] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];

#[cfg(any(test, not(target_arch = "x86_64")))]
#[inline(always)]
fn quarter(s: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
    s[a] = s[a].wrapping_add(s[b]);
    s[d] = (s[d] ^ s[a]).rotate_left(16);
    s[c] = s[c].wrapping_add(s[d]);
    s[b] = (s[b] ^ s[c]).rotate_left(12);
    s[a] = s[a].wrapping_add(s[b]);
    s[d] = (s[d] ^ s[a]).rotate_left(8);
    s[c] = s[c].wrapping_add(s[d]);
    s[b] = (s[b] ^ s[c]).rotate_left(7);
}

/// The ChaCha8 block function, one row of the state to a 128-bit lane: the four quarter-rounds of
/// a column or a diagonal run side by side. SSE2 is part of the x86_64 baseline.
#[cfg(target_arch = "x86_64")]
#[allow(unused_unsafe)]
#[inline(always)]
fn block(key: &[u32; 8], counter: u64, out: &mut [u32; 16]) {
    use std::arch::x86_64::{
        __m128i, _mm_add_epi32, _mm_loadu_si128, _mm_or_si128, _mm_set_epi32, _mm_shuffle_epi32,
        _mm_slli_epi32, _mm_srli_epi32, _mm_storeu_si128, _mm_xor_si128,
    };
    macro_rules! rotl {
        ($x:expr, $n:literal) => {
            _mm_or_si128(_mm_slli_epi32::<$n>($x), _mm_srli_epi32::<{ 32 - $n }>($x))
        };
    }
    // SAFETY: the loads and stores are unaligned ones of 16 bytes, each inside `SIGMA`, `key` or
    // `out`; everything else is register arithmetic, and SSE2 is always there on x86_64.
    unsafe {
        let k = key.as_ptr().cast::<__m128i>();
        let a0 = _mm_loadu_si128(SIGMA.as_ptr().cast::<__m128i>());
        let b0 = _mm_loadu_si128(k);
        let c0 = _mm_loadu_si128(k.add(1));
        let d0 = _mm_set_epi32(0, 0, (counter >> 32) as i32, counter as i32);
        let (mut a, mut b, mut c, mut d) = (a0, b0, c0, d0);
        macro_rules! quarters {
            () => {
                a = _mm_add_epi32(a, b);
                d = rotl!(_mm_xor_si128(d, a), 16);
                c = _mm_add_epi32(c, d);
                b = rotl!(_mm_xor_si128(b, c), 12);
                a = _mm_add_epi32(a, b);
                d = rotl!(_mm_xor_si128(d, a), 8);
                c = _mm_add_epi32(c, d);
                b = rotl!(_mm_xor_si128(b, c), 7);
            };
        }
        for _ in 0..4 {
            quarters!();
            // Turn the diagonals into columns, and back.
            b = _mm_shuffle_epi32::<0x39>(b);
            c = _mm_shuffle_epi32::<0x4e>(c);
            d = _mm_shuffle_epi32::<0x93>(d);
            quarters!();
            b = _mm_shuffle_epi32::<0x93>(b);
            c = _mm_shuffle_epi32::<0x4e>(c);
            d = _mm_shuffle_epi32::<0x39>(d);
        }
        let q = out.as_mut_ptr().cast::<__m128i>();
        _mm_storeu_si128(q, _mm_add_epi32(a, a0));
        _mm_storeu_si128(q.add(1), _mm_add_epi32(b, b0));
        _mm_storeu_si128(q.add(2), _mm_add_epi32(c, c0));
        _mm_storeu_si128(q.add(3), _mm_add_epi32(d, d0));
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn block(key: &[u32; 8], counter: u64, out: &mut [u32; 16]) {
    block_by_words(key, counter, out);
}

/// The ChaCha8 block function, word by word: the portable one, and the oracle of the SSE2 one.
#[cfg(any(test, not(target_arch = "x86_64")))]
fn block_by_words(key: &[u32; 8], counter: u64, out: &mut [u32; 16]) {
    let mut init = [0u32; 16];
    init[..4].copy_from_slice(&SIGMA);
    init[4..12].copy_from_slice(key);
    init[12] = counter as u32;
    init[13] = (counter >> 32) as u32;
    let mut s = init;
    for _ in 0..4 {
        quarter(&mut s, 0, 4, 8, 12);
        quarter(&mut s, 1, 5, 9, 13);
        quarter(&mut s, 2, 6, 10, 14);
        quarter(&mut s, 3, 7, 11, 15);
        quarter(&mut s, 0, 5, 10, 15);
        quarter(&mut s, 1, 6, 11, 12);
        quarter(&mut s, 2, 7, 8, 13);
        quarter(&mut s, 3, 4, 9, 14);
    }
    for (o, (w, i)) in out.iter_mut().zip(s.iter().zip(init.iter())) {
        *o = w.wrapping_add(*i);
    }
}

impl ChaCha8 {
    fn new(seed: [u8; 32]) -> ChaCha8 {
        let mut key = [0u32; 8];
        for (k, chunk) in key.iter_mut().zip(seed.chunks_exact(4)) {
            *k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        }
        ChaCha8 {
            key,
            counter: 0,
            buf: [0; 16],
            index: 16,
        }
    }

    #[inline(never)]
    fn refill(&mut self) {
        block(&self.key, self.counter, &mut self.buf);
        self.counter = self.counter.wrapping_add(1);
        self.index = 0;
    }

    #[inline]
    fn next_u32(&mut self) -> u32 {
        if self.index >= 16 {
            self.refill();
        }
        let w = self.buf[self.index];
        self.index += 1;
        w
    }

    #[inline]
    fn next_u64(&mut self) -> u64 {
        // Two consecutive words of the keystream, low first, across a block boundary if need be.
        if self.index < 15 {
            let lo = self.buf[self.index];
            let hi = self.buf[self.index + 1];
            self.index += 2;
            u64::from(hi) << 32 | u64::from(lo)
        } else {
            let lo = self.next_u32();
            let hi = self.next_u32();
            u64::from(hi) << 32 | u64::from(lo)
        }
    }
}

pub(crate) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// SplitMix64's finaliser: a bijective mix of 64 bits.
#[inline]
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// FNV-1a, 64 bits: stable across platforms and releases.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h = FNV_OFFSET;
    for &b in bytes {
        h = (h ^ u64::from(b)).wrapping_mul(FNV_PRIME);
    }
    h
}

pub(crate) const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
pub(crate) const FNV_PRIME: u64 = 0x0100_0000_01b3;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_and_name_give_the_same_stream() {
        let a: Vec<u64> = (0..4)
            .map(|_| 0)
            .scan(Rng::derive(7, "x"), |r, _| Some(r.next_u64()))
            .collect();
        let b: Vec<u64> = (0..4)
            .map(|_| 0)
            .scan(Rng::derive(7, "x"), |r, _| Some(r.next_u64()))
            .collect();
        assert_eq!(a, b);
        assert_ne!(
            Rng::derive(7, "x").next_u64(),
            Rng::derive(7, "y").next_u64()
        );
        assert_ne!(
            Rng::derive(7, "x").next_u64(),
            Rng::derive(8, "x").next_u64()
        );
    }

    /// Golden values: if these change, every recorded seed replays differently.
    #[test]
    fn sampling_is_stable() {
        let mut r = Rng::derive(42, "golden");
        let draws: Vec<u64> = (0..6).map(|_| r.below(1000)).collect();
        insta::assert_debug_snapshot!(draws);
        let mut items = [1, 2, 3, 4, 5, 6, 7, 8];
        r.shuffle(&mut items);
        insta::assert_debug_snapshot!(items);
    }

    #[test]
    fn the_block_function_matches_rand_chacha() {
        use rand_core::{Rng as _, SeedableRng};
        let seed: [u8; 32] = std::array::from_fn(|i| (i * 7 + 3) as u8);
        let mut ours = ChaCha8::new(seed);
        let mut theirs = rand_chacha::ChaCha8Rng::from_seed(seed);
        for i in 0..1000 {
            if i % 3 == 0 {
                assert_eq!(ours.next_u32(), theirs.next_u32(), "word {i}");
            } else {
                assert_eq!(ours.next_u64(), theirs.next_u64(), "word {i}");
            }
        }
        assert!(
            std::mem::size_of::<Rng>() <= 112,
            "{}",
            std::mem::size_of::<Rng>()
        );
    }

    // Elsewhere `block` is the word-by-word function itself, and the test would compare it with
    // itself.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_block_function_is_the_same_word_by_word_and_by_lanes() {
        let mut x = 7u64;
        for _ in 0..1000 {
            let mut key = [0u32; 8];
            for w in &mut key {
                x = mix(x);
                *w = x as u32;
            }
            x = mix(x);
            let (mut lanes, mut words) = ([0u32; 16], [0u32; 16]);
            block(&key, x, &mut lanes);
            block_by_words(&key, x, &mut words);
            assert_eq!(lanes, words);
        }
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut r = Rng::derive(1, "cover");
        let mut seen = [false; 7];
        for _ in 0..1000 {
            let v = r.below(7);
            assert!(v < 7);
            seen[v as usize] = true;
        }
        assert!(seen.iter().all(|s| *s));
        assert_eq!(r.range_u64(5, 5), 5);
        assert_eq!(
            r.duration_between(Duration::from_secs(1), Duration::from_secs(1)),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn exp_has_the_right_mean() {
        let mut r = Rng::derive(3, "exp");
        let mean = Duration::from_millis(50);
        let n = 20_000u32;
        let total: Duration = (0..n).map(|_| r.exp(mean)).sum();
        let got = total / n;
        assert!(
            got > Duration::from_millis(48) && got < Duration::from_millis(52),
            "{got:?}"
        );
    }
}
