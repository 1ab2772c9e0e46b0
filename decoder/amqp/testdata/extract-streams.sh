#!/bin/sh
# extract-streams.sh writes chosen AMQP (tcp port 5672) connections of the
# shared nova captures as .conv files, the format of
# decoder/memcache/testdata/extract-streams.sh: one line per TCP segment
# with payload, in capture order, as the TCP layer hands them over.
#
#   # <capture> tcp.stream <n>
#   syn                         (only when the handshake is in the capture)
#   c <epoch.ns> <hex>          client -> broker payload
#   s <epoch.ns> <hex>          broker -> client payload
#   c <epoch.ns> fin            FIN or RST from that side
#
# Beside each, <capture>.s<n>.truth.tsv holds that stream's rows of
# truth/<capture>.amqp.tsv (tshark, one row per AMQP frame).
#
#   sh decoder/amqp/testdata/extract-streams.sh   (needs tshark and ../shared)
set -eu
root=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
caps="$root/../shared/captures/nova"
out="$root/decoder/amqp/testdata/streams"
mkdir -p "$out"
extract() { # capture stream
	name=$1 stream=$2
	f="$out/$name.s$stream.conv"
	echo "# $name.pcapng tcp.stream $stream" >"$f"
	tshark -r "$caps/$name.pcapng" -Y "tcp.stream==$stream" -T fields \
		-e frame.time_epoch -e tcp.srcport -e tcp.len -e tcp.flags.syn \
		-e tcp.flags.ack -e tcp.flags.fin -e tcp.flags.reset -e tcp.payload 2>/dev/null |
		awk -F'\t' '
		{
			dir = ($2 == 5672) ? "s" : "c"
			if ($4 == 1 && $5 == 0) { print "syn"; next }
			if ($3 > 0 && $8 != "") print dir, $1, $8
			if ($6 == 1 || $7 == 1) print dir, $1, "fin"
		}' >>"$f"
	awk -F'\t' -v s="$stream" 'NR == 1 || $8 == s' "$caps/truth/$name.amqp.tsv" >"$out/$name.s$stream.truth.tsv"
}
extract nova-boot 38     # nova-api: handshake, declare, confirm.select, publish
extract nova-boot 42     # began before the capture: publishes and broker confirms
extract nova-boot 39     # began before the capture: deliveries (a consumer)
extract nova-boot-mtu1500 31 # nova-api again, frames over 2-10 segments
extract nova-boot-mtu1500 32 # deliveries over split segments
