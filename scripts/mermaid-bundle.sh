#!/usr/bin/env bash
# Refresh the Mermaid bundle that render/report embeds: the npm package
# mermaid at the pinned version (npm pack, the ordinary client), its
# minified browser build gzip-compressed (deterministic: -n) and its
# licence. The SHA-256 of the minified file must match the one recorded in
# render/report/mermaid/SHA256SUM unless UPDATE=1 (then it is rewritten:
# review the new version's licence and run the browser test).
#   scripts/mermaid-bundle.sh            # check that the committed bundle is what npm serves
#   UPDATE=1 MERMAID_VERSION=11.17.2 scripts/mermaid-bundle.sh
set -euo pipefail
cd "$(dirname "$0")/.."
dir=render/report/mermaid
VERSION=${MERMAID_VERSION:-$(cat "$dir/VERSION")} # not VERSION: the Makefile's is flowmap's
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
( cd "$tmp" && npm pack "mermaid@$VERSION" --silent >/dev/null && tar xzf "mermaid-$VERSION.tgz" package/dist/mermaid.min.js package/LICENSE )
sum=$(sha256sum "$tmp/package/dist/mermaid.min.js" | cut -d' ' -f1)
if [ "${UPDATE:-0}" = 1 ]; then
  gzip -9n < "$tmp/package/dist/mermaid.min.js" > "$dir/mermaid.min.js.gz"
  cp "$tmp/package/LICENSE" "$dir/LICENSE"
  echo "$VERSION" > "$dir/VERSION"
  echo "$sum  mermaid.min.js" > "$dir/SHA256SUM"
  echo "mermaid $VERSION: $(wc -c < "$tmp/package/dist/mermaid.min.js") bytes, $(wc -c < "$dir/mermaid.min.js.gz") gzipped"
  exit 0
fi
want=$(cut -d' ' -f1 "$dir/SHA256SUM")
[ "$sum" = "$want" ] || { echo "mermaid $VERSION from npm has sha256 $sum, the committed bundle $want" >&2; exit 1; }
got=$(gzip -dc "$dir/mermaid.min.js.gz" | sha256sum | cut -d' ' -f1)
[ "$got" = "$want" ] || { echo "$dir/mermaid.min.js.gz holds sha256 $got, SHA256SUM says $want" >&2; exit 1; }
echo "mermaid $VERSION: the committed bundle is npm's (sha256 $sum)"
