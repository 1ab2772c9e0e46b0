#!/usr/bin/env bash
# plantuml-check.sh FILE... — render every file with the real PlantUML (one
# JVM for all) and print "OK file" or "FAIL file: reason" for each, then
# "plantuml: N passed, N failed"; exit 1 when one failed, 2 on bad usage.
#
# It renders (to SVG, thrown away) rather than using -syntax or -checkonly:
# those only parse, and pass text that crashes the renderer (PlantUML
# 1.2020's "&#36;" entity). Failures are attributed from the -v log, where
# the files are worked on one after the other.
set -u

if [ $# -eq 0 ]; then
  echo "usage: $0 FILE..." >&2
  exit 2
fi
if ! command -v plantuml >/dev/null; then
  echo "plantuml-check: plantuml is not on PATH" >&2
  exit 2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/out"

# Copies named by position: distinct output names, and log lines that map
# back to the arguments.
inputs=()
i=0
for f in "$@"; do
  i=$((i + 1))
  if [ -f "$f" ] && [ -r "$f" ]; then
    cp -- "$f" "$tmp/$i.puml"
    inputs+=("$tmp/$i.puml")
  fi
done
if [ "${#inputs[@]}" -gt 0 ]; then
  plantuml -v -charset UTF-8 -tsvg -o "$tmp/out" "${inputs[@]}" >"$tmp/stdout" 2>"$tmp/log"
fi
touch "$tmp/log"

# reasons: "N<TAB>reason" for each failing copy N, the first reason only;
# seen: the copies PlantUML worked on.
awk -v dir="$tmp/" '
  /Working on / {
    n = $0; sub(/.* Working on /, "", n)
    if (index(n, dir) == 1) { n = substr(n, length(dir) + 1); sub(/\.puml$/, "", n); cur = n; print cur > (dir "seen") }
    next
  }
  /^Error line [0-9]+ in file: / {
    n = $0; sub(/.* in file: /, "", n); sub(/^.*\//, "", n); sub(/\.puml$/, "", n)
    split($0, w, " ")
    if (!(n in why)) { why[n] = "syntax error at line " (w[3] + 1) }
    next
  }
  /^[a-z][A-Za-z0-9_$]*(\.[A-Za-z0-9_$]+)+(Exception|Error)(: |$)/ {
    if (cur != "" && !(cur in why)) { why[cur] = $0 }
  }
  END { for (n in why) print n "\t" why[n] > (dir "reasons") }
' "$tmp/log"
touch "$tmp/seen" "$tmp/reasons"

# message is the last text of an error image: "Syntax Error?", ...
message() {
  grep -o '<text[^>]*>[^<]*</text>' "$1" 2>/dev/null | tail -n 1 |
    sed -e 's/<[^>]*>//g' -e 's/&lt;/</g; s/&gt;/>/g; s/&quot;/"/g; s/&amp;/\&/g'
}

passed=0
failed=0
i=0
for f in "$@"; do
  i=$((i + 1))
  reason=""
  if [ ! -f "$tmp/$i.puml" ]; then
    reason="cannot read the file"
  elif ! grep -qx "$i" "$tmp/seen"; then
    reason="not processed by plantuml: $(tail -n 1 "$tmp/log")"
  elif r=$(awk -F '\t' -v n="$i" '$1 == n { print $2; exit }' "$tmp/reasons") && [ -n "$r" ]; then
    reason="$r"
    if [[ "$r" == syntax* ]] && [ -f "$tmp/out/$i.svg" ]; then
      reason="$r: $(message "$tmp/out/$i.svg")"
    fi
  elif [ ! -f "$tmp/out/$i.svg" ]; then
    reason="no diagram (no @startuml … @enduml)"
  fi
  if [ -z "$reason" ]; then
    echo "OK $f"
    passed=$((passed + 1))
  else
    echo "FAIL $f: $reason"
    failed=$((failed + 1))
  fi
done
echo "plantuml: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
