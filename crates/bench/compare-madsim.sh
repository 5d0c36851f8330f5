#!/usr/bin/env bash
# vtsim against madsim (and tokio-paused, and the bare loop) on the 1,000-task ticker-storm:
# builds the madsim comparison crate and hands it to `vtsim-bench compare --madsim`, which runs
# madsim just before vtsim in every round and prints the rounds' median ratio.
#
#   bash crates/bench/compare-madsim.sh [ROUNDS]    (default 10)
#
# madsim builds with RUSTFLAGS="--cfg madsim", in its own target directory so that the workspace's
# build is left alone.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUSTFLAGS="--cfg madsim" CARGO_TARGET_DIR=target/madsim \
    cargo build --release -q --manifest-path crates/bench/madsim/Cargo.toml
cargo run --release -q -p vtsim-bench -- compare --tasks 1000 --virtual-secs 3600 --period-ms 1000 \
    --rounds "${1:-10}" --madsim target/madsim/release/vtsim-bench-madsim
