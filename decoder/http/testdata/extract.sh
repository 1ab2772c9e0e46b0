#!/bin/sh
# extract.sh writes the TCP segments of HTTP connections of the lab captures
# as fixtures for the decoder/http tests (real bytes, no reassembly logic):
#
#   sh testdata/extract.sh CAPTURE STREAM...   (run from decoder/http)
#
# writes testdata/conn/CAPTURE.STREAM.seg (.seg.gz when big), one line per segment that carries
# payload or SYN/FIN/RST, in capture order:
#
#   DIR NS SEQ LEN FLAGS HEX
#
# DIR is c (client to server) or s, NS nanoseconds since the connection's
# first frame, SEQ tshark's relative sequence number, LEN the segment's TCP
# payload length on the wire, FLAGS some of S F R (or -), HEX the captured
# payload bytes (shorter than LEN when the frame was cut by the snaplen; -
# when empty). Header lines start with #.
set -eu
cap=$1; shift
src=../../testdata/captures/$cap.pcapng
for s in "$@"; do
	out=testdata/conn/$cap.$s.seg
	tshark -r "$src" -Y "tcp.stream==$s" -T fields -E separator=' ' \
		-e frame.time_epoch -e ip.src -e tcp.srcport -e ip.dst -e tcp.dstport \
		-e tcp.seq -e tcp.len -e tcp.flags.syn -e tcp.flags.ack -e tcp.flags.fin -e tcp.flags.reset -e tcp.payload |
	awk -v cap="$cap" -v stream="$s" '
	function ns(t,   a) { split(t, a, "."); return (a[1] - base1) * 1000000000 + (a[2] - base2) }
	NR == 1 {
		split($1, b, "."); base1 = b[1]; base2 = b[2]
		if ($8 == 1 && $9 == 0) { client = $2 ":" $3; server = $4 ":" $5; syn = "true" }
		else { client = $4 ":" $5; server = $2 ":" $3; syn = "false" }
		# without a SYN, the server is the side on the well-known port
		if (syn == "false" && ($3 == 5000 || $3 == 9292)) { client = $4 ":" $5; server = $2 ":" $3 } else if (syn == "false") { client = $2 ":" $3; server = $4 ":" $5 }
		printf "# %s.pcapng tcp.stream %s epoch %s\n", cap, stream, $1
		printf "# client %s server %s syn %s\n", client, server, syn
	}
	{
		dir = ($2 ":" $3 == client) ? "c" : "s"
		fl = ""
		if ($8 == 1) fl = fl "S"
		if ($10 == 1) fl = fl "F"
		if ($11 == 1) fl = fl "R"
		if (fl == "" && $7 == 0) next
		if (fl == "") fl = "-"
		hex = (NF >= 12 && $12 != "") ? $12 : "-"
		printf "%s %.0f %s %s %s %s\n", dir, ns($1), $6, $7, fl, hex
	}' > "$out"
	# big connections (image bodies) are stored gzipped
	if [ "$(wc -c < "$out")" -gt 65536 ]; then gzip -9nf "$out"; out=$out.gz; fi
	echo "$out"
done
