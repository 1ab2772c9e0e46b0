package capture

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/gopacket/gopacket/layers"
)

// TestLinkTypes locates the IP layer behind every supported link header,
// wrapping real IPv4 bytes from the seed capture; each malformed or non-IP
// case is named.
func TestLinkTypes(t *testing.T) {
	eth := firstFrame(t) // Ethernet, IPv4 TCP SYN
	ip4 := bytes.Clone(eth[14:])
	if ip4[0]>>4 != 4 || int(binary.BigEndian.Uint16(ip4[2:4])) != len(ip4) {
		t.Fatalf("first frame is not a plain IPv4 packet")
	}
	anyFrame := pcapgoRead(t, capPath("seed-image-list.any.pcapng"))[0].data
	// An IPv6 UDP packet: 40-byte header, 8-byte payload.
	ip6 := make([]byte, 48)
	ip6[0] = 0x60
	binary.BigEndian.PutUint16(ip6[4:], 8)
	ip6[6], ip6[7] = 17, 64
	ip6[8+15], ip6[24+15] = 1, 1 // ::1 -> ::1

	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	be16 := func(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
	be32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	le32 := func(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
	macs := eth[:12]
	tag := func(tpid uint16) []byte { return cat(be16(tpid), be16(42)) }
	sll := func(proto uint16) []byte { return cat(be16(0), be16(1), be16(6), make([]byte, 8), be16(proto)) }
	sll2 := func(proto uint16) []byte {
		return cat(be16(proto), be16(0), be32(8), be16(1), []byte{4, 6}, make([]byte, 8))
	}
	withTotal := func(ip []byte, total uint16) []byte {
		b := bytes.Clone(ip)
		binary.BigEndian.PutUint16(b[2:], total)
		return b
	}
	ipv6Jumbo := bytes.Clone(ip6)
	ipv6Jumbo[4], ipv6Jumbo[5], ipv6Jumbo[6] = 0, 0, 0

	tests := []struct {
		name  string
		lt    layers.LinkType
		frame []byte
		ip    []byte // nil: not IP
	}{
		{"ethernet", linkEthernet, eth, ip4},
		{"ethernet-padded", linkEthernet, cat(eth, make([]byte, 6)), ip4},
		{"ethernet-ipv6", linkEthernet, cat(macs, be16(etherTypeIPv6), ip6), ip6},
		{"ethernet-vlan", linkEthernet, cat(macs, tag(etherTypeVLAN), be16(etherTypeIPv4), ip4), ip4},
		{"ethernet-qinq", linkEthernet, cat(macs, tag(etherTypeQinQ), tag(etherTypeVLAN), be16(etherTypeIPv4), ip4), ip4},
		{"ethernet-qinq-9100", linkEthernet, cat(macs, tag(etherTypeQinQ2), tag(etherTypeVLAN), be16(etherTypeIPv6), ip6), ip6},
		{"ethernet-too-many-tags", linkEthernet, cat(macs, bytes.Repeat(tag(etherTypeVLAN), maxVLANTags+1), be16(etherTypeIPv4), ip4), nil},
		{"ethernet-vlan-cut", linkEthernet, cat(macs, be16(etherTypeVLAN), []byte{0}), nil},
		{"ethernet-arp", linkEthernet, cat(macs, be16(0x0806), make([]byte, 28)), nil},
		{"ethernet-says-ipv4-holds-ipv6", linkEthernet, cat(macs, be16(etherTypeIPv4), ip6), nil},
		{"ethernet-short", linkEthernet, eth[:13], nil},
		{"ethernet-header-only", linkEthernet, eth[:14], nil},
		{"sll", linkSLL, cat(sll(etherTypeIPv4), ip4), ip4},
		{"sll-vlan", linkSLL, cat(sll(etherTypeVLAN), be16(42), be16(etherTypeIPv4), ip4), ip4},
		{"sll-short", linkSLL, sll(etherTypeIPv4)[:15], nil},
		{"sll2-real", linkSLL2, anyFrame, anyFrame[20:]},
		{"sll2-ipv6", linkSLL2, cat(sll2(etherTypeIPv6), ip6), ip6},
		{"sll2-short", linkSLL2, anyFrame[:19], nil},
		{"sll2-not-ip", linkSLL2, cat(sll2(0x0806), make([]byte, 28)), nil},
		{"raw-ipv4", linkRaw, ip4, ip4},
		{"raw-ipv6", linkRaw, ip6, ip6},
		{"raw-version-5", linkRaw, cat([]byte{0x50}, ip4[1:]), nil},
		{"raw-empty", linkRaw, nil, nil},
		{"dlt-raw-12", linkDLTRaw12, ip4, ip4},
		{"dlt-raw-14", linkDLTRaw14, ip6, ip6},
		{"ipv4-linktype", linkIPv4, ip4, ip4},
		{"ipv4-linktype-holds-ipv6", linkIPv4, ip6, nil},
		{"ipv6-linktype", linkIPv6, ip6, ip6},
		{"ipv6-linktype-holds-ipv4", linkIPv6, ip4, nil},
		{"null-le-inet", linkNull, cat(le32(2), ip4), ip4},
		{"null-be-inet", linkNull, cat(be32(2), ip4), ip4},
		{"null-inet6-linux", linkNull, cat(le32(10), ip6), ip6},
		{"null-inet6-bsd", linkNull, cat(le32(24), ip6), ip6},
		{"null-inet6-freebsd", linkNull, cat(be32(28), ip6), ip6},
		{"null-inet6-darwin", linkNull, cat(le32(30), ip6), ip6},
		{"null-other-family", linkNull, cat(le32(7), ip4), nil},
		{"null-short", linkNull, []byte{2, 0, 0}, nil},
		{"loop-inet", linkLoop, cat(be32(2), ip4), ip4},
		{"loop-little-endian-is-not-loop", linkLoop, cat(le32(2), ip4), nil},
		{"loop-short", linkLoop, []byte{0, 0}, nil},
		{"unknown-linktype", 147, ip4, nil},
		{"ipv4-ihl-too-small", linkRaw, cat([]byte{0x44}, ip4[1:]), nil},
		{"ipv4-short", linkRaw, ip4[:19], nil},
		{"ipv4-snaplen-cut", linkRaw, ip4[:30], ip4[:30]},
		{"ipv4-total-zero-tso", linkRaw, withTotal(ip4, 0), withTotal(ip4, 0)},
		{"ipv4-total-beyond-frame", linkRaw, withTotal(ip4, 9000), withTotal(ip4, 9000)},
		{"ipv4-total-below-header", linkEthernet, cat(macs, be16(etherTypeIPv4), withTotal(ip4, 10), make([]byte, 4)), cat(withTotal(ip4, 10), make([]byte, 4))},
		{"ipv6-padded", linkEthernet, cat(macs, be16(etherTypeIPv6), ip6, make([]byte, 6)), ip6},
		{"ipv6-jumbo", linkRaw, cat(ipv6Jumbo, make([]byte, 8)), cat(ipv6Jumbo, make([]byte, 8))},
		{"ipv6-short", linkRaw, ip6[:39], nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, e, ok := ipBounds(tt.lt, tt.frame)
			if tt.ip == nil {
				if ok {
					t.Fatalf("found IP at [%d:%d], want none", s, e)
				}
				return
			}
			if !ok || !bytes.Equal(tt.frame[s:e], tt.ip) {
				t.Fatalf("ipBounds = %d, %d, %v; want the %d-byte IP packet", s, e, ok, len(tt.ip))
			}
		})
	}
}
