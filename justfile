# vtsim recipes. Each is plain commands (cargo, or a script in the tree), so the README works without `just`.

# Run every scenario over its seeds (the main job).
run *paths="sim-scenarios":
    cargo run --release -p vtsim-cli -- run {{paths}}

# The test suite, as CI runs it.
test:
    cargo test

# Format check and clippy with the determinism rules of clippy.toml.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets --no-deps -- -D warnings

# Everything CI does.
ci:
    bash .ci/run

# Print one seed's trace.
replay file seed *flags="":
    cargo run --release -p vtsim-cli -- replay {{file}} --seed {{seed}} {{flags}}

# Search seeds for failures.
explore file seeds="1000" *flags="":
    cargo run --release -p vtsim-cli -- explore {{file}} --seeds {{seeds}} {{flags}}

# Run a seed twice in two processes and compare traces.
check-determinism file seed:
    cargo run --release -p vtsim-cli -- check-determinism {{file}} --seed {{seed}}

# Open a seed's trace in Perfetto (writes trace.json).
chrome file seed:
    cargo run --release -p vtsim-cli -- replay {{file}} --seed {{seed}} --format chrome -o trace.json

# Speed, measured side by side in one run.
bench:
    cargo run --release -p vtsim-bench -- compare --tasks 1000 --virtual-secs 3600 --period-ms 1000 --rounds 10
    cargo run --release -p vtsim-bench -- compare --tasks 100000 --virtual-secs 60 --period-ms 1000 --rounds 3
    cargo run --release -p vtsim-bench -- compare --tasks 10 --virtual-secs 360000 --period-ms 1000 --rounds 10
    cargo run --release -p vtsim-bench -- memory --tasks 100000
    cargo bench -p vtsim-bench

# vtsim against madsim at 1,000 tasks, madsim just before vtsim in each round (madsim builds in
# target/madsim).
bench-madsim rounds="10":
    bash crates/bench/compare-madsim.sh {{rounds}}

# Instructions per tick under callgrind: the same count on a busy machine as on an idle one.
bench-instructions engine="vtsim" tasks="1000":
    bash crates/bench/instructions.sh {{engine}} {{tasks}}
