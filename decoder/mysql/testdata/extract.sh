#!/bin/sh
# extract.sh rewrites the real MySQL streams under streams/ from the committed
# captures: one line per TCP segment with payload, "<epoch> <c|s> <hex>", in
# capture order (one connection lives on one interface, so that order holds).
# Run from decoder/mysql/testdata: sh extract.sh
set -eu
caps=../../../testdata/captures
x() { # capture stream name
	tshark -r "$caps/$1.pcapng" -Y "tcp.stream==$2 && tcp.len>0" \
		-T fields -e frame.time_epoch -e tcp.srcport -e tcp.payload 2>/dev/null |
		awk '{ print $1, ($2 == 3306 ? "s" : "c"), $3 }' > "streams/$3.stream"
}
x seed-image-list 2 seed-image-list-2
x seed-image-list 7 seed-image-list-7
x seed-image-list 9 seed-image-list-9
x concurrent 43 concurrent-43
x concurrent 44 concurrent-44
x keystone-only 1 keystone-only-1
x keystone-only 3 keystone-only-3
