//! What `#[vtsim::test]` expands to.

use std::future::Future;
use std::io::Write as _;
use std::pin::Pin;

use crate::config::Config;
use crate::sim::Sim;

/// Where a test lives, for the replay line.
#[derive(Debug, Clone, Copy)]
pub struct TestInfo {
    /// `module_path!()` of the test.
    pub module_path: &'static str,
    /// The test function's name.
    pub name: &'static str,
    /// `CARGO_PKG_NAME` of the crate under test.
    pub package: &'static str,
    /// `CARGO_CRATE_NAME`: the integration test binary's name, when `integration` is true.
    pub crate_name: &'static str,
    /// True for an integration test (`tests/`), false for a unit test.
    pub integration: bool,
    /// Seeds to run when `VTSIM_SEEDS` is not set.
    pub default_seeds: u64,
}

impl TestInfo {
    fn test_path(&self) -> String {
        match self.module_path.split_once("::") {
            Some((_, rest)) => format!("{rest}::{}", self.name),
            None => self.name.to_owned(),
        }
    }

    fn replay(&self, seed: u64) -> String {
        let target = if self.integration {
            format!("--test {}", self.crate_name)
        } else {
            "--lib".to_owned()
        };
        format!(
            "VTSIM_SEED={seed} cargo test -p {} {target} -- {} --exact",
            self.package,
            self.test_path()
        )
    }
}

/// What a `#[vtsim::test]` body may return.
pub trait TestOutput {
    /// `Err` fails the seed.
    fn into_result(self) -> Result<(), String>;
}

impl TestOutput for () {
    fn into_result(self) -> Result<(), String> {
        Ok(())
    }
}

impl<E: std::fmt::Debug> TestOutput for Result<(), E> {
    fn into_result(self) -> Result<(), String> {
        self.map_err(|e| format!("{e:?}"))
    }
}

/// Parses a seed in decimal or `0x` hex.
pub(crate) fn parse_seed(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// One seed's run of a test body.
pub type TestBody = Pin<Box<dyn Future<Output = Result<(), String>>>>;

/// Runs a test body under each seed; panics with the seed and a replay command on failure.
pub fn run_test(info: TestInfo, body: fn() -> TestBody) {
    let config = Config::from_env().unwrap_or_else(|e| panic!("vtsim: {e}"));
    let seeds: Vec<u64> = match std::env::var("VTSIM_SEED") {
        Ok(s) => vec![parse_seed(&s)
            .unwrap_or_else(|| panic!("vtsim: VTSIM_SEED={s:?} is not a decimal or 0x hex seed"))],
        Err(_) => {
            let n = match std::env::var("VTSIM_SEEDS") {
                Ok(s) => s
                    .trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("vtsim: VTSIM_SEEDS={s:?} is not a count")),
                Err(_) => info.default_seeds,
            };
            (0..n).collect()
        }
    };
    // Straight to stderr, past the test harness's capture: a test that is killed prints nothing else.
    let _ = writeln!(
        std::io::stderr(),
        "vtsim: {} seeds {}",
        info.test_path(),
        match seeds.as_slice() {
            [one] => one.to_string(),
            many => format!("0..{}", many.len()),
        }
    );
    for seed in seeds {
        let mut sim = Sim::with_config(seed, config.clone());
        let outcome = match sim.block_on(body()) {
            Ok(Ok(())) => continue,
            Ok(Err(e)) => e,
            Err(e) => e.to_string(),
        };
        let tail = sim.trace().tail(30);
        panic!(
            "vtsim: {} failed with seed {seed}: {outcome}\n--- last trace events ---\n{tail}--- reproduce ---\n{}\n",
            info.test_path(),
            info.replay(seed),
        );
    }
}
