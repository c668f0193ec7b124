#!/usr/bin/env bash
# Benchmark of `danemine domains` against `wc -l` and `grep -c` on the same warm file, plus
# peak RSS for a 1 GB and a 4 GB log over the same domain set. Not a test: run it by hand.
#   scripts/bench-scan.sh [SCRATCH_DIR]      (default /tmp/danemine-bench; needs ~6 GB free)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-/tmp/danemine-bench}
mkdir -p "$dir"
command -v /usr/bin/time >/dev/null || { echo "needs GNU time: apt-get install time" >&2; exit 2; }
cargo build --release --quiet
bin=target/release/danemine
domains=${DOMAINS:-20000}
for size in 1G 4G; do
  f="$dir/postfix-$size.log"
  [ -s "$f" ] || "$bin" generate --format postfix --seed 42 --domains "$domains" --size "$size" --processes 200 --out "$f"
done
f1="$dir/postfix-1G.log"; f4="$dir/postfix-4G.log"
bytes=$(stat -c %s "$f1"); lines=$(wc -l < "$f1")
echo "file: $f1  $bytes bytes, $lines lines, $domains domains; $(nproc) cores"
cat "$f1" > /dev/null; cat "$f1" > /dev/null   # warm page cache
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
run() { # label command...; prints median wall seconds of 5 runs, last peak RSS and CPU%
  local label=$1; shift
  local walls=() rss cpu w
  for i in 1 2 3 4 5; do
    # output to a file, not /dev/null: GNU grep stops at the first match when writing to /dev/null
    /usr/bin/time -f '%e %M %P' -o "$dir/time.out" "$@" > "$dir/run.out"
    read -r w rss cpu < "$dir/time.out"; walls+=("$w")
  done
  w=$(printf '%s\n' "${walls[@]}" | median)
  awk -v l="$label" -v w="$w" -v b="$bytes" -v n="$lines" -v r="$rss" -v c="$cpu" \
    'BEGIN { printf "%-34s %7.3f s  %6.2f GB/s  %11.0f lines/s  peak RSS %7.1f MB  CPU %s\n", l, w, b/w/1e9, n/w, r/1024, c }'
  echo "$w" > "$dir/last.wall"
}
run "danemine domains --format csv" "$bin" domains --format csv "$f1"; d=$(cat "$dir/last.wall")
run "wc -l" wc -l "$f1"; w=$(cat "$dir/last.wall")
run "grep -c status=" grep -c 'status=' "$f1"
awk -v d="$d" -v w="$w" 'BEGIN { printf "domains / wc -l: %.1fx\n", d/w }'
for f in "$f1" "$f4"; do
  cat "$f" > /dev/null
  /usr/bin/time -f '%e %M' -o "$dir/time.out" "$bin" domains --format csv "$f" > "$dir/out.csv"
  read -r w rss < "$dir/time.out"
  printf 'peak RSS %-40s %7.1f MB (%s s, %s rows)\n' "$(basename "$f") ($(stat -c %s "$f") bytes)" "$(echo "$rss/1024" | bc -l)" "$w" "$(($(wc -l < "$dir/out.csv") - 1))"
done
