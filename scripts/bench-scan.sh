#!/usr/bin/env bash
# Benchmark of `danemine domains` against `wc -l` and `grep -c` on the same warm file, with its
# page cache in 4 KB pages and then in 2 MB folios, plus peak RSS for a 1 GB and a 4 GB log over
# the same domain set. Not a test: run it by hand.
#   scripts/bench-scan.sh [SCRATCH_DIR]      (default /tmp/danemine-bench; needs ~6 GB free)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-/tmp/danemine-bench}
mkdir -p "$dir"
command -v /usr/bin/time >/dev/null || { echo "needs GNU time: apt-get install time" >&2; exit 2; }
cargo build --release --quiet
bin=target/release/danemine
# the floor of any design (scripts/floor/src/main.rs): a reference line, not a target
cargo build --release --quiet --manifest-path scripts/floor/Cargo.toml
floor=scripts/floor/target/release/floor
domains=${DOMAINS:-20000}
for size in 1G 4G; do
  f="$dir/postfix-$size.log"
  [ -s "$f" ] || "$bin" generate --format postfix --seed 42 --domains "$domains" --size "$size" --processes 200 --out "$f"
done
f1="$dir/postfix-1G.log"; f4="$dir/postfix-4G.log"
bytes=$(stat -L -c %s "$f1"); lines=$(wc -l < "$f1")
echo "file: $f1  $bytes bytes, $lines lines, $domains domains; $(nproc) cores"
state=scripts/floor/target/release/cache-state
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# The five commands run in rounds (domains, wc, grep, floor, domains --pread; 7 rounds) rather than each 5 times in a
# row: this VM's speed drifts over minutes, and alternating keeps the drift out of the ratio.
# Each command's line shows its median wall time, its median user and system CPU seconds (the
# kernel's copy from the page cache is system time: it is nearly all of `wc -l`), and the last
# run's peak RSS and CPU use; the ratio line gives the ratio of the medians and the median of
# the per-round ratios.
# The rounds run twice, with the file's page cache in each of two layouts (scripts/floor's
# cache-state): 4 KB pages, as a file written in appends sits, and 2 MB folios, as sequential
# readahead leaves a file read back from disk on kernels with large folios (ext4 since Linux
# 6.16). The kernel copies the second about twice as fast, which `wc -l` is nearly all of.
labels=("danemine domains --format csv" "wc -l" "grep -c status=" "floor (scripts/floor)"
  "danemine domains --pread")
cmd0=("$bin" domains --format csv "$f1"); cmd1=(wc -l "$f1"); cmd2=(grep -c 'status=' "$f1")
cmd3=("$floor" "$f1"); cmd4=("$bin" domains --format csv --pread "$f1")
rounds=7
for layout in small large; do
  echo
  "$state" "$f1" "$layout"
  cat "$f1" > /dev/null   # the cache stays warm, in that layout
  declare -a walls users syss rss cpu
  for r in $(seq $rounds); do
    for i in 0 1 2 3 4; do
      declare -n cmd="cmd$i"
      # output to a file, not /dev/null: GNU grep stops at the first match when writing to /dev/null
      /usr/bin/time -f '%e %M %P %U %S' -o "$dir/time.out" "${cmd[@]}" > "$dir/run.out"
      unset -n cmd
      read -r w m c u s < "$dir/time.out"
      walls[$((i * rounds + r - 1))]=$w; rss[$i]=$m; cpu[$i]=$c
      users[$((i * rounds + r - 1))]=$u; syss[$((i * rounds + r - 1))]=$s
    done
  done
  med=()
  for i in 0 1 2 3 4; do
    med[$i]=$(printf '%s\n' "${walls[@]:$((i * rounds)):$rounds}" | median)
    u=$(printf '%s\n' "${users[@]:$((i * rounds)):$rounds}" | median)
    s=$(printf '%s\n' "${syss[@]:$((i * rounds)):$rounds}" | median)
    awk -v l="${labels[$i]}" -v w="${med[$i]}" -v b="$bytes" -v n="$lines" -v r="${rss[$i]}" -v c="${cpu[$i]}" -v u="$u" -v s="$s" \
      'BEGIN { printf "%-30s %6.3f s %5.2f GB/s %9.0f lines/s  user %5.2f s sys %5.2f s  peak RSS %6.1f MB  CPU %s\n", l, w, b/w/1e9, n/w, u, s, r/1024, c }'
  done
  per_round=$(for r in $(seq 0 $((rounds - 1))); do
    awk -v d="${walls[$r]}" -v w="${walls[$((rounds + r))]}" 'BEGIN { printf "%.3f\n", d/w }'
  done | median)
  awk -v d="${med[0]}" -v w="${med[1]}" -v p="$per_round" -v n="$rounds" -v l="$layout" \
    'BEGIN { printf "domains / wc -l (%s folios): %.1fx (ratio of medians); %.1fx (median of %d per-round ratios)\n", l, d/w, p, n }'
  awk -v f="${med[3]}" -v w="${med[1]}" -v d="${med[0]}" \
    'BEGIN { printf "floor / wc -l: %.1fx; domains / floor: %.1fx (ratios of medians)\n", f/w, d/f }'
  "$state" "$f1" show
done
echo
for f in "$f1" "$f4"; do
  cat "$f" > /dev/null
  /usr/bin/time -f '%e %M' -o "$dir/time.out" "$bin" domains --format csv "$f" > "$dir/out.csv"
  read -r w rss < "$dir/time.out"
  printf 'peak RSS %-40s %7.1f MB (%s s, %s rows)\n' "$(basename "$f") ($(stat -L -c %s "$f") bytes)" "$(echo "$rss/1024" | bc -l)" "$w" "$(($(wc -l < "$dir/out.csv") - 1))"
done
