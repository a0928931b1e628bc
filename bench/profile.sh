#!/usr/bin/env bash
# Profiles ours (bench-ours) in one case against the ceiling broker (bench/README.md, Profiling):
#   - instructions per message with callgrind (two runs of different lengths, subtracted, so
#     start-up and warm-up cancel out), with and without each BENCH_OURS_OPTIONS variant given;
#   - a flame graph of where the CPU time goes (perf, software cpu-clock event; inferno draws it).
# Writes bench/results/profile-<mode>.svg and prints a summary table. Needs valgrind, perf and
# `cargo install inferno` (installed into .cache/bench/tools when missing).
#
#   bench/profile.sh [MODE] [VARIANT...]     e.g. bench/profile.sh async serialize_type=rocketmq
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${BENCH_CACHE:-$REPO/.cache/bench}
TARGET=${BENCH_TARGET_DIR:-$CACHE/target}/release
OUT=$REPO/bench/results
MODE=${1:-async}
shift || true
VARIANTS=("" "$@")
BODY=$CACHE/bodies/body-1024.bin
TOOLS=$CACHE/tools
WORK=$CACHE/profile
mkdir -p "$WORK" "$OUT"

[ -f "$BODY" ] || python3 -c "import sys; sys.path.insert(0, '$REPO/bench'); import bench; bench.body_file(1024)"

"$TARGET/ceiling-broker" --port 0 >"$WORK/ceiling.out" &
CEILING=$!
trap 'kill $CEILING 2>/dev/null' EXIT
for _ in $(seq 50); do grep -q NAMESRV_ADDR "$WORK/ceiling.out" && break; sleep 0.1; done
ADDR=$(cut -d= -f2 "$WORK/ceiling.out")

client() {
    "$@" --namesrv "$ADDR" --topic BenchTopic --mode "$MODE" --in-flight 1024 --warmup 100 \
        --body-file "$BODY"
}

instructions() {
    valgrind --tool=callgrind --callgrind-out-file="$2" "$TARGET/bench-ours" --namesrv "$ADDR" \
        --topic BenchTopic --mode "$MODE" --in-flight 1024 --warmup 100 --body-file "$BODY" \
        --count "$1" 2>&1 >/dev/null | sed -n 's/.*Collected : //p'
}

echo "| options | instructions per message ($MODE, ceiling broker) |"
echo "|---|---|"
for variant in "${VARIANTS[@]}"; do
    export BENCH_OURS_OPTIONS=$variant
    tag=${variant:-default}
    short=$(instructions 2000 "$WORK/callgrind.$MODE.$tag.2000")
    long=$(instructions 10000 "$WORK/callgrind.$MODE.$tag.10000")
    echo "| ${variant:-(defaults)} | $(((long - short) / 8000)) |"
done
unset BENCH_OURS_OPTIONS

if ! [ -x "$TOOLS/bin/inferno-flamegraph" ]; then
    cargo install inferno --locked --root "$TOOLS" >/dev/null 2>&1
fi
perf record -q -e cpu-clock -F 2000 -g --call-graph dwarf,16384 -o "$WORK/perf.data" -- \
    "$TARGET/bench-ours" --namesrv "$ADDR" --topic BenchTopic --mode "$MODE" --in-flight 1024 \
    --warmup 100 --body-file "$BODY" --count 50000 >/dev/null 2>&1
perf script -i "$WORK/perf.data" 2>/dev/null | "$TOOLS/bin/inferno-collapse-perf" >"$WORK/perf.folded"
"$TOOLS/bin/inferno-flamegraph" --minwidth 0.2 --title "ours (bench-ours), $MODE, 1 KiB, ceiling broker" \
    <"$WORK/perf.folded" >"$OUT/profile-$MODE.svg"
echo "flame graph: bench/results/profile-$MODE.svg; callgrind files: $WORK"
