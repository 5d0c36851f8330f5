//! How a simulation schedules tasks and timers, and when it gives up.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The order in which ready tasks run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Scheduler {
    /// Tasks run in the order they became ready.
    Fifo,
    /// Each step runs a ready task drawn from the seed.
    #[default]
    Random,
    /// Probabilistic concurrency testing (Burckhardt et al., ASPLOS 2010): tasks get seeded
    /// priorities, and at `depth - 1` seeded steps out of the first `steps` the running task drops to
    /// the lowest priority. It finds bugs of depth `d` with probability at least `1/(n * k^(d-1))`.
    Pct {
        /// The bug depth to aim for (at least 1).
        depth: u32,
        /// How many scheduling steps the change points are drawn from.
        steps: u64,
    },
}

impl fmt::Display for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scheduler::Fifo => f.write_str("fifo"),
            Scheduler::Random => f.write_str("random"),
            Scheduler::Pct { depth, steps } => write!(f, "pct(depth={depth},steps={steps})"),
        }
    }
}

impl FromStr for Scheduler {
    type Err = String;

    fn from_str(s: &str) -> Result<Scheduler, String> {
        match s {
            "fifo" => Ok(Scheduler::Fifo),
            "random" => Ok(Scheduler::Random),
            "pct" => Ok(Scheduler::Pct {
                depth: 3,
                steps: 100_000,
            }),
            other => Err(format!(
                "unknown scheduler {other:?}; allowed: fifo, random, pct"
            )),
        }
    }
}

/// The order in which timers due at the same instant fire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TimerOrder {
    /// In the order they were armed.
    Fifo,
    /// In an order drawn from the seed.
    #[default]
    Random,
}

impl fmt::Display for TimerOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimerOrder::Fifo => "fifo",
            TimerOrder::Random => "random",
        })
    }
}

impl FromStr for TimerOrder {
    type Err = String;

    fn from_str(s: &str) -> Result<TimerOrder, String> {
        match s {
            "fifo" => Ok(TimerOrder::Fifo),
            "random" => Ok(TimerOrder::Random),
            other => Err(format!(
                "unknown timer order {other:?}; allowed: fifo, random"
            )),
        }
    }
}

/// The configuration of a [`Sim`](crate::Sim).
///
/// [`Config::from_env`] reads the `VTSIM_*` variable named on each field.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// The order of ready tasks. `VTSIM_SCHEDULER`: `fifo`, `random` or `pct`. Default: random.
    pub scheduler: Scheduler,
    /// The order of timers due at the same instant. `VTSIM_TIMER_ORDER`: `fifo` or `random`.
    /// Default: random.
    pub timer_order: TimerOrder,
    /// Every timer fires late by a seeded amount in `[0, timer_slop]`, as real timers do.
    /// `VTSIM_TIMER_SLOP`, e.g. `2ms`. Default: 0.
    pub timer_slop: Duration,
    /// Polls allowed at one instant of virtual time before the run is a livelock.
    /// `VTSIM_MAX_POLLS`. Default: 1,000,000.
    pub max_polls_per_instant: u64,
    /// A run fails when its virtual clock would pass this. `VTSIM_TIME_LIMIT`, e.g. `30d`;
    /// `none` turns it off. Default: 10,000 days.
    pub time_limit: Option<Duration>,
    /// A run fails when its trace holds more events than this. `VTSIM_MAX_EVENTS`. Default: none.
    pub max_events: Option<usize>,
    /// A run fails when it takes longer than this in wall time. `VTSIM_MAX_WALL`, e.g. `60s`.
    /// Default: none.
    pub max_wall: Option<Duration>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            scheduler: Scheduler::default(),
            timer_order: TimerOrder::default(),
            timer_slop: Duration::ZERO,
            max_polls_per_instant: 1_000_000,
            time_limit: Some(Duration::from_secs(10_000 * 86_400)),
            max_events: None,
            max_wall: None,
        }
    }
}

impl Config {
    /// The default configuration with the `VTSIM_*` variables applied.
    pub fn from_env() -> Result<Config, String> {
        let mut c = Config::default();
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        if let Some(v) = var("VTSIM_SCHEDULER") {
            c.scheduler = v.parse().map_err(|e| format!("VTSIM_SCHEDULER: {e}"))?;
        }
        if let Some(v) = var("VTSIM_TIMER_ORDER") {
            c.timer_order = v.parse().map_err(|e| format!("VTSIM_TIMER_ORDER: {e}"))?;
        }
        if let Some(v) = var("VTSIM_TIMER_SLOP") {
            c.timer_slop = parse_duration(&v).map_err(|e| format!("VTSIM_TIMER_SLOP: {e}"))?;
        }
        if let Some(v) = var("VTSIM_MAX_POLLS") {
            c.max_polls_per_instant = v
                .parse()
                .map_err(|e| format!("VTSIM_MAX_POLLS: {v:?}: {e}"))?;
        }
        if let Some(v) = var("VTSIM_TIME_LIMIT") {
            c.time_limit = if v == "none" {
                None
            } else {
                Some(parse_duration(&v).map_err(|e| format!("VTSIM_TIME_LIMIT: {e}"))?)
            };
        }
        if let Some(v) = var("VTSIM_MAX_EVENTS") {
            c.max_events = Some(
                v.parse()
                    .map_err(|e| format!("VTSIM_MAX_EVENTS: {v:?}: {e}"))?,
            );
        }
        if let Some(v) = var("VTSIM_MAX_WALL") {
            c.max_wall = Some(parse_duration(&v).map_err(|e| format!("VTSIM_MAX_WALL: {e}"))?);
        }
        Ok(c)
    }
}

/// Parses a duration the way scenario files do (humantime: `250ms`, `1.5s`, `1h30m`, `3d`), or
/// a bare number of nanoseconds (`1500`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s
            .parse()
            .map(Duration::from_nanos)
            .map_err(|_| format!("{s:?} is out of range"));
    }
    humantime::parse_duration(s)
        .map_err(|e| format!("{s:?} is not a duration ({e}); write e.g. 5ms, 1.5s or 1h30m"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_scenario_files() {
        let ok = |s: &str| parse_duration(s).unwrap();
        assert_eq!(ok("1500"), Duration::from_nanos(1500));
        assert_eq!(ok("250ms"), Duration::from_millis(250));
        assert_eq!(ok("1.5s"), Duration::from_millis(1500));
        assert_eq!(ok("10us"), Duration::from_micros(10));
        assert_eq!(ok("1h30m"), Duration::from_secs(5400));
        assert_eq!(ok(" 3d "), Duration::from_secs(3 * 86_400));
        assert!(parse_duration("5 parsecs")
            .unwrap_err()
            .contains("write e.g. 5ms"));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-1s").is_err());
    }
}
