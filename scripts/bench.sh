#!/usr/bin/env bash
# Times the built flowmap on the long capture (and tshark on the same file
# when installed): wall and CPU seconds, MB/s, peak RSS. Skips cleanly when
# the capture is absent.
set -euo pipefail
SHARED=${SHARED:-../shared}
BIN=${BIN:-bin/flowmap}
cap=$SHARED/captures/long-mixed-head.pcapng
if [ ! -f "$cap" ]; then echo "bench: $cap absent, skipping the binary benchmark"; exit 0; fi
size=$(stat -c %s "$cap")
measure() { # name cmd...
  local name=$1; shift
  local out; out=$(mktemp)
  /usr/bin/time -f '%e %U %S %M' -o "$out" "$@" >/dev/null 2>&1 || true
  read -r wall user sys rss < "$out"; rm -f "$out"
  awk -v n="$name" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" -v b="$size" \
    'BEGIN { printf "%-22s wall %6.2fs  cpu %6.2fs  %7.1f MB/s  peak RSS %6.1f MiB\n", n, w, u+s, (w>0 ? b/1e6/w : 0), r/1024 }'
}
echo "capture: $cap ($((size / 1000000)) MB)"
for i in 1 2 3; do measure "flowmap decode jsonl" "$BIN" decode --format jsonl --progress never "$cap"; done
measure "flowmap trace" "$BIN" trace --progress never "$cap"
if command -v tshark >/dev/null; then
  measure "tshark -Y http||mysql" tshark -r "$cap" -n -Y 'http or mysql or memcache'
else
  echo "tshark not installed: no comparison"
fi
