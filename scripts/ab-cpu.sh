#!/usr/bin/env bash
# Compare the CPU time of two danemine binaries on `domains`: single-thread runs that
# alternate for N rounds, CPU time from `perf stat -e task-clock`, and the median of the
# per-round ratios (which keeps the VM's drift out); wall times too (for THREADS=2, where
# waiting between phases shows). Not a test: run it by hand.
#   scripts/ab-cpu.sh OLD_BIN NEW_BIN [LOG] [ROUNDS]
# LOG defaults to the first 300 MB of the benchmark's 1 GB log (see bench-scan.sh); set
# THREADS=2 to use both cores.
set -euo pipefail
old=$1; new=$2
dir=${DIR:-/tmp/danemine-bench}
log=${3:-$dir/p20k-300M.log}
rounds=${4:-15}
command -v perf >/dev/null || { echo "needs perf: apt-get install linux-perf" >&2; exit 2; }
if [ ! -s "$log" ]; then
  [ -s "$dir/postfix-1G.log" ] || { echo "no $dir/postfix-1G.log: run scripts/bench-scan.sh first" >&2; exit 2; }
  head -c 300000000 "$dir/postfix-1G.log" | head -n -1 > "$log"
fi
cat "$log" > /dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for r in $(seq "$rounds"); do
  for which in old new; do
    bin=${!which}
    t0=$(date +%s%N)
    RAYON_NUM_THREADS=${THREADS:-1} perf stat -x, -e task-clock -o "$tmp/stat" \
      "$bin" domains --format csv "$log" > "$tmp/$which.csv" 2>/dev/null
    echo $((($(date +%s%N) - t0) / 1000000)) >> "$tmp/$which.wall"
    echo "$(grep task-clock "$tmp/stat" | cut -d, -f1)" >> "$tmp/$which.ms"
  done
done
for which in old new; do
  sort -n "$tmp/$which.ms" | awk -v w="$which" '{c[NR]=$1} END {printf "%s CPU ms: min %.0f median %.0f\n", w, c[1], c[int((NR+1)/2)]}'
  sort -n "$tmp/$which.wall" | awk -v w="$which" '{c[NR]=$1} END {printf "%s wall ms: min %.0f median %.0f\n", w, c[1], c[int((NR+1)/2)]}'
done
paste "$tmp/old.wall" "$tmp/new.wall" | awk '{print $2/$1}' | sort -n |
  awk '{r[NR]=$1} END {printf "new/old wall: per-round median %.3f\n", r[int((NR+1)/2)]}'
paste "$tmp/old.ms" "$tmp/new.ms" | awk '{print $2/$1}' | sort -n |
  awk '{r[NR]=$1} END {printf "new/old: per-round median %.3f (quartiles %.3f, %.3f)\n", r[int((NR+1)/2)], r[int(NR/4)+1], r[int(3*NR/4)+1]}'
cmp -s "$tmp/old.csv" "$tmp/new.csv" && echo "outputs identical" || echo "OUTPUTS DIFFER"
