//! The `vtsim` binary; everything lives in the `vtsim_cli` library.

fn main() -> std::process::ExitCode {
    vtsim_cli::main_with(std::env::args_os())
}
