//! The entry point: parse the command line, run the subcommand, map the outcome to an exit code.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::commands;
use crate::severity::Severity;

/// Runs `vtsim` with `args` (the program name first) and gives its exit code.
///
/// Usage errors exit 2, like every other kind of bad input; `--help` and `--version` exit 0.
pub fn main_with<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() {
                Severity::BadInput.into()
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let severity = match cli.command {
        Command::Run(args) => commands::run::run(args),
        Command::Replay(args) => commands::replay::replay(args),
        Command::Explore(args) => commands::explore::explore(args),
        Command::CheckDeterminism(args) => commands::check::check(args),
        Command::Trace(args) => commands::check::child(args),
    };
    severity.into()
}
