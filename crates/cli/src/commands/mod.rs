//! The subcommands, and the output helpers they share.

pub(crate) mod check;
pub(crate) mod explore;
pub(crate) mod replay;
pub(crate) mod run;

use std::io::{self, Write};
use std::path::Path;

use vtsim_scenario::Scenario;

use crate::provenance::{replay_command, version_line};
use crate::severity::Severity;

/// Writes one line to stdout, at once (FAIL lines must show while a long run goes on). A closed
/// pipe (`vtsim explore ... | head`) ends the process with 141, as a death by SIGPIPE would.
pub(crate) fn emit(line: &str) {
    let mut out = io::stdout().lock();
    if let Err(err) = writeln!(out, "{line}").and_then(|()| out.flush()) {
        if err.kind() == io::ErrorKind::BrokenPipe {
            std::process::exit(141);
        }
        eprintln!("vtsim: cannot write to stdout: {err}");
        std::process::exit(i32::from(Severity::Failed.code()));
    }
}

/// A line for the person at the terminal, on stderr (never part of the machine output).
pub(crate) fn note(line: &str) {
    let _ = writeln!(io::stderr().lock(), "{line}");
}

/// Loads and validates a scenario; on failure prints every problem (each naming file, line,
/// column and key) and gives the bad-input severity.
pub(crate) fn load(path: &Path) -> Result<Scenario, Severity> {
    Scenario::load(path).map_err(|err| {
        note(&err.to_string());
        Severity::BadInput
    })
}

/// `vtsim replay <file> --seed <n>  # vtsim 0.1.0 (commit abc1234)`: how to see a failure
/// again, and on which code it replays exactly; pastes into a shell as it is.
pub(crate) fn replay_hint(path: &Path, seed: u64) -> String {
    format!("{}  # {}", replay_command(path, seed), version_line())
}
