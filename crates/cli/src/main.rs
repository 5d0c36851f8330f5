//! The `vtsim` binary. Its subcommands arrive with vtsim-world's scenario runner; until then it
//! only reports its version.

fn main() {
    println!("vtsim {}", vtsim_cli::LONG_VERSION);
}
