#!/usr/bin/env bash
# jaeger-roundtrip.sh OTLP_JSON_FILE
#
# Sends an OTLP/JSON file (flowmap trace --format otlp) to a throwaway Jaeger
# all-in-one and reads every trace back, to show that a real OTLP receiver
# takes it as written: same traces, same span count, same service names.
#
#   JAEGER        the jaeger (v2) binary; default: jaeger on PATH
#   JAEGER_WAIT   seconds to wait for Jaeger to start and to store the
#                 spans (default 60)
#
# Jaeger listens on 127.0.0.1 only: OTLP/HTTP on 4318 and the query API/UI
# on 16686 when they are free, other free ports otherwise. Needs curl and jq.
# Prints per trace and in total the span count and service names of the file
# and of Jaeger, and per trace the root spans of both (parent links survived)
# and how many spans Jaeger has warnings about. Exit status: 0 when they agree, 1 when they differ, 2 when
# the round trip could not be made (usage, missing tool, Jaeger not ready).
set -euo pipefail

prog=jaeger-roundtrip
die() { echo "$prog: $*" >&2; exit 2; }

[ $# -eq 1 ] || die "usage: $0 OTLP_JSON_FILE"
file=$1
[ -r "$file" ] || die "$file: not readable"
for tool in curl jq; do
  command -v "$tool" >/dev/null || die "$tool is not installed"
done
jaeger=${JAEGER:-$(command -v jaeger || true)}
[ -n "$jaeger" ] && [ -x "$jaeger" ] || die "no jaeger binary: set JAEGER or put jaeger on PATH"
wait_s=${JAEGER_WAIT:-60}
case $wait_s in '' | *[!0-9]*) die "JAEGER_WAIT must be a number of seconds" ;; esac

work=$(mktemp -d "${TMPDIR:-/tmp}/$prog.XXXXXX")
pid=
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do # up to 5 s for a clean stop
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The file's own view: per trace, its span count, its root spans (no
# parentSpanId) and the service.name of the resources its spans sit under.
expected=$(jq -c '
  [ .resourceSpans[]? as $rs
    | (($rs.resource.attributes // []) | map(select(.key == "service.name"))[0].value.stringValue // "unknown_service") as $svc
    | $rs.scopeSpans[]?.spans[]?
    | {t: (.traceId | ascii_downcase), s: $svc, root: ((.parentSpanId // "") == "")} ]
  | group_by(.t)
  | map({t: .[0].t, n: length, roots: map(select(.root)) | length, services: (map(.s) | unique)})' "$file") ||
  die "$file: not JSON"
ntraces=$(jq 'length' <<<"$expected")
[ "$ntraces" -gt 0 ] || die "$file: no spans"

# port_free reports whether nothing listens on 127.0.0.1:$1.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
taken=" "
pick_port() {
  local p=$1 i
  for i in $(seq 1 100); do
    if [[ $taken != *" $p "* ]] && port_free "$p"; then
      taken+="$p "
      echo "$p"
      return
    fi
    p=$((20000 + RANDOM % 40000))
  done
  die "no free port found"
}
otlp_port=$(pick_port 4318)
query_port=$(pick_port 16686)
grpc_port=$(pick_port 16685)

cat >"$work/config.yaml" <<EOF
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
extensions:
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 100000
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:$query_port
    grpc:
      endpoint: 127.0.0.1:$grpc_port
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:$otlp_port
processors:
  batch:
    timeout: 100ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
EOF

"$jaeger" --config "$work/config.yaml" >"$work/jaeger.log" 2>&1 &
pid=$!
fail_start() {
  echo "$prog: $*; the end of Jaeger's log:" >&2
  tail -n 20 "$work/jaeger.log" >&2
  exit 2
}

query="http://127.0.0.1:$query_port"
deadline=$((SECONDS + wait_s))
until curl -sf -o /dev/null "$query/api/services" && ! port_free "$otlp_port"; do
  kill -0 "$pid" 2>/dev/null || fail_start "Jaeger exited"
  [ $SECONDS -lt $deadline ] || fail_start "Jaeger not ready after ${wait_s}s"
  sleep 0.2
done
echo "$prog: $jaeger ready: OTLP/HTTP 127.0.0.1:$otlp_port, query API 127.0.0.1:$query_port"

resp=$(curl -sS -f --max-time 60 -X POST -H 'Content-Type: application/json' \
  --data-binary "@$file" "http://127.0.0.1:$otlp_port/v1/traces") ||
  fail_start "POST /v1/traces failed"
rejected=$(jq -r '.partialSuccess.rejectedSpans // 0' <<<"$resp" 2>/dev/null || echo 0)
echo "$prog: POST /v1/traces: $(wc -c <"$file" | tr -d ' ') bytes accepted, rejected spans: $rejected"

# got prints, for trace $1 as Jaeger has it, the span count, the spans
# without a parent, the spans Jaeger has warnings about, and the service
# names (0 and [] while Jaeger does not have the trace yet).
got() {
  curl -sf --max-time 10 "$query/api/traces/$1" |
    jq -c '(.data // [])[0] as $d
      | if $d == null then {n: 0, roots: 0, warned: 0, services: []}
        else {n: ($d.spans | length),
          roots: ([$d.spans[] | select([.references[]? | select(.refType == "CHILD_OF")] | length == 0)] | length),
          warned: ([$d.spans[] | select((.warnings // []) | length > 0)] | length),
          services: ([$d.spans[].processID as $p | $d.processes[$p].serviceName] | unique)} end' ||
    echo '{"n":0,"roots":0,"warned":0,"services":[]}'
}

status=0
total_file=0
total_jaeger=0
traces_jaeger=0
all_file='[]'
all_jaeger='[]'
# Spans go through a batch processor: poll each trace until it is whole or
# the deadline passes.
deadline=$((SECONDS + wait_s))
for i in $(seq 0 $((ntraces - 1))); do
  t=$(jq -r ".[$i].t" <<<"$expected")
  n=$(jq -r ".[$i].n" <<<"$expected")
  roots=$(jq -r ".[$i].roots" <<<"$expected")
  svc=$(jq -c ".[$i].services" <<<"$expected")
  while :; do
    g=$(got "$t")
    gn=$(jq -r '.n' <<<"$g")
    [ "$gn" -lt "$n" ] && [ $SECONDS -lt $deadline ] || break
    sleep 0.2
  done
  gsvc=$(jq -c '.services' <<<"$g")
  groots=$(jq -r '.roots' <<<"$g")
  warned=$(jq -r '.warned' <<<"$g")
  verdict=ok
  if [ "$gn" -ne "$n" ] || [ "$groots" -ne "$roots" ] || [ "$gsvc" != "$svc" ]; then
    verdict=MISMATCH
    status=1
  fi
  [ "$gn" -gt 0 ] && traces_jaeger=$((traces_jaeger + 1))
  total_file=$((total_file + n))
  total_jaeger=$((total_jaeger + gn))
  all_file=$(jq -c --argjson a "$all_file" --argjson b "$svc" -n '$a + $b | unique')
  all_jaeger=$(jq -c --argjson a "$all_jaeger" --argjson b "$gsvc" -n '$a + $b | unique')
  printf 'trace %s: spans file=%d jaeger=%d; roots file=%d jaeger=%d; jaeger warnings on %d spans; services file=%s jaeger=%s; %s\n' \
    "$t" "$n" "$gn" "$roots" "$groots" "$warned" "$(jq -r 'join(", ")' <<<"$svc")" "$(jq -r 'join(", ")' <<<"$gsvc")" "$verdict"
done

if [ "$traces_jaeger" -ne "$ntraces" ] || [ "$total_jaeger" -ne "$total_file" ] || [ "$all_jaeger" != "$all_file" ]; then
  status=1
fi
echo "total: traces file=$ntraces jaeger=$traces_jaeger; spans file=$total_file jaeger=$total_jaeger"
echo "services file: $(jq -r 'join(", ")' <<<"$all_file")"
echo "services jaeger: $(jq -r 'join(", ")' <<<"$all_jaeger")"
echo "services /api/services: $(curl -sf "$query/api/services" | jq -r '(.data // []) | sort | join(", ")')"
if [ "$status" -eq 0 ]; then
  echo "result: OK"
else
  echo "result: MISMATCH"
fi
exit "$status"
