//! The `vtsim` binary; everything lives in the `vtsim_cli` library.

// mimalloc keeps freed memory for the next seed, where glibc hands a seed's trace (tens of MB)
// back to the kernel and faults it in again: a quarter of the wall time of a replica-hour seed.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    vtsim_cli::main_with(std::env::args_os())
}
