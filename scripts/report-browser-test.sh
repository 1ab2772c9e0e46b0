#!/usr/bin/env bash
# The report's browser test (scripts/report-browser-test.mjs) on the
# shared long capture, the concurrent capture and a crafted copy of the
# seed capture whose image id is a <script> (in request targets and SQL),
# in Debian's headless Chromium driven by playwright-core from
# ../shared/tools/mermaid (install.sh installs both). Exits 0 with a SKIP
# line when no browser can run here. SCREENSHOT=docs/report-concurrent.png
# also takes the README's screenshots.
set -euo pipefail
cd "$(dirname "$0")/.."
home="${MMD_TOOLS_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/mermaid-tools}"
chromium="${CHROMIUM:-/usr/bin/chromium}"
if ! command -v node >/dev/null || [ ! -d "$home/node_modules/playwright-core" ] || [ ! -x "$chromium" ]; then
  echo "SKIP: report browser test: needs node, playwright-core in $home (../shared/tools/mermaid/install.sh) and $chromium"
  exit 0
fi
make -s build
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
# same length, so the capture stays valid: the id becomes a script element
perl -0777 -pe 's/59153cd7-096f-4ecd-bab0-d185f54de134/<script>window.pwned=1<\/script>abcde/g' \
  testdata/captures/seed-image-save.cut.pcapng > "$tmp/crafted.pcapng"
grep -qa 'window.pwned' "$tmp/crafted.pcapng" || { echo "crafting the capture failed" >&2; exit 1; }
caps=(concurrent=testdata/captures/concurrent.pcapng "crafted=$tmp/crafted.pcapng:crafted")
long=../shared/captures/long-mixed-head.pcapng
if [ -f "$long" ]; then caps+=("long=$long"); else echo "SKIP: $long is absent: the long capture is not tested"; fi
shot=()
[ -n "${SCREENSHOT:-}" ] && shot=(--screenshot "concurrent=$SCREENSHOT")
node scripts/report-browser-test.mjs --flowmap bin/flowmap --out "$tmp" "${shot[@]}" "${caps[@]}"
