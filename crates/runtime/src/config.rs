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

/// Parses `1500`, `250ns`, `10us`, `5ms`, `1.5s`, `2m`, `1h`, `3d` (one number, one unit; a bare
/// number is nanoseconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration; write e.g. 5ms, 1.5s or 2m"))?;
    let scale = match unit {
        "" | "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" => 60e9,
        "h" => 3600e9,
        "d" => 86_400e9,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {s:?}; allowed: ns, us, ms, s, m, h, d"
            ))
        }
    };
    let nanos = value * scale;
    if !(0.0..=u64::MAX as f64).contains(&nanos) {
        return Err(format!("{s:?} is out of range"));
    }
    Ok(Duration::from_nanos(nanos.round() as u64))
}
