#!/usr/bin/env bash
# Re-verify 10,000 domains (many names on three Postfix listeners) against the loopback test
# bed and report wall time, peak RSS and peak open file descriptors (sockets) of danemine.
# Needs root and the packages of .ci/packages. Not a test: run it by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-10000}
dir=${1:-/tmp/danemine-vbench}
mkdir -p "$dir"
cargo build --release --quiet
BENCH_NAMES=$N bash tests/testbed/up.sh "$dir/bed" >/dev/null
trap 'bash tests/testbed/down.sh "$dir/bed"' EXIT
seq 1 "$N" | sed 's/^/d/; s/$/.bench.test/' > "$dir/domains.txt"
/usr/bin/time -f '%e %M' -o "$dir/time.out" target/release/danemine reverify --format json \
  --resolver 127.0.60.1:5301 --port 2525 --timeout 5 --concurrency "${CONCURRENCY:-256}" \
  --candidates "$dir/domains.txt" > "$dir/out.json" &
pid=$!
peak=0
while kill -0 $pid 2>/dev/null; do
  n=$(ls /proc/$pid/fd 2>/dev/null | wc -l)
  [ "$n" -gt "$peak" ] && peak=$n
  sleep 0.05
done
wait $pid || true
read -r wall rss < "$dir/time.out"
ok=$(python3 -c 'import json,sys,collections; print(dict(collections.Counter(r["verdict"] for r in json.load(open(sys.argv[1])))))' "$dir/out.json")
echo "re-verified $N domains in ${wall} s: verdicts $ok; peak RSS $((rss / 1024)) MB; peak open fds $peak"
