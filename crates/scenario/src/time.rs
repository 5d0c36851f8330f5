//! Durations as humantime strings, ranges of them, and time windows.

use std::fmt;
use std::time::Duration;

/// The longest duration any key accepts (100 years): far beyond any run, and small enough that
/// virtual-clock arithmetic in `u64` nanoseconds can never overflow.
pub(crate) const MAX_ANY_DURATION: Duration = Duration::from_secs(100 * 31_557_600);

/// What a duration string looks like, appended to every duration error.
pub(crate) const DURATION_FORMS: &str =
    "write a duration such as \"250ms\", \"1.5s\", \"1h30m\" or \"0s\" (units: ns, us, ms, s, m, h, d, w)";

/// Parses a humantime duration such as `250ms`, `1.5s`, `1h30m` or `0s`.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    let problem = if trimmed.starts_with('-') {
        "durations cannot be negative".to_owned()
    } else {
        match humantime::parse_duration(trimmed) {
            Ok(value) if value > MAX_ANY_DURATION => {
                return Err(format!(
                    "duration \"{text}\" is too long; the largest accepted is 100y"
                ))
            }
            Ok(value) => return Ok(value),
            Err(err) => describe(trimmed, err),
        }
    };
    Err(format!(
        "invalid duration \"{text}\": {problem}; {DURATION_FORMS}"
    ))
}

/// humantime's error in a scenario author's words (its own lists every unit spelling).
fn describe(text: &str, err: humantime::DurationError) -> String {
    use humantime::DurationError as E;
    let char_at = |offset: usize| text[offset..].chars().next().unwrap_or(' ');
    match err {
        E::Empty => "it is empty".to_owned(),
        E::InvalidCharacter(offset) => format!("unexpected character '{}'", char_at(offset)),
        E::NumberExpected(offset) => format!("expected a number before '{}'", char_at(offset)),
        E::UnknownUnit { unit, .. } if unit.is_empty() => "a number needs a unit".to_owned(),
        E::UnknownUnit { unit, .. } => format!("unknown unit \"{unit}\""),
        E::NumberOverflow => "the number is too large, or finer than 1ns".to_owned(),
    }
}

/// Formats a duration compactly, in a form [`parse_duration`] reads back: `1h30m`, `250ms`,
/// `1001d`, `0s` (days at most, never months or years).
pub(crate) fn format_duration(d: Duration) -> String {
    if d.is_zero() {
        return "0s".to_owned();
    }
    let secs = d.as_secs();
    let mut out = String::new();
    for (amount, unit) in [
        (secs / 86_400, "d"),
        (secs % 86_400 / 3600, "h"),
        (secs % 3600 / 60, "m"),
        (secs % 60, "s"),
    ] {
        if amount > 0 {
            out.push_str(&format!("{amount}{unit}"));
        }
    }
    let nanos = d.subsec_nanos();
    if nanos > 0 {
        let (amount, unit) = if nanos % 1_000_000 == 0 {
            (nanos / 1_000_000, "ms")
        } else if nanos % 1000 == 0 {
            (nanos / 1000, "us")
        } else {
            (nanos, "ns")
        };
        out.push_str(&format!("{amount}{unit}"));
    }
    out
}

/// A duration drawn uniformly from `[lo, hi)` in whole nanoseconds, per seed; `lo == hi` is a
/// fixed value.
///
/// Written `"1ms..10ms"`, or a single duration `"3ms"` for a fixed value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DurationRange {
    /// Smallest value (inclusive).
    pub lo: Duration,
    /// Upper bound (exclusive, unless equal to `lo`).
    pub hi: Duration,
}

impl DurationRange {
    /// A range that always yields `d`.
    pub const fn fixed(d: Duration) -> Self {
        DurationRange { lo: d, hi: d }
    }

    /// A range from `lo` to `hi`; the caller keeps `lo <= hi`.
    pub const fn new(lo: Duration, hi: Duration) -> Self {
        DurationRange { lo, hi }
    }

    /// True when the range has a single value.
    pub fn is_fixed(&self) -> bool {
        self.lo == self.hi
    }

    /// Parses `"lo..hi"` or a single duration.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let Some((lo, hi)) = text.split_once("..") else {
            return parse_duration(text).map(DurationRange::fixed);
        };
        let lo_value = parse_duration(lo)?;
        let hi_value = parse_duration(hi)?;
        if lo_value > hi_value {
            return Err(format!(
                "invalid range \"{text}\": the low end {} is above the high end {}; write \"lo..hi\" with lo <= hi",
                format_duration(lo_value),
                format_duration(hi_value)
            ));
        }
        Ok(DurationRange::new(lo_value, hi_value))
    }
}

impl fmt::Display for DurationRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_fixed() {
            f.write_str(&format_duration(self.lo))
        } else {
            write!(
                f,
                "{}..{}",
                format_duration(self.lo),
                format_duration(self.hi)
            )
        }
    }
}

/// A span of virtual time: `from` is inclusive, `until` exclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// First instant inside the window (time since the simulation started).
    pub from: Duration,
    /// First instant after the window; may equal the scenario's `duration`.
    pub until: Duration,
}

impl Window {
    /// A window from `from` (inclusive) to `until` (exclusive).
    pub const fn new(from: Duration, until: Duration) -> Self {
        Window { from, until }
    }

    /// True when virtual time `t` lies in `[from, until)`.
    pub fn contains(&self, t: Duration) -> bool {
        self.from <= t && t < self.until
    }

    /// True when the two windows share at least one instant.
    pub fn overlaps(&self, other: &Window) -> bool {
        self.from < other.until && other.from < self.until
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{}, {})",
            format_duration(self.from),
            format_duration(self.until)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn humantime_forms_parse() {
        assert_eq!(parse_duration("250ms"), Ok(ms(250)));
        assert_eq!(parse_duration("1.5s"), Ok(ms(1500)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("3ns"), Ok(Duration::from_nanos(3)));
        assert_eq!(
            parse_duration("365d"),
            Ok(Duration::from_secs(365 * 86_400))
        );
    }

    #[test]
    fn bad_durations_say_what_is_allowed() {
        for bad in ["", "10", "-5s", "5 parsecs", "fast", "1000000y"] {
            let err = parse_duration(bad).unwrap_err();
            assert!(err.contains(bad), "{err}");
        }
        assert!(parse_duration("10").unwrap_err().contains("\"250ms\""));
        assert!(parse_duration("-5s").unwrap_err().contains("negative"));
        assert!(parse_duration("5 parsecs")
            .unwrap_err()
            .contains("unknown unit \"parsecs\""));
        assert!(parse_duration("10").unwrap_err().contains("needs a unit"));
    }

    #[test]
    fn formatting_reads_back() {
        for (d, text) in [
            (Duration::from_secs(5400), "1h30m"),
            (Duration::from_millis(250), "250ms"),
            (Duration::from_millis(1500), "1s500ms"),
            (Duration::from_secs(1001 * 86_400), "1001d"),
            (Duration::from_nanos(3), "3ns"),
            (Duration::from_micros(2500), "2500us"),
        ] {
            assert_eq!(format_duration(d), text);
            assert_eq!(parse_duration(text), Ok(d));
        }
    }

    #[test]
    fn ranges_parse_and_print_back() {
        assert_eq!(
            DurationRange::parse("1ms..10ms"),
            Ok(DurationRange::new(ms(1), ms(10)))
        );
        assert_eq!(
            DurationRange::parse(" 1ms .. 1ms "),
            Ok(DurationRange::fixed(ms(1)))
        );
        assert_eq!(DurationRange::parse("3ms"), Ok(DurationRange::fixed(ms(3))));
        assert!(DurationRange::parse("10ms..1ms")
            .unwrap_err()
            .contains("lo <= hi"));
        assert!(DurationRange::parse("1ms..").is_err());
        assert_eq!(
            DurationRange::new(ms(1), ms(1500)).to_string(),
            "1ms..1s500ms"
        );
        assert_eq!(DurationRange::fixed(Duration::ZERO).to_string(), "0s");
    }

    #[test]
    fn windows_are_half_open() {
        let w = Window::new(ms(10), ms(20));
        assert!(!w.contains(ms(9)));
        assert!(w.contains(ms(10)));
        assert!(w.contains(ms(19)));
        assert!(!w.contains(ms(20)));
        assert!(w.overlaps(&Window::new(ms(19), ms(30))));
        assert!(!w.overlaps(&Window::new(ms(20), ms(30))));
        assert_eq!(w.to_string(), "[10ms, 20ms)");
    }
}
