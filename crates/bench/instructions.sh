#!/usr/bin/env bash
# Instructions per ticker-storm tick, counted by callgrind: the same figure on a busy machine as
# on an idle one, unlike wall time. Two spans are counted and subtracted, which cancels the set-up.
#
#   bash crates/bench/instructions.sh [vtsim|tokio-paused|bare] [TASKS]
#
# Needs valgrind.
set -euo pipefail
engine=${1:-vtsim}
tasks=${2:-1000}
cd "$(dirname "$0")/../.."
command -v valgrind >/dev/null || { echo "instructions.sh: valgrind is not installed" >&2; exit 2; }
cargo build --release -q -p vtsim-bench
count() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/vtsim-bench \
        ticker-storm --engine "$engine" --tasks "$tasks" --virtual-secs "$1" 2>&1 |
        awk '/ticks=/ { for (i = 1; i <= NF; i++) if ($i ~ /^ticks=/) { sub("ticks=", "", $i); t = $i } }
             /I *refs:/ { gsub(",", "", $NF); r = $NF }
             END { print t, r }'
}
short=$(( tasks >= 100000 ? 4 : tasks >= 1000 ? 200 : 20000 ))
read -r t1 r1 < <(count "$short")
read -r t2 r2 < <(count $(( 2 * short )))
echo "engine=$engine tasks=$tasks instructions_per_tick=$(( (r2 - r1) / (t2 - t1) ))"
