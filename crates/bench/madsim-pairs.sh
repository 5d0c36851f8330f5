#!/usr/bin/env bash
# vtsim against madsim on the 1,000-task ticker-storm, in alternating pairs: each pair runs the two
# back to back, so its ratio sees the machine at one speed. Prints every run, then the median and
# range of the pairs' ratios and the best against the best.
#
#   bash crates/bench/madsim-pairs.sh [PAIRS]    (default 10)
#
# madsim builds with RUSTFLAGS="--cfg madsim", in its own target directory so that the workspace's
# build is left alone.
set -euo pipefail
pairs=${1:-10}
if ! [[ $pairs =~ ^[0-9]+$ ]] || ((pairs < 1 || pairs > 1000)); then
    echo "madsim-pairs.sh: PAIRS must be a whole number from 1 to 1000, not '$pairs'" >&2
    exit 2
fi
cd "$(dirname "$0")/../.."
tasks=1000 secs=3600 period=1000
cargo build --release -q -p vtsim-bench
RUSTFLAGS="--cfg madsim" CARGO_TARGET_DIR=target/madsim \
    cargo build --release -q --manifest-path crates/bench/madsim/Cargo.toml
madsim=target/madsim/release/vtsim-bench-madsim
vtsim=(target/release/vtsim-bench ticker-storm --engine vtsim --tasks $tasks --virtual-secs $secs --period-ms $period)
field() { # the value of `name=` in a result line
    tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p"
}
ratios=() best_m='' best_v=''
for ((i = 0; i < pairs; i++)); do
    m=$("$madsim" $tasks $secs $period)
    v=$("${vtsim[@]}")
    echo "pair=$i $m"
    echo "pair=$i $v"
    if [[ $(field ticks "$m") != $(field ticks "$v") ]]; then
        echo "madsim-pairs.sh: madsim and vtsim counted different ticks: the engines ran different storms" >&2
        exit 1
    fi
    mw=$(field wall_ms "$m") vw=$(field wall_ms "$v")
    ratios+=("$(awk -v m="$mw" -v v="$vw" 'BEGIN { printf "%.4f", m / v }')")
    best_m=$(awk -v a="$mw" -v b="${best_m:-$mw}" 'BEGIN { print (a < b ? a : b) }')
    best_v=$(awk -v a="$vw" -v b="${best_v:-$vw}" 'BEGIN { print (a < b ? a : b) }')
done
printf '%s\n' "${ratios[@]}" | sort -g | awk -v pairs="$pairs" -v bm="$best_m" -v bv="$best_v" '
    { r[NR] = $1 }
    END {
        med = (NR % 2) ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2
        printf "speedup vtsim/madsim: pair by pair %.2fx median, %.2f-%.2fx over %d pairs; best against best %.2fx (madsim %.1f ms, vtsim %.1f ms)\n", med, r[1], r[NR], pairs, bm / bv, bm, bv
    }'
