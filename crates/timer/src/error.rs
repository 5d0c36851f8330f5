//! Why a ticker could not be built.

use std::fmt;
use std::time::Duration;

/// A ticker configuration that the Go original could not run, or that is plainly wrong.
///
/// The Go `NewRandTicker` has no error return: a bad configuration panics inside the ticker's
/// goroutine and takes the whole process down. Here the same configurations are rejected when the
/// ticker is built, and the message says what Go would have done.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TickerError {
    /// The period `d` is zero. A period must be positive, with or without the fixes.
    NonPositivePeriod {
        /// The ticker's name.
        name: String,
    },
    /// The variance is zero. Go computes `rnd.Int63n(2*v)`, and `Int63n(0)` panics with
    /// "invalid argument to Int63n". `Fixes::ticker_zero_variance` makes it mean "no jitter".
    ZeroVariance {
        /// The ticker's name.
        name: String,
        /// The period the ticker was asked for.
        period: Duration,
    },
    /// `d + v` or `2*v` does not fit Go's `time.Duration` (int64 nanoseconds, about 292 years).
    OutOfRange {
        /// The ticker's name.
        name: String,
        /// The period the ticker was asked for.
        period: Duration,
        /// The variance the ticker was asked for.
        variance: Duration,
    },
}

impl fmt::Display for TickerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TickerError::NonPositivePeriod { name } => {
                write!(f, "ticker {name}: the period must be positive, got 0s")
            }
            TickerError::ZeroVariance { name, period } => write!(
                f,
                "ticker {name}: NewRandTicker({period:?}, 0) panics in Go: rand.Int63n(0) \
                 (\"invalid argument to Int63n\", vitess go/timer/randticker.go); \
                 set fixes.ticker_zero_variance to tick without jitter"
            ),
            TickerError::OutOfRange {
                name,
                period,
                variance,
            } => write!(
                f,
                "ticker {name}: period {period:?} with variance {variance:?} overflows Go's \
                 time.Duration (int64 nanoseconds)"
            ),
        }
    }
}

impl std::error::Error for TickerError {}
