#!/bin/sh
# extract-streams.sh writes the memcache (tcp port 11211) connections of the
# lab captures as .conv files: one line per TCP segment with payload, in
# capture order, as the TCP layer would hand them to the decoder.
#
#   # <capture> tcp.stream <n>
#   syn                         (only when the handshake is in the capture)
#   c <epoch.ns> <hex>          client -> server payload
#   s <epoch.ns> <hex>          server -> client payload
#   c <epoch.ns> gap <n>        n bytes not captured (snaplen) before the next line
#   c <epoch.ns> fin            FIN or RST from that side
#
# Beside each, <capture>.s<n>.truth.tsv holds tshark's memcache rows of
# that stream (from the capture's truth/<capture>.memcache.tsv).
#
# Run from anywhere: sh decoder/memcache/testdata/extract-streams.sh
# (needs tshark; reads testdata/captures and, when present,
# ../shared/captures/long-mixed-head.pcapng).
set -eu
root=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
out="$root/decoder/memcache/testdata/streams"
mkdir -p "$out"
caps="$root/testdata/captures/*.pcapng"
for extra in "$root/../shared/captures/long-mixed-head.pcapng"; do
	[ -f "$extra" ] && caps="$caps $extra"
done
for cap in $caps; do
	name=$(basename "$cap" .pcapng)
	for stream in $(tshark -r "$cap" -Y 'tcp.port==11211 && tcp.len>0' -T fields -e tcp.stream 2>/dev/null | sort -nu); do
		f="$out/$name.s$stream.conv"
		echo "# $name.pcapng tcp.stream $stream" >"$f"
		tshark -r "$cap" -Y "tcp.stream==$stream" -T fields \
			-e frame.time_epoch -e tcp.srcport -e tcp.len -e tcp.flags.syn \
			-e tcp.flags.ack -e tcp.flags.fin -e tcp.flags.reset -e tcp.payload 2>/dev/null |
			awk -F'\t' '
			{
				dir = ($2 == 11211) ? "s" : "c"
				if ($4 == 1 && $5 == 0) { print "syn"; next }
				if ($3 > 0) {
					if ($8 != "") print dir, $1, $8
					lost = $3 - length($8) / 2
					if (lost > 0) print dir, $1, "gap", lost
				}
				if ($6 == 1 || $7 == 1) print dir, $1, "fin"
			}' >>"$f"
		truth=
		for t in "$(dirname "$cap")/../truth/$name" "$(dirname "$cap")/truth/$name" \
			"$(dirname "$cap")/../truth/${name%.cut}"; do
			[ -f "$t.memcache.tsv" ] && truth=$t.memcache.tsv && break
		done
		awk -F'\t' -v s="$stream" 'NR == 1 || $8 == s' "$truth" >"$out/$name.s$stream.truth.tsv"
	done
done
