//! From raw serde values to a [`Scenario`]: defaults, conversions and every cross-check, each
//! problem recorded with its location instead of stopping at the first.

use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use toml::de::DeTable;
use toml::Spanned;
use vtsim_timer::Fixes;

use crate::error::{Diagnostics, ScenarioError};
use crate::events::{event_kind, family, fields_of, EVENT_KINDS};
use crate::locate::report_toml_error;
use crate::model::*;
use crate::raw::*;
use crate::suggest::did_you_mean;
use crate::time::{format_duration, parse_duration, DurationRange, Window};

/// The longest `duration` a scenario may simulate.
pub(crate) const MAX_RUN: Duration = Duration::from_secs(1000 * 86_400);

const DEFAULT_SEEDS: u64 = 8;
const DEFAULT_MAX_EVENTS: u64 = 5_000_000;
const DEFAULT_MAX_WALL: Duration = Duration::from_secs(60);
const DEFAULT_DISCOVER_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_MYSQL_PORT: u16 = 3306;
const DEFAULT_DISCOVER_HOST: &str = "tablet-1";
const DEFAULT_MAINTENANCE_REASON: &str = "vtsim";
const DEFAULT_KEYSPACE: &str = "ks";
const DEFAULT_SHARD: &str = "0";
const DEFAULT_RETRY_DELAY: Duration = Duration::from_millis(2);
const DEFAULT_RETRY_COUNT: u32 = 2;
const DEFAULT_CONN_TIMEOUT_TOTAL: Duration = Duration::from_secs(3);
const DEFAULT_CONN_TIMEOUT_PER_CONN: Duration = Duration::from_millis(1500);
const DEFAULT_CONN_LIFE: Duration = Duration::from_secs(365 * 86_400);
const DEFAULT_RESET_DOWN_CONN_DELAY: Duration = Duration::from_secs(600);
const DEFAULT_QPS: f64 = 10.0;
const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(1);
const MAX_BURST: i64 = 1_000_000;

const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}
const DEFAULT_ORCHESTRATOR_LATENCY: DurationRange = DurationRange::new(ms(1), ms(10));
const DEFAULT_TOPO_LATENCY: DurationRange = DurationRange::new(ms(1), ms(2));
const DEFAULT_DIAL_LATENCY: DurationRange = DurationRange::new(ms(1), ms(3));
const DEFAULT_QUERY_LATENCY: DurationRange = DurationRange::new(ms(1), ms(5));
const DEFAULT_STREAM_DURATION: DurationRange = DurationRange::fixed(Duration::from_secs(1));

const SCHEDULERS: &[(&str, SchedulerKind)] = &[
    ("random", SchedulerKind::Random),
    ("fifo", SchedulerKind::Fifo),
    ("pct", SchedulerKind::Pct),
];
const TIMER_ORDERS: &[(&str, TimerOrder)] =
    &[("random", TimerOrder::Random), ("fifo", TimerOrder::Fifo)];
const TABLET_TYPES: &[(&str, TabletType)] = &[
    ("master", TabletType::Master),
    ("replica", TabletType::Replica),
    ("rdonly", TabletType::Rdonly),
];
const ORCHESTRATOR_MODES: &[(&str, OrchestratorOutageMode)] = &[
    ("refuse", OrchestratorOutageMode::Refuse),
    ("hang", OrchestratorOutageMode::Hang),
    ("http-500", OrchestratorOutageMode::Http500),
];

/// Tablet modes; `slow` carries its extra latency, filled in after the lookup.
#[derive(Clone, Copy)]
enum TabletModeName {
    Refuse,
    Hang,
    RetryError,
    FatalError,
    ServerError,
    Slow,
}
const TABLET_MODES: &[(&str, TabletModeName)] = &[
    ("refuse", TabletModeName::Refuse),
    ("hang", TabletModeName::Hang),
    ("retry-error", TabletModeName::RetryError),
    ("fatal-error", TabletModeName::FatalError),
    ("server-error", TabletModeName::ServerError),
    ("slow", TabletModeName::Slow),
];

const ZERO_VARIANCE_PANIC: &str = "rand.Int63n(0) panics in timer.NewRandTicker";

/// Parses and validates a whole scenario file. `path` is used for messages and the default name.
pub(crate) fn parse_scenario(text: &str, path: &Path) -> Result<Scenario, ScenarioError> {
    let mut out = Diagnostics::new(text);
    let invalid = |out: Diagnostics<'_>| ScenarioError::Invalid {
        path: path.to_owned(),
        diagnostics: out.into_sorted(),
    };

    // Syntax first, with recovery so every broken line is reported.
    let (doc, syntax_errors) = DeTable::parse_recoverable(text);
    if !syntax_errors.is_empty() {
        for err in &syntax_errors {
            report_toml_error(&mut out, &doc, err);
        }
        return Err(invalid(out));
    }

    let raw: RawScenario = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(err) => {
            report_toml_error(&mut out, &doc, &err);
            return Err(invalid(out));
        }
    };

    let scenario = Check::new(&mut out, raw.fixes).scenario(raw, path);
    if out.is_empty() {
        Ok(scenario)
    } else {
        Err(invalid(out))
    }
}

/// The validation pass. Helpers record a diagnostic and return a default, so checking goes on
/// and the caller discards the half-built scenario when anything was recorded.
struct Check<'a, 't> {
    out: &'a mut Diagnostics<'t>,
    fixes: Fixes,
    /// The run length, once known to be valid; bound checks against it are skipped otherwise.
    run: Option<Duration>,
}

fn key(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}.{name}")
    }
}

fn allowed<T>(choices: &[(&str, T)]) -> String {
    choices
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

impl<'a, 't> Check<'a, 't> {
    fn new(out: &'a mut Diagnostics<'t>, fixes: Fixes) -> Self {
        Check {
            out,
            fixes,
            run: None,
        }
    }

    fn error(&mut self, span: Range<usize>, key: &str, message: impl Into<String>) {
        self.out.error(span, key, message);
    }

    // ---- scalar helpers -------------------------------------------------------------------

    /// A duration, or `None` (recorded) when it does not parse.
    fn parse_duration(&mut self, value: &Spanned<DurationText>, key: &str) -> Option<Duration> {
        match parse_duration(&value.get_ref().0) {
            Ok(d) => Some(d),
            Err(message) => {
                self.error(value.span(), key, message);
                None
            }
        }
    }

    fn duration_or(
        &mut self,
        value: Option<&Spanned<DurationText>>,
        key: &str,
        default: Duration,
    ) -> Duration {
        value
            .and_then(|v| self.parse_duration(v, key))
            .unwrap_or(default)
    }

    /// A duration that must be above zero, such as a timeout.
    fn positive_or(
        &mut self,
        value: Option<&Spanned<DurationText>>,
        key: &str,
        default: Duration,
        why: &str,
    ) -> Duration {
        let Some(value) = value else { return default };
        match self.parse_duration(value, key) {
            Some(d) if d.is_zero() => {
                self.error(
                    value.span(),
                    key,
                    format!("must be greater than 0s ({why}); write e.g. \"1s\""),
                );
                default
            }
            Some(d) => d,
            None => default,
        }
    }

    fn range_or(
        &mut self,
        value: Option<&Spanned<RangeText>>,
        key: &str,
        default: DurationRange,
    ) -> DurationRange {
        let Some(value) = value else { return default };
        match DurationRange::parse(&value.get_ref().0) {
            Ok(range) => range,
            Err(message) => {
                self.error(value.span(), key, message);
                default
            }
        }
    }

    /// One of a fixed set of names.
    fn choice<T: Copy>(
        &mut self,
        value: Option<&Spanned<String>>,
        key: &str,
        what: &str,
        choices: &[(&str, T)],
        default: T,
    ) -> T {
        let Some(value) = value else { return default };
        let text = value.get_ref();
        match choices.iter().find(|(name, _)| name == text) {
            Some((_, choice)) => *choice,
            None => {
                self.error(
                    value.span(),
                    key,
                    format!(
                        "unknown {what} \"{text}\"{}; allowed: {}",
                        did_you_mean(text, choices.iter().map(|(name, _)| *name)),
                        allowed(choices)
                    ),
                );
                default
            }
        }
    }

    /// An integer in `lo..=hi`, or `None` (recorded).
    fn int_in(
        &mut self,
        value: &Spanned<i64>,
        key: &str,
        lo: i64,
        hi: i64,
        hint: &str,
    ) -> Option<i64> {
        let n = *value.get_ref();
        if (lo..=hi).contains(&n) {
            Some(n)
        } else {
            self.error(
                value.span(),
                key,
                format!("{n} is out of range; allowed: {lo} to {hi}{hint}"),
            );
            None
        }
    }

    /// A name used in URLs and labels: non-empty, no spaces or slashes.
    fn word_or(&mut self, value: Option<&Spanned<String>>, key: &str, default: &str) -> String {
        let Some(value) = value else {
            return default.to_owned();
        };
        let text = value.get_ref();
        if text.is_empty() || text.contains(|c: char| c == '/' || c.is_whitespace()) {
            self.error(
                value.span(),
                key,
                format!("invalid name \"{text}\"; allowed: a non-empty name without spaces or '/'"),
            );
            return default.to_owned();
        }
        text.clone()
    }

    fn share_or(&mut self, value: Option<&Spanned<f64>>, key: &str) -> f64 {
        let Some(value) = value else { return 0.0 };
        let share = *value.get_ref();
        if (0.0..=1.0).contains(&share) {
            share
        } else {
            self.error(
                value.span(),
                key,
                format!("{share} is not a fraction; allowed: 0.0 to 1.0"),
            );
            0.0
        }
    }

    // ---- time windows ---------------------------------------------------------------------

    /// An instant at which something happens; it must fall before the end of the run.
    fn instant(&mut self, value: &Spanned<DurationText>, key: &str) -> Option<Duration> {
        let at = self.parse_duration(value, key)?;
        if let Some(run) = self.run {
            if at >= run {
                self.error(
                    value.span(),
                    key,
                    format!(
                        "{} is not before the end of the run (duration = {}); allowed: 0s up to, not including, duration",
                        format_duration(at),
                        format_duration(run)
                    ),
                );
                return None;
            }
        }
        Some(at)
    }

    /// A `[from, until)` window. `from` defaults to 0s and `until` to `duration`.
    fn window(
        &mut self,
        from: Option<&Spanned<DurationText>>,
        until: Option<&Spanned<DurationText>>,
        prefix: &str,
    ) -> Option<Window> {
        self.window_named(from, until, prefix, ["from", "until"])
    }

    /// A window whose two keys have other names, such as the workload's `start`/`stop`.
    fn window_named(
        &mut self,
        from: Option<&Spanned<DurationText>>,
        until: Option<&Spanned<DurationText>>,
        prefix: &str,
        [from_name, until_name]: [&str; 2],
    ) -> Option<Window> {
        let from_key = key(prefix, from_name);
        let until_key = key(prefix, until_name);
        // Check both ends before giving up, so each gets its own diagnostic.
        let start = match from {
            Some(v) => self.instant(v, &from_key),
            None => Some(Duration::ZERO),
        };
        let end = match until {
            Some(v) => self.window_end(v, &until_key),
            None => self.run,
        };
        let (start, end) = (start?, end?);
        if end <= start {
            // Point at the end when written, else at the start (the defaults 0s..duration
            // never clash, so one of them is written).
            let (span, k) = match (until, from) {
                (Some(v), _) => (v.span(), until_key),
                (None, Some(v)) => (v.span(), from_key),
                (None, None) => return None,
            };
            self.error(
                span,
                &k,
                format!(
                    "{until_name} ({}) must be later than {from_name} ({}); a window is [{from_name}, {until_name}), {from_name} inclusive and {until_name} exclusive",
                    format_duration(end),
                    format_duration(start)
                ),
            );
            return None;
        }
        Some(Window::new(start, end))
    }

    /// The exclusive end of a window: it may equal `duration` but not pass it.
    fn window_end(&mut self, value: &Spanned<DurationText>, key: &str) -> Option<Duration> {
        let end = self.parse_duration(value, key)?;
        if let Some(run) = self.run {
            if end > run {
                self.error(
                    value.span(),
                    key,
                    format!(
                        "{} is beyond the end of the run (duration = {}); allowed: at most duration",
                        format_duration(end),
                        format_duration(run)
                    ),
                );
                return None;
            }
        }
        Some(end)
    }

    /// Reports windows in one list that share an instant (their effect would be ambiguous).
    fn no_overlaps(&mut self, windows: &[(Window, Range<usize>)], list_key: &str) {
        for (j, (w, span)) in windows.iter().enumerate() {
            if let Some(i) = windows[..j].iter().position(|(v, _)| v.overlaps(w)) {
                self.error(
                    span.clone(),
                    &format!("{list_key}[{j}]"),
                    format!(
                        "window {w} overlaps {list_key}[{i}] {}; allowed: windows that do not overlap (until is exclusive, so one may start where another ends)",
                        windows[i].0
                    ),
                );
            }
        }
    }

    // ---- sections -------------------------------------------------------------------------

    fn scenario(&mut self, raw: RawScenario, path: &Path) -> Scenario {
        let name = match &raw.name {
            Some(name) if name.get_ref().trim().is_empty() => {
                self.error(
                    name.span(),
                    "name",
                    "must not be empty; leave it out to use the file name",
                );
                String::new()
            }
            Some(name) => name.get_ref().clone(),
            None => path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "scenario".to_owned()),
        };

        let version = match &raw.version {
            Some(v) if *v.get_ref() != 1 => {
                self.error(
                    v.span(),
                    "version",
                    format!(
                        "unsupported format version {}; allowed: 1 (or leave it out)",
                        v.get_ref()
                    ),
                );
                1
            }
            _ => 1,
        };

        self.run = self.run_duration(raw.duration.as_ref());
        let duration = self.run.unwrap_or(Duration::ZERO);
        let seeds = self.seeds(raw.seeds.as_ref());
        let scheduler = self.choice(
            raw.scheduler.as_ref(),
            "scheduler",
            "scheduler",
            SCHEDULERS,
            SchedulerKind::Random,
        );
        let timer_slop = self.duration_or(raw.timer_slop.as_ref(), "timer_slop", Duration::ZERO);
        // Timers follow the task scheduler unless told otherwise: FIFO runs stay fully FIFO.
        let default_order = match scheduler {
            SchedulerKind::Fifo => TimerOrder::Fifo,
            SchedulerKind::Random | SchedulerKind::Pct => TimerOrder::Random,
        };
        let timer_order = self.choice(
            raw.timer_order.as_ref(),
            "timer_order",
            "timer order",
            TIMER_ORDERS,
            default_order,
        );
        let limits = self.limits(raw.limits.as_ref());

        let discover = raw.discover.as_ref().map(|d| self.discover(d.get_ref()));
        let mut orchestrator = self.orchestrator(raw.orchestrator.as_ref(), raw.discover.is_some());
        if let Some(d) = &discover {
            orchestrator.host.clone_from(&d.host);
            orchestrator.mysql_port = d.mysql_port;
        }
        let tablets = self.tablets(&raw.tablets);
        let topo = self.topo(raw.topo.as_ref(), &tablets);
        let shard_conn = raw
            .shard_conn
            .as_ref()
            .map(|s| self.shard_conn(s.get_ref()));
        let workload = match (&raw.shard_conn, &raw.workload) {
            (Some(_), w) => Some(self.workload(w.as_ref().map(Spanned::get_ref))),
            (None, _) => None,
        };
        let maintenance = self.maintenance(&raw.maintenance);
        let expectations = self.expectations(&raw.expectations);
        let expect_panic = raw.expect_panic.as_ref().and_then(|p| self.expect_panic(p));

        let scenario = Scenario {
            source: path.to_owned(),
            name,
            description: raw.description.clone().unwrap_or_default(),
            version,
            duration,
            seeds,
            scheduler,
            timer_slop,
            timer_order,
            limits,
            discover,
            orchestrator,
            topo,
            shard_conn,
            tablets,
            workload,
            maintenance,
            fixes: self.fixes,
            expectations,
            expect_panic,
        };
        self.sections_fit_together(&raw, &scenario);
        scenario
    }

    fn run_duration(&mut self, value: Option<&Spanned<DurationText>>) -> Option<Duration> {
        let Some(value) = value else {
            self.out.push(
                0,
                Some("duration".to_owned()),
                "missing required key; add e.g. duration = \"10m\" (the virtual time to simulate, at most 1000d)".to_owned(),
            );
            return None;
        };
        let run = self.parse_duration(value, "duration")?;
        if run.is_zero() {
            self.error(
                value.span(),
                "duration",
                "must be greater than 0s; allowed: more than 0s, at most 1000d",
            );
            return None;
        }
        if run > MAX_RUN {
            self.error(
                value.span(),
                "duration",
                format!(
                    "{} is too long; allowed: more than 0s, at most 1000d",
                    format_duration(run)
                ),
            );
            return None;
        }
        Some(run)
    }

    fn seeds(&mut self, value: Option<&Spanned<RawSeeds>>) -> Seeds {
        let Some(value) = value else {
            return Seeds::Count(DEFAULT_SEEDS);
        };
        match value.get_ref() {
            RawSeeds::Count(n) if *n >= 1 => Seeds::Count(*n as u64),
            RawSeeds::Count(n) => {
                self.error(
                    value.span(),
                    "seeds",
                    format!("seeds = {n} runs no seed; allowed: a count of at least 1, or a non-empty list such as [1, 7, 0xdead]"),
                );
                Seeds::Count(DEFAULT_SEEDS)
            }
            RawSeeds::List(list) if list.is_empty() => {
                self.error(
                    value.span(),
                    "seeds",
                    "an empty list runs no seed; allowed: a non-empty list such as [1, 7, 0xdead], or a count",
                );
                Seeds::Count(DEFAULT_SEEDS)
            }
            RawSeeds::List(list) => {
                let mut seeds: Vec<u64> = Vec::with_capacity(list.len());
                for (i, seed) in list.iter().enumerate() {
                    let k = format!("seeds[{i}]");
                    let n = *seed.get_ref();
                    if n < 0 {
                        self.error(
                            seed.span(),
                            &k,
                            format!("seed {n} is negative; allowed: 0 to 0x7fffffffffffffff"),
                        );
                    } else if seeds.contains(&(n as u64)) {
                        self.error(
                            seed.span(),
                            &k,
                            format!("seed {n} is listed twice; allowed: each seed once"),
                        );
                    } else {
                        seeds.push(n as u64);
                    }
                }
                Seeds::List(seeds)
            }
        }
    }

    fn limits(&mut self, raw: Option<&RawLimits>) -> Limits {
        let mut limits = Limits {
            max_events: DEFAULT_MAX_EVENTS,
            max_wall: DEFAULT_MAX_WALL,
        };
        let Some(raw) = raw else { return limits };
        if let Some(v) = &raw.max_events {
            if let Some(n) = self.int_in(v, "limits.max_events", 1, i64::MAX, "") {
                limits.max_events = n as u64;
            }
        }
        limits.max_wall = self.positive_or(
            raw.max_wall.as_ref(),
            "limits.max_wall",
            DEFAULT_MAX_WALL,
            "it bounds the wall time of one seed",
        );
        limits
    }

    fn discover(&mut self, raw: &RawDiscover) -> DiscoverConfig {
        let interval = self.duration_or(raw.interval.as_ref(), "discover.interval", Duration::ZERO);
        if let Some(v) = &raw.interval {
            // DiscoverLoop runs NewRandTicker(i, i/4): i/4 == 0 means Int63n(0).
            if !interval.is_zero()
                && interval < Duration::from_nanos(4)
                && !self.fixes.ticker_zero_variance
            {
                self.error(
                    v.span(),
                    "discover.interval",
                    format!(
                        "interval {} gives the discover ticker a variance of interval/4 = 0, and {ZERO_VARIANCE_PANIC} (the tablet crashes at startup); raise it to at least 4ns, use \"0s\" to disable discovery, or set fixes.ticker_zero_variance = true",
                        format_duration(interval)
                    ),
                );
            }
        }
        let timeout = self.positive_or(
            raw.timeout.as_ref(),
            "discover.timeout",
            DEFAULT_DISCOVER_TIMEOUT,
            "orc_timeout 0 would mean no timeout at all, which the simulation does not model",
        );
        let mysql_port = self.mysql_port(raw.mysql_port.as_ref(), "discover.mysql_port");
        let host = self.word_or(raw.host.as_ref(), "discover.host", DEFAULT_DISCOVER_HOST);
        DiscoverConfig {
            interval,
            timeout,
            mysql_port,
            host,
        }
    }

    fn mysql_port(&mut self, value: Option<&Spanned<i64>>, key: &str) -> u16 {
        match value {
            Some(v) => self
                .int_in(v, key, 0, 65_535, " (0 means the port is unknown)")
                .map_or(DEFAULT_MYSQL_PORT, |n| n as u16),
            None => DEFAULT_MYSQL_PORT,
        }
    }

    fn orchestrator(
        &mut self,
        raw: Option<&Spanned<RawOrchestrator>>,
        has_discover: bool,
    ) -> OrchestratorConfig {
        let mut config = OrchestratorConfig {
            latency: DEFAULT_ORCHESTRATOR_LATENCY,
            outages: Vec::new(),
            host: DEFAULT_DISCOVER_HOST.to_owned(),
            mysql_port: DEFAULT_MYSQL_PORT,
        };
        let Some(raw) = raw.map(Spanned::get_ref) else {
            return config;
        };
        config.host = self.word_or(
            raw.host.as_ref(),
            "orchestrator.host",
            DEFAULT_DISCOVER_HOST,
        );
        config.mysql_port = self.mysql_port(raw.mysql_port.as_ref(), "orchestrator.mysql_port");
        if has_discover {
            // One tablet, one identity: [discover] already says it.
            for (name, span) in [
                ("host", raw.host.as_ref().map(Spanned::span)),
                ("mysql_port", raw.mysql_port.as_ref().map(Spanned::span)),
            ] {
                if let Some(span) = span {
                    self.error(
                        span,
                        &format!("orchestrator.{name}"),
                        format!("with [discover] the tablet's {name} is discover.{name}; allowed: set it there, or here only in a scenario without [discover]"),
                    );
                }
            }
        }
        config.latency = self.range_or(
            raw.latency.as_ref(),
            "orchestrator.latency",
            DEFAULT_ORCHESTRATOR_LATENCY,
        );
        let mut windows = Vec::new();
        for (i, outage) in raw.outage.iter().enumerate() {
            let prefix = format!("orchestrator.outage[{i}]");
            let o = outage.get_ref();
            let window = self.window(o.from.as_ref(), o.until.as_ref(), &prefix);
            let mode = match &o.mode {
                Some(_) => self.choice(
                    o.mode.as_ref(),
                    &key(&prefix, "mode"),
                    "mode",
                    ORCHESTRATOR_MODES,
                    OrchestratorOutageMode::Hang,
                ),
                None => {
                    self.missing(outage.span(), &prefix, "mode", &allowed(ORCHESTRATOR_MODES));
                    OrchestratorOutageMode::Hang
                }
            };
            if let Some(window) = window {
                windows.push((window, outage.span()));
                config.outages.push(OrchestratorOutage { window, mode });
            }
        }
        self.no_overlaps(&windows, "orchestrator.outage");
        config
    }

    fn missing(&mut self, table: Range<usize>, prefix: &str, name: &str, allowed: &str) {
        self.error(
            table,
            &key(prefix, name),
            format!("missing required key {name}; allowed: {allowed}"),
        );
    }

    fn tablets(&mut self, raw: &[Spanned<RawTablet>]) -> Vec<TabletConfig> {
        let mut tablets: Vec<TabletConfig> = Vec::with_capacity(raw.len());
        for (i, tablet) in raw.iter().enumerate() {
            let prefix = format!("tablet[{i}]");
            let t = tablet.get_ref();
            let uid = match &t.uid {
                Some(v) => {
                    let uid = self.int_in(v, &key(&prefix, "uid"), 0, u32::MAX as i64, "");
                    if let Some(uid) = uid {
                        if let Some(j) = tablets.iter().position(|t| t.uid == uid as u32) {
                            self.error(
                                v.span(),
                                &key(&prefix, "uid"),
                                format!("uid {uid} is already used by tablet[{j}]; allowed: a uid unique among the tablets"),
                            );
                        }
                    }
                    uid
                }
                None => {
                    self.missing(
                        tablet.span(),
                        &prefix,
                        "uid",
                        "an integer 0 to 4294967295, unique among the tablets",
                    );
                    None
                }
            };
            let uid = uid.map_or(0, |n| n as u32);
            let host = self.word_or(
                t.host.as_ref(),
                &key(&prefix, "host"),
                &format!("tablet-{uid}"),
            );
            let dial_latency = self.range_or(
                t.dial_latency.as_ref(),
                &key(&prefix, "dial_latency"),
                DEFAULT_DIAL_LATENCY,
            );
            let query_latency = self.range_or(
                t.query_latency.as_ref(),
                &key(&prefix, "query_latency"),
                DEFAULT_QUERY_LATENCY,
            );
            let send_latency = self.range_or(
                t.send_latency.as_ref(),
                &key(&prefix, "send_latency"),
                DurationRange::fixed(Duration::ZERO),
            );
            let mut outages = Vec::new();
            let mut windows = Vec::new();
            for (j, outage) in t.outage.iter().enumerate() {
                let prefix = format!("{prefix}.outage[{j}]");
                if let Some(o) = self.tablet_outage(outage, &prefix) {
                    windows.push((o.window, outage.span()));
                    outages.push(o);
                }
            }
            self.no_overlaps(&windows, &format!("{prefix}.outage"));
            tablets.push(TabletConfig {
                uid,
                host,
                dial_latency,
                query_latency,
                send_latency,
                outages,
            });
        }
        tablets
    }

    fn tablet_outage(
        &mut self,
        outage: &Spanned<RawTabletOutage>,
        prefix: &str,
    ) -> Option<TabletOutage> {
        let o = outage.get_ref();
        let window = self.window(o.from.as_ref(), o.until.as_ref(), prefix);
        let mode_key = key(prefix, "mode");
        let extra_key = key(prefix, "extra_latency");
        let name = match &o.mode {
            Some(_) => Some(self.choice(
                o.mode.as_ref(),
                &mode_key,
                "mode",
                TABLET_MODES,
                TabletModeName::Hang,
            )),
            None => {
                self.missing(outage.span(), prefix, "mode", &allowed(TABLET_MODES));
                None
            }
        };
        let mode = match (name?, &o.extra_latency) {
            (TabletModeName::Slow, Some(extra)) => TabletOutageMode::Slow {
                extra_latency: self.range_or(
                    Some(extra),
                    &extra_key,
                    DurationRange::fixed(Duration::ZERO),
                ),
            },
            (TabletModeName::Slow, None) => {
                let span = o.mode.as_ref().map_or(outage.span(), Spanned::span);
                self.error(
                    span,
                    &mode_key,
                    "mode = \"slow\" needs extra_latency, the delay added to each dial and query, e.g. extra_latency = \"2s\" or \"1s..3s\"",
                );
                return None;
            }
            (_, Some(extra)) => {
                self.error(
                    extra.span(),
                    &extra_key,
                    "extra_latency only applies to mode = \"slow\"; remove it or set mode = \"slow\"",
                );
                return None;
            }
            (TabletModeName::Refuse, None) => TabletOutageMode::Refuse,
            (TabletModeName::Hang, None) => TabletOutageMode::Hang,
            (TabletModeName::RetryError, None) => TabletOutageMode::RetryError,
            (TabletModeName::FatalError, None) => TabletOutageMode::FatalError,
            (TabletModeName::ServerError, None) => TabletOutageMode::ServerError,
        };
        Some(TabletOutage {
            window: window?,
            mode,
        })
    }

    fn topo(&mut self, raw: Option<&Spanned<RawTopo>>, tablets: &[TabletConfig]) -> TopoConfig {
        let mut config = TopoConfig {
            latency: DEFAULT_TOPO_LATENCY,
            errors: Vec::new(),
            changes: Vec::new(),
        };
        let Some(raw) = raw.map(Spanned::get_ref) else {
            return config;
        };
        config.latency = self.range_or(raw.latency.as_ref(), "topo.latency", DEFAULT_TOPO_LATENCY);
        let mut windows = Vec::new();
        for (i, error) in raw.error.iter().enumerate() {
            let e = error.get_ref();
            if let Some(w) = self.window(
                e.from.as_ref(),
                e.until.as_ref(),
                &format!("topo.error[{i}]"),
            ) {
                windows.push((w, error.span()));
                config.errors.push(w);
            }
        }
        self.no_overlaps(&windows, "topo.error");

        let mut previous: Option<Duration> = None;
        for (i, change) in raw.change.iter().enumerate() {
            let prefix = format!("topo.change[{i}]");
            let c = change.get_ref();
            let at = match &c.at {
                Some(at) => {
                    let value = self.instant(at, &key(&prefix, "at"));
                    if let (Some(value), Some(before)) = (value, previous) {
                        if value <= before {
                            self.error(
                                at.span(),
                                &key(&prefix, "at"),
                                format!(
                                    "{} is not after the previous change at {}; allowed: changes listed in strictly increasing time order",
                                    format_duration(value),
                                    format_duration(before)
                                ),
                            );
                        }
                    }
                    value
                }
                None => {
                    self.missing(
                        change.span(),
                        &prefix,
                        "at",
                        "a time before duration, such as \"30s\"",
                    );
                    None
                }
            };
            previous = at.or(previous);
            let endpoints = match &c.endpoints {
                Some(list) => self.endpoint_uids(list, &key(&prefix, "endpoints"), tablets),
                None => {
                    self.missing(
                        change.span(),
                        &prefix,
                        "endpoints",
                        "a list of tablet uids, such as [1, 2] (may be empty)",
                    );
                    Vec::new()
                }
            };
            if let Some(at) = at {
                config.changes.push(EndpointChange { at, endpoints });
            }
        }
        config
    }

    fn endpoint_uids(
        &mut self,
        list: &Spanned<Vec<Spanned<i64>>>,
        list_key: &str,
        tablets: &[TabletConfig],
    ) -> Vec<u32> {
        let mut uids: Vec<u32> = Vec::new();
        for (i, uid) in list.get_ref().iter().enumerate() {
            let k = format!("{list_key}[{i}]");
            let n = *uid.get_ref();
            let known = u32::try_from(n)
                .ok()
                .filter(|u| tablets.iter().any(|t| t.uid == *u));
            match known {
                None => {
                    let defined: Vec<String> = tablets.iter().map(|t| t.uid.to_string()).collect();
                    self.error(
                        uid.span(),
                        &k,
                        format!(
                            "no [[tablet]] has uid {n}; allowed: the uids of the tablets ({})",
                            if defined.is_empty() {
                                "none defined".to_owned()
                            } else {
                                defined.join(", ")
                            }
                        ),
                    );
                }
                Some(u) if uids.contains(&u) => {
                    self.error(
                        uid.span(),
                        &k,
                        format!("uid {u} is listed twice; allowed: each uid once"),
                    );
                }
                Some(u) => uids.push(u),
            }
        }
        uids
    }

    fn shard_conn(&mut self, raw: &RawShardConn) -> ShardConnConfig {
        let tablet_type = self.choice(
            raw.tablet_type.as_ref(),
            "shard_conn.tablet_type",
            "tablet type",
            TABLET_TYPES,
            TabletType::Replica,
        );
        let retry_count = match &raw.retry_count {
            Some(v) => self
                .int_in(
                    v,
                    "shard_conn.retry_count",
                    0,
                    u32::MAX as i64,
                    " (extra attempts after the first)",
                )
                .map_or(DEFAULT_RETRY_COUNT, |n| n as u32),
            None => DEFAULT_RETRY_COUNT,
        };
        let conn_life = self.duration_or(
            raw.conn_life.as_ref(),
            "shard_conn.conn_life",
            DEFAULT_CONN_LIFE,
        );
        if let (Some(v), false) = (&raw.conn_life, tablet_type == TabletType::Master) {
            // NewShardConn runs NewRandTicker(connLife, connLife/2) for non-master types.
            if conn_life.is_zero() {
                self.error(
                    v.span(),
                    "shard_conn.conn_life",
                    format!(
                        "conn_life 0s is the rotation period of a {} ShardConn and must be greater than 0 (faithfully, {ZERO_VARIANCE_PANIC}); allowed: more than 0s, e.g. \"1m\" (the default is 365d)",
                        tablet_type.as_str()
                    ),
                );
            } else if conn_life < Duration::from_nanos(2) && !self.fixes.ticker_zero_variance {
                self.error(
                    v.span(),
                    "shard_conn.conn_life",
                    format!(
                        "conn_life {} gives the rotation ticker a variance of conn_life/2 = 0, and {ZERO_VARIANCE_PANIC} (vtgate crashes creating the ShardConn); raise it to at least 2ns, or set fixes.ticker_zero_variance = true",
                        format_duration(conn_life)
                    ),
                );
            }
        }
        ShardConnConfig {
            keyspace: self.word_or(
                raw.keyspace.as_ref(),
                "shard_conn.keyspace",
                DEFAULT_KEYSPACE,
            ),
            shard: self.word_or(raw.shard.as_ref(), "shard_conn.shard", DEFAULT_SHARD),
            tablet_type,
            retry_delay: self.duration_or(
                raw.retry_delay.as_ref(),
                "shard_conn.retry_delay",
                DEFAULT_RETRY_DELAY,
            ),
            retry_count,
            conn_timeout_total: self.positive_or(
                raw.conn_timeout_total.as_ref(),
                "shard_conn.conn_timeout_total",
                DEFAULT_CONN_TIMEOUT_TOTAL,
                "it is the budget of one connect",
            ),
            conn_timeout_per_conn: self.positive_or(
                raw.conn_timeout_per_conn.as_ref(),
                "shard_conn.conn_timeout_per_conn",
                DEFAULT_CONN_TIMEOUT_PER_CONN,
                "it is the budget of one dial",
            ),
            conn_life,
            reset_down_conn_delay: self.duration_or(
                raw.reset_down_conn_delay.as_ref(),
                "shard_conn.reset_down_conn_delay",
                DEFAULT_RESET_DOWN_CONN_DELAY,
            ),
            close_at: self.close_at(raw.close_at.as_ref()),
        }
    }

    fn workload(&mut self, raw: Option<&RawWorkload>) -> Workload {
        let run = self.run.unwrap_or(Duration::ZERO);
        let mut workload = Workload {
            qps: DEFAULT_QPS,
            query_timeout: DEFAULT_QUERY_TIMEOUT,
            transaction_share: 0.0,
            stream_share: 0.0,
            stream_duration: DEFAULT_STREAM_DURATION,
            start: Duration::ZERO,
            stop: run,
            bursts: Vec::new(),
        };
        let Some(raw) = raw else { return workload };
        if let Some(v) = &raw.qps {
            let qps = *v.get_ref();
            if qps.is_finite() && qps >= 0.0 {
                workload.qps = qps;
            } else {
                self.error(
                    v.span(),
                    "workload.qps",
                    format!("{qps} is not a rate; allowed: a number >= 0 (queries per virtual second; 0 leaves only the bursts)"),
                );
            }
        }
        workload.query_timeout = self.positive_or(
            raw.query_timeout.as_ref(),
            "workload.query_timeout",
            DEFAULT_QUERY_TIMEOUT,
            "it is the caller's deadline",
        );
        workload.transaction_share =
            self.share_or(raw.transaction_share.as_ref(), "workload.transaction_share");
        workload.stream_share = self.share_or(raw.stream_share.as_ref(), "workload.stream_share");
        if workload.transaction_share + workload.stream_share > 1.0 {
            let span = raw
                .stream_share
                .as_ref()
                .or(raw.transaction_share.as_ref())
                .map_or(0..0, Spanned::span);
            self.error(
                span,
                "workload.stream_share",
                format!(
                    "transaction_share + stream_share = {} is above 1; allowed: shares that add up to at most 1.0",
                    workload.transaction_share + workload.stream_share
                ),
            );
        }
        workload.stream_duration = self.range_or(
            raw.stream_duration.as_ref(),
            "workload.stream_duration",
            DEFAULT_STREAM_DURATION,
        );
        if let Some(w) = self.window_named(
            raw.start.as_ref(),
            raw.stop.as_ref(),
            "workload",
            ["start", "stop"],
        ) {
            workload.start = w.from;
            workload.stop = w.until;
        }
        for (i, burst) in raw.burst.iter().enumerate() {
            let prefix = format!("workload.burst[{i}]");
            let b = burst.get_ref();
            let at = match &b.at {
                Some(at) => self.instant(at, &key(&prefix, "at")),
                None => {
                    self.missing(
                        burst.span(),
                        &prefix,
                        "at",
                        "a time before duration, such as \"0s\"",
                    );
                    None
                }
            };
            let count = match &b.count {
                Some(c) => self.int_in(
                    c,
                    &key(&prefix, "count"),
                    1,
                    MAX_BURST,
                    " simultaneous queries",
                ),
                None => {
                    self.missing(
                        burst.span(),
                        &prefix,
                        "count",
                        "the number of simultaneous queries, 1 to 1000000",
                    );
                    None
                }
            };
            if let (Some(at), Some(count)) = (at, count) {
                workload.bursts.push(Burst {
                    at,
                    count: count as u32,
                });
            }
        }
        workload.bursts.sort_by_key(|b| b.at);
        workload
    }

    fn maintenance(&mut self, raw: &[Spanned<RawMaintenance>]) -> Vec<Maintenance> {
        let mut episodes = Vec::new();
        for (i, episode) in raw.iter().enumerate() {
            let prefix = format!("maintenance[{i}]");
            let m = episode.get_ref();
            let begin = match &m.begin {
                Some(v) => self.instant(v, &key(&prefix, "begin")),
                None => {
                    self.missing(
                        episode.span(),
                        &prefix,
                        "begin",
                        "a time before duration, such as \"10s\"",
                    );
                    None
                }
            };
            let end = match &m.end {
                Some(v) => {
                    let end = self.instant(v, &key(&prefix, "end"));
                    if let (Some(b), Some(e)) = (begin, end) {
                        if e < b {
                            self.error(
                                v.span(),
                                &key(&prefix, "end"),
                                format!(
                                    "end ({}) is before begin ({}); allowed: end >= begin (equal makes StopSlave and StartSlave race)",
                                    format_duration(e),
                                    format_duration(b)
                                ),
                            );
                        }
                    }
                    end
                }
                None => None,
            };
            let reason = self.word_or(
                m.reason.as_ref(),
                &key(&prefix, "reason"),
                DEFAULT_MAINTENANCE_REASON,
            );
            if let Some(begin) = begin {
                episodes.push(Maintenance { begin, end, reason });
            }
        }
        episodes
    }

    fn expectations(&mut self, raw: &[Spanned<RawExpect>]) -> Vec<Expectation> {
        let mut expectations = Vec::new();
        for (i, expect) in raw.iter().enumerate() {
            let prefix = format!("expect[{i}]");
            if let Some(e) = self.expectation(expect, &prefix) {
                expectations.push(e);
            }
        }
        expectations
    }

    fn expectation(&mut self, expect: &Spanned<RawExpect>, prefix: &str) -> Option<Expectation> {
        let e = expect.get_ref();
        let event = match &e.event {
            Some(v) => {
                let kind = event_kind(v.get_ref());
                if kind.is_none() {
                    self.error(
                        v.span(),
                        &key(prefix, "event"),
                        format!(
                            "unknown event \"{}\"{}; allowed: {}",
                            v.get_ref(),
                            did_you_mean(v.get_ref(), EVENT_KINDS.iter().copied()),
                            EVENT_KINDS.join(", ")
                        ),
                    );
                }
                kind
            }
            None => {
                self.missing(expect.span(), prefix, "event", &EVENT_KINDS.join(", "));
                None
            }
        };

        let non_negative = |check: &mut Self, v: &Option<Spanned<i64>>, name: &str| {
            v.as_ref()
                .and_then(|v| check.int_in(v, &key(prefix, name), 0, i64::MAX, " events"))
                .map(|n| n as u64)
        };
        let count = non_negative(self, &e.count, "count");
        let min = non_negative(self, &e.min, "min");
        let max = non_negative(self, &e.max, "max");
        let bound = match (&e.count, &e.min, &e.max) {
            (Some(_), Some(extra), _) | (Some(_), None, Some(extra)) => {
                let name = if e.min.is_some() { "min" } else { "max" };
                self.error(
                    extra.span(),
                    &key(prefix, name),
                    "count cannot be combined with min or max; allowed: count = N alone (exact), or min and/or max (inclusive)",
                );
                None
            }
            (Some(_), None, None) => count.map(CountBound::Exactly),
            (None, Some(min_v), Some(_)) => {
                match (min, max) {
                    (Some(lo), Some(hi)) if lo > hi => {
                        self.error(
                        min_v.span(),
                        &key(prefix, "min"),
                        format!("min = {lo} is above max = {hi}; allowed: min <= max (both inclusive)"),
                    );
                        None
                    }
                    (Some(lo), Some(hi)) => Some(CountBound::Between(lo, hi)),
                    _ => None,
                }
            }
            (None, Some(_), None) => min.map(CountBound::AtLeast),
            (None, None, Some(_)) => max.map(CountBound::AtMost),
            (None, None, None) => {
                self.error(
                    expect.span(),
                    prefix,
                    "says nothing about how many events; add count = N (exact), or min = / max = (inclusive)",
                );
                None
            }
        };

        let window = self.window(e.from.as_ref(), e.until.as_ref(), prefix);
        let filters = self.filters(e.filters.as_ref(), prefix, event);
        let (line, _) = crate::error::line_column(self.out_text(), expect.span().start);
        Some(Expectation {
            event: event?,
            count: bound?,
            window: window?,
            filters,
            line,
        })
    }

    fn expect_panic(&mut self, raw: &Spanned<RawExpectPanic>) -> Option<ExpectPanic> {
        let (line, _) = crate::error::line_column(self.out_text(), raw.span().start);
        match &raw.get_ref().message {
            Some(m) if m.get_ref().trim().is_empty() => {
                self.error(
                    m.span(),
                    "expect_panic.message",
                    "must not be empty (it would match any panic); allowed: a part of the expected panic message, such as \"RandTicker.Stop called twice\"",
                );
                None
            }
            Some(m) => Some(ExpectPanic {
                message: m.get_ref().clone(),
                line,
            }),
            None => {
                self.missing(
                    raw.span(),
                    "expect_panic",
                    "message",
                    "a part of the expected panic message, such as \"RandTicker.Stop called twice\"",
                );
                None
            }
        }
    }

    fn close_at(&mut self, raw: Option<&Spanned<Vec<Spanned<DurationText>>>>) -> Vec<Duration> {
        let mut times: Vec<Duration> = Vec::new();
        for (i, value) in raw.map(Spanned::get_ref).into_iter().flatten().enumerate() {
            let k = format!("shard_conn.close_at[{i}]");
            let Some(at) = self.instant(value, &k) else {
                continue;
            };
            if let Some(&previous) = times.last() {
                if at < previous {
                    self.error(
                        value.span(),
                        &k,
                        format!(
                            "{} is before the close before it ({}); allowed: times in order (equal times close twice at one instant)",
                            format_duration(at),
                            format_duration(previous)
                        ),
                    );
                    continue;
                }
            }
            times.push(at);
        }
        times
    }

    fn out_text(&self) -> &'t str {
        self.out.text()
    }

    fn filters(
        &mut self,
        raw: Option<&std::collections::BTreeMap<String, Spanned<toml::Value>>>,
        prefix: &str,
        event: Option<&'static str>,
    ) -> Vec<FieldFilter> {
        let mut filters = Vec::new();
        for (field, value) in raw.into_iter().flatten() {
            let k = format!("{prefix}.where.{field}");
            if field == "kind" {
                self.error(
                    value.span(),
                    &k,
                    "the kind is the expectation's event; allowed: other trace fields, such as uid",
                );
                continue;
            }
            // A field the event never carries would silently match nothing.
            if let Some(fields) = event.and_then(fields_of) {
                if !fields.contains(&field.as_str()) {
                    let kind = event.unwrap_or_default();
                    let allowed = if fields.is_empty() {
                        format!("none, {kind} events carry no fields; remove the where")
                    } else {
                        fields.join(", ")
                    };
                    self.error(
                        value.span(),
                        &k,
                        format!(
                            "{kind} events have no field \"{field}\", so this would match nothing; allowed: {allowed}"
                        ),
                    );
                    continue;
                }
            }
            let value = match value.get_ref() {
                toml::Value::Integer(n) => FieldValue::Int(*n),
                toml::Value::Boolean(b) => FieldValue::Bool(*b),
                toml::Value::String(s) => FieldValue::Str(s.clone()),
                other => {
                    self.error(
                        value.span(),
                        &k,
                        format!("this {} cannot match a trace field; allowed: an integer, a boolean or a string", other.type_str()),
                    );
                    continue;
                }
            };
            filters.push(FieldFilter {
                field: field.clone(),
                value,
            });
        }
        filters
    }

    /// Sections that only make sense together, and expectations on components that never run.
    fn sections_fit_together(&mut self, raw: &RawScenario, scenario: &Scenario) {
        let has_shard_conn = raw.shard_conn.is_some();
        if let Some(shard_conn) = &raw.shard_conn {
            if raw.tablets.is_empty() {
                self.error(
                    shard_conn.span(),
                    "shard_conn",
                    "[shard_conn] has no tablet to connect to; add at least one [[tablet]] with a uid",
                );
            }
        } else {
            if let Some(first) = raw.tablets.first() {
                self.error(first.span(), "tablet[0]", "[[tablet]] needs a [shard_conn] section to serve; add [shard_conn] or remove the tablets");
            }
            if let Some(workload) = &raw.workload {
                self.error(workload.span(), "workload", "[workload] sends queries through a ShardConn; add a [shard_conn] section (with tablets) or remove [workload]");
            }
            if let Some(topo) = &raw.topo {
                self.error(topo.span(), "topo", "[topo] feeds the ShardConn's balancer; add a [shard_conn] section (with tablets) or remove [topo]");
            }
        }
        if let Some(orchestrator) = &raw.orchestrator {
            if raw.discover.is_none() && raw.maintenance.is_empty() {
                self.error(orchestrator.span(), "orchestrator", "[orchestrator] has no client; add a [discover] section or a [[maintenance]] episode, or remove [orchestrator]");
            }
        }

        for (i, expect) in raw.expectations.iter().enumerate() {
            let Some(event) = &expect.get_ref().event else {
                continue;
            };
            let kind = event.get_ref();
            if event_kind(kind).is_none() {
                continue;
            }
            let needs = match family(kind) {
                "discover" if scenario.discover.is_none() => Some("a [discover] section"),
                "ticker" if scenario.discover.is_none() && !has_shard_conn => {
                    Some("a [discover] or [shard_conn] section (the components that own tickers)")
                }
                "shardconn" | "query" | "topo" if !has_shard_conn => {
                    Some("a [shard_conn] section")
                }
                "maintenance" if raw.maintenance.is_empty() => Some("a [[maintenance]] episode"),
                "orchestrator" if scenario.discover.is_none() && raw.maintenance.is_empty() => {
                    Some("a [discover] section or a [[maintenance]] episode (the Orchestrator's clients)")
                }
                _ => None,
            };
            if let Some(needs) = needs {
                self.error(
                    event.span(),
                    &format!("expect[{i}].event"),
                    format!("no component in this scenario emits \"{kind}\"; it needs {needs}"),
                );
            }
        }
    }
}
