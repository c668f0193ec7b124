#!/usr/bin/env bash
# `danemine domains` on each generated format (Postfix with RFC 3339 and BSD stamps, and behind
# a docker compose container column; Exim; the gateway), 300 MB each over 20,000 domains, against `wc -l` on the same warm file: median of 5
# alternating rounds, wall times in ms. The page cache is left as it is (see bench-scan.sh and
# scripts/floor's cache-state for its layout). Not a test: run it by hand.
#   scripts/bench-formats.sh [SCRATCH_DIR]      (default /tmp/danemine-bench; needs ~1.3 GB free)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-/tmp/danemine-bench}
mkdir -p "$dir"
command -v /usr/bin/time >/dev/null || { echo "needs GNU time: apt-get install time" >&2; exit 2; }
cargo build --release --quiet
bin=target/release/danemine
rounds=5
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for format in postfix postfix-bsd postfix-container exim gateway; do
  f="$dir/format-$format-300M.log"
  if [ "$format" = postfix-container ]; then
    # the Postfix log as docker compose shows it: a container column before each line
    [ -s "$f" ] || sed 's/^/mailu-smtp  | /' "$dir/format-postfix-300M.log" > "$f"
  fi
  [ -s "$f" ] || "$bin" generate --format "$format" --seed 42 --domains 20000 --size 300M \
    --processes 200 --out "$f"
  cat "$f" > /dev/null
  d=(); u=(); w=()
  for r in $(seq $rounds); do
    # wall time in milliseconds (GNU time's %e has 10 ms steps, too coarse for `wc -l`)
    t0=$(date +%s%N)
    /usr/bin/time -f '%U' -o "$dir/time.out" "$bin" domains --format csv "$f" > "$dir/run.out"
    d+=("$((($(date +%s%N) - t0) / 1000000))"); u+=("$(cat "$dir/time.out")")
    t0=$(date +%s%N)
    wc -l "$f" > /dev/null
    w+=("$((($(date +%s%N) - t0) / 1000000))")
  done
  dm=$(printf '%s\n' "${d[@]}" | median); um=$(printf '%s\n' "${u[@]}" | median)
  wm=$(printf '%s\n' "${w[@]}" | median)
  awk -v l="$format" -v d="$dm" -v u="$um" -v w="$wm" -v b="$(stat -c %s "$f")" \
    -v n="$(($(wc -l < "$dir/run.out") - 1))" \
    'BEGIN { printf "%-18s domains %4d ms (user %4.2f s) %5.2f GB/s   wc -l %3d ms   %4.1fx   %d rows\n", l, d, u, b/d/1e6, w, d/w, n }'
done
