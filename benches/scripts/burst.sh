#!/usr/bin/env bash
# The burst figure: `plexus serve` with `notifier-jsonl` (release builds),
# fed by `plexus emit -n N --batch 256` at full speed. Prints the time from
# the first publish to the last delivery, and the time the same N events take
# at the plugin's steady rate (measured over a 5x longer run).
#
#   cargo build --release -p plexus-engine --bin plexus -p plexus-examples --bin notifier-jsonl
#   benches/scripts/burst.sh [N]
set -euo pipefail
cd "$(dirname "$0")/../.."
N="${1:-60000}"
BIN=target/release
for bin in plexus notifier-jsonl; do
    [ -x "$BIN/$bin" ] || { echo "burst.sh: $BIN/$bin is missing: build it first (see the top of this script)" >&2; exit 1; }
done
work=$(mktemp -d)
trap 'kill "${daemon:-}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

run() { # $1: events; prints seconds from the first publish to the last delivery
    local events=$1 out="$work/out-$1.jsonl"
    rm -rf "$work/data" "$out"
    cat > "$work/plexus.json" <<JSON
{"engine": {"data_dir": "$work/data", "ingest_unix": "$work/plexus.sock", "retry_interval": 30},
 "plugins": [{"type": "notifier", "cmd": "$PWD/$BIN/notifier-jsonl", "args": ["--out", "$out"],
   "auto_mtls": true, "notifier_options": {"fs_events": ["upload"], "retry_max_time": 60}}]}
JSON
    "$BIN/plexus" --log warn serve --config "$work/plexus.json" &
    daemon=$!
    while [ ! -S "$work/plexus.sock" ]; do sleep 0.05; done
    local start end
    start=$(date +%s.%N)
    "$BIN/plexus" emit -n "$events" --batch 256 --quiet --socket "$work/plexus.sock" >/dev/null
    while [ "$( (wc -l < "$out") 2>/dev/null || echo 0)" -lt "$events" ]; do sleep 0.01; done
    end=$(date +%s.%N)
    kill -TERM "$daemon"; wait "$daemon" || true
    echo "$end - $start" | bc -l
}

burst=$(run "$N")
long=$(run $((N * 5)))
steady=$(echo "$long / 5" | bc -l)
printf 'burst of %d events: %.2f s from the first publish to the last delivery\n' "$N" "$burst"
printf 'the same %d events at the steady rate (from a %d-event run): %.2f s (%.0f events/s)\n' \
    "$N" $((N * 5)) "$steady" "$(echo "$N / $steady" | bc -l)"
printf 'ratio burst/steady: %.2f\n' "$(echo "$burst / $steady" | bc -l)"
