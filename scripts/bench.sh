#!/usr/bin/env bash
# Whole-process figures for the built flowmap (run by `make bench` after the
# Go benchmarks): for decode and trace on the shared long capture and on a
# 1 GB synthetic capture made from it (copies shifted in time, on their own
# addresses; written to a temporary directory and removed), wall and CPU
# seconds, wall/CPU (below 1 when the stages use more than one core), MB/s
# of wall and of CPU, and peak RSS from /usr/bin/time -v (the
# synthetic one also with a connection that never finishes); then
# tshark on the long capture (installed when absent) and the CPU ratio; and
# the linearity ratios of the Go benchmarks when GOBENCH names their output.
# Skips the capture parts cleanly when the long capture is absent.
set -euo pipefail
SHARED=${SHARED:-../shared}
BIN=${BIN:-bin/flowmap}
SYNTH_BYTES=${SYNTH_BYTES:-1000000000}
cap=$SHARED/captures/long-mixed-head.pcapng

# Linearity: each two-size benchmark reports x2-ratio, the cost of twice the
# input over the cost of once (about 2 when linear, 4 when quadratic).
if [ -n "${GOBENCH:-}" ] && [ -s "$GOBENCH" ]; then
  echo "== linearity (x2-ratio: cost of 2n over cost of n; 2 is linear)"
  awk '/^pkg:/ { n = split($2, p, "/"); pkg = p[n] }
       /^Benchmark.*ns\/op.*x2-ratio/ { for (i = 1; i < NF; i++) if ($(i+1) == "x2-ratio") printf "%-10s %-28s x2-ratio %s\n", pkg, $1, $i }' "$GOBENCH"
fi

if [ ! -f "$cap" ]; then echo "bench: $cap absent, skipping the binary benchmarks"; exit 0; fi

# measure NAME FILE CMD...: runs CMD under /usr/bin/time -v, REPEAT times
# (default 3) on a file under 200 MB, once on a bigger one, and reports
# the means of wall and CPU time over the runs (/usr/bin/time counts in
# 10 ms: a mean of many runs is the better figure for a 0.2 s run) and
# the largest peak RSS; sets CPU (seconds), WALL, RSS and MBCPU for the
# caller.
CPU=0 WALL=0 RSS=0 MBCPU=0
measure() {
  local name=$1 file=$2; shift 2
  local size; size=$(stat -c %s "$file")
  local n=${REPEAT:-3}; [ "$size" -lt 200000000 ] || n=1
  local out; out=$(mktemp)
  local wsum=0 csum=0 rss=0 i
  for ((i = 0; i < n; i++)); do
    if ! /usr/bin/time -v -o "$out" "$@" >/dev/null 2>&1; then
      echo "$name: failed (exit status above 1 or killed)"; grep -E 'Exit status|signal' "$out" || true
    fi
    local w u s r
    w=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }' "$out")
    u=$(awk -F': ' '/User time/ { print $2 }' "$out")
    s=$(awk -F': ' '/System time/ { print $2 }' "$out")
    r=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$out")
    wsum=$(awk -v a="$wsum" -v b="$w" 'BEGIN { print a + b }')
    csum=$(awk -v a="$csum" -v u="$u" -v s="$s" 'BEGIN { print a + u + s }')
    rss=$(awk -v a="$rss" -v b="$r" 'BEGIN { print (b > a ? b : a) }')
  done
  rm -f "$out"
  CPU=$(awk -v c="$csum" -v n="$n" 'BEGIN { printf "%.4f", c / n }')
  WALL=$(awk -v w="$wsum" -v n="$n" 'BEGIN { printf "%.4f", w / n }')
  RSS=$(awk -v r="$rss" 'BEGIN { printf "%.1f", r / 1024 }')
  MBCPU=$(awk -v b="$size" -v c="$CPU" 'BEGIN { printf "%.0f", (c > 0 ? b/1e6/c : 0) }')
  awk -v n="$name" -v w="$WALL" -v c="$CPU" -v r="$rss" -v b="$size" -v k="$n" \
    'BEGIN { printf "%-30s wall %7.3fs  cpu %7.3fs  wall/cpu %4.2f  %7.1f MB/s wall  %7.1f MB/s cpu  peak RSS %7.1f MiB  (mean of %d)\n", n, w, c, (c > 0 ? w/c : 0), (w > 0 ? b/1e6/w : 0), (c > 0 ? b/1e6/c : 0), r/1024, k }'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

# goal NAME MEASURED OP TARGET: one line of the closing table.
GOALS=""
goal() {
  local ok; ok=$(awk -v m="$2" -v t="$4" -v op="$3" 'BEGIN { if (m == "n/a") print "n/a"; else if ((op == ">=" && m + 0 >= t + 0) || (op == "<=" && m + 0 <= t + 0)) print "met"; else print "NOT met" }')
  GOALS+=$(printf '%-44s %10s  goal %s %-6s %s' "$1" "$2" "$3" "$4" "$ok")$'\n'
}

echo "== long capture: $cap ($(( $(stat -c %s "$cap") / 1000000 )) MB)"
# flowmap's runs on the long capture last 0.2 s: 12 of each
REPEAT=${REPEAT:-12} measure "flowmap decode jsonl" "$cap" "$BIN" decode --format jsonl --progress never "$cap"; dec=$CPU
dec_mbs=$MBCPU dec_wc=$(ratio "$WALL" "$CPU")
REPEAT=${REPEAT:-12} measure "flowmap trace" "$cap" "$BIN" trace --progress never "$cap"; trc=$CPU
trc_wc=$(ratio "$WALL" "$CPU")
# The pipeline's stages (read, decode, out) share the cores; on one core
# (GOMAXPROCS=1) they run on one goroutine: the same output, the serial cost.
REPEAT=${REPEAT:-12} measure "flowmap decode jsonl, 1 core" "$cap" env GOMAXPROCS=1 "$BIN" decode --format jsonl --progress never "$cap"
REPEAT=${REPEAT:-12} measure "flowmap trace, 1 core" "$cap" env GOMAXPROCS=1 "$BIN" trace --progress never "$cap"

if ! command -v tshark >/dev/null; then
  echo "tshark absent: installing it"
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y tshark >/dev/null 2>&1 || echo "tshark: install failed"
  else
    DEBIAN_FRONTEND=noninteractive sudo -n apt-get install -y tshark >/dev/null 2>&1 || echo "tshark: install failed (needs root)"
  fi
fi
if command -v tshark >/dev/null; then
  # The same protocols, dissected and filtered: what a person would run.
  measure "tshark http|mysql|memcache" "$cap" tshark -r "$cap" -n -Y 'http or mysql or memcache'; tsh=$CPU
  echo "tshark CPU / flowmap trace CPU:  $(ratio "$tsh" "$trc")x"
  goal "tshark CPU / trace CPU (long capture)" "$(ratio "$tsh" "$trc")" ">=" 40
  echo "tshark CPU / flowmap decode CPU: $(ratio "$tsh" "$dec")x"
else
  echo "tshark not installed: no comparison"
fi

goal "decode MB/s of CPU (long capture)" "$dec_mbs" ">=" 400
goal "decode wall/CPU on $(nproc) cores" "$dec_wc" "<=" 0.6
goal "trace wall/CPU on $(nproc) cores" "$trc_wc" "<=" 0.6

if [ "$SYNTH_BYTES" -gt 0 ]; then
  dir=$(mktemp -d)
  trap 'rm -rf "$dir"' EXIT
  big=$dir/synthetic.pcap
  go run ./scripts/synth -in "$cap" -out "$big" -size "$SYNTH_BYTES"
  echo "== synthetic capture: $(( $(stat -c %s "$big") / 1000000 )) MB (copies of the long capture, shifted, own addresses)"
  measure "flowmap decode jsonl" "$big" "$BIN" decode --format jsonl --progress never "$big"
  goal "decode peak RSS MiB (1 GB synthetic)" "$RSS" "<=" 64
  measure "flowmap trace" "$big" "$BIN" trace --progress never "$big"
  goal "trace peak RSS MiB (1 GB synthetic)" "$RSS" "<=" 128
  # summary builds segments as trace does (no goal of its own: printed)
  measure "flowmap summary" "$big" "$BIN" summary --progress never "$big"
  # The same with one connection (a keystone request) that never finishes:
  # memory must stay bounded by what is open, and output must stream.
  go run ./scripts/synth -in "$cap" -out "$big" -size "$SYNTH_BYTES" -silence 5000
  echo "== the same, one connection never finished"
  measure "flowmap decode jsonl" "$big" "$BIN" decode --format jsonl --progress never "$big"
  goal "decode peak RSS MiB (1 GB, never-finished conn)" "$RSS" "<=" 64
  measure "flowmap trace" "$big" "$BIN" trace --progress never "$big"
  goal "trace peak RSS MiB (1 GB, never-finished conn)" "$RSS" "<=" 128
fi

echo "== goals (issue 'Fast and bounded at any size')"
printf '%s' "$GOALS"
