package capture

import (
	"encoding/binary"

	"github.com/gopacket/gopacket/layers"
)

// Link types that are not named in gopacket's layers package, or are named
// differently there. The values are the LINKTYPE_/DLT_ numbers found in files.
const (
	linkNull     = 0   // BSD loopback: 4-byte address family in the writer's byte order
	linkEthernet = 1   // Ethernet II / 802.3
	linkDLTRaw12 = 12  // DLT_RAW on most systems
	linkDLTRaw14 = 14  // DLT_RAW on OpenBSD
	linkRaw      = 101 // LINKTYPE_RAW: bare IPv4 or IPv6
	linkLoop     = 108 // OpenBSD loopback: address family in network byte order
	linkSLL      = 113 // Linux cooked capture v1
	linkIPv4     = 228 // LINKTYPE_IPV4
	linkIPv6     = 229 // LINKTYPE_IPV6
	linkSLL2     = 276 // Linux cooked capture v2 (what `-i any` writes)
)

const (
	etherTypeIPv4  = 0x0800
	etherTypeIPv6  = 0x86DD
	etherTypeVLAN  = 0x8100 // 802.1Q
	etherTypeQinQ  = 0x88A8 // 802.1ad service tag
	etherTypeQinQ2 = 0x9100 // pre-standard QinQ
	// maxVLANTags bounds the tag stack walked in one frame; real frames carry
	// one or two.
	maxVLANTags = 8
)

// ipBounds finds the network layer inside frame, a frame of link type lt.
// It returns the start and end of the IPv4 or IPv6 packet (end trimmed to the
// IP length, so Ethernet padding is not part of it), or ok=false when the
// frame is not IP, is of an unknown link type, or is too short to tell.
func ipBounds(lt layers.LinkType, frame []byte) (start, end int, ok bool) {
	var etherType uint16
	switch lt {
	case linkEthernet:
		if len(frame) < 14 {
			return 0, 0, false
		}
		etherType = binary.BigEndian.Uint16(frame[12:14])
		start = 14
	case linkSLL:
		// packet type(2) ARPHRD(2) addr len(2) addr(8) protocol(2)
		if len(frame) < 16 {
			return 0, 0, false
		}
		etherType = binary.BigEndian.Uint16(frame[14:16])
		start = 16
	case linkSLL2:
		// protocol(2) reserved(2) ifindex(4) ARPHRD(2) packet type(1)
		// addr len(1) addr(8)
		if len(frame) < 20 {
			return 0, 0, false
		}
		etherType = binary.BigEndian.Uint16(frame[0:2])
		start = 20
	case linkRaw, linkDLTRaw12, linkDLTRaw14:
		return ipPacket(frame, 0, 0)
	case linkIPv4:
		return ipPacket(frame, 0, 4)
	case linkIPv6:
		return ipPacket(frame, 0, 6)
	case linkNull:
		if len(frame) < 4 {
			return 0, 0, false
		}
		// The family is in the byte order of the machine that wrote the
		// file, which the file does not record: try both.
		fam := binary.LittleEndian.Uint32(frame[0:4])
		if fam > 0xFFFF {
			fam = binary.BigEndian.Uint32(frame[0:4])
		}
		if v := familyVersion(fam); v != 0 {
			return ipPacket(frame, 4, v)
		}
		return 0, 0, false
	case linkLoop:
		if len(frame) < 4 {
			return 0, 0, false
		}
		if v := familyVersion(binary.BigEndian.Uint32(frame[0:4])); v != 0 {
			return ipPacket(frame, 4, v)
		}
		return 0, 0, false
	default:
		return 0, 0, false
	}
	// Ethernet-like: walk 802.1Q / 802.1ad tags.
	for i := 0; etherType == etherTypeVLAN || etherType == etherTypeQinQ || etherType == etherTypeQinQ2; i++ {
		if i == maxVLANTags || len(frame) < start+4 {
			return 0, 0, false
		}
		etherType = binary.BigEndian.Uint16(frame[start+2 : start+4])
		start += 4
	}
	switch etherType {
	case etherTypeIPv4:
		return ipPacket(frame, start, 4)
	case etherTypeIPv6:
		return ipPacket(frame, start, 6)
	}
	return 0, 0, false
}

// familyVersion maps a BSD address family to an IP version (0: not IP).
// AF_INET6 differs between systems: 10 Linux, 24 NetBSD/OpenBSD, 28 FreeBSD,
// 30 Darwin.
func familyVersion(fam uint32) int {
	switch fam {
	case 2:
		return 4
	case 10, 24, 28, 30:
		return 6
	}
	return 0
}

// ipPacket checks the IP header at frame[start:] and returns its bounds.
// want is the version the link layer announced (0: take it from the header).
// A header that is cut short by the snap length is still IP as long as the
// fixed part is there; end is then the end of the frame.
func ipPacket(frame []byte, start, want int) (int, int, bool) {
	if start > len(frame) || len(frame)-start < 1 {
		return 0, 0, false
	}
	ip := frame[start:]
	v := int(ip[0] >> 4)
	if want != 0 && v != want {
		return 0, 0, false
	}
	switch v {
	case 4:
		if len(ip) < 20 {
			return 0, 0, false
		}
		ihl := int(ip[0]&0x0F) * 4
		if ihl < 20 {
			return 0, 0, false
		}
		total := int(binary.BigEndian.Uint16(ip[2:4]))
		// total 0 is what TSO/GSO packets captured before segmentation
		// carry; keep the whole frame for them.
		if total >= ihl && total <= len(ip) {
			return start, start + total, true
		}
		return start, len(frame), true
	case 6:
		if len(ip) < 40 {
			return 0, 0, false
		}
		total := 40 + int(binary.BigEndian.Uint16(ip[4:6]))
		jumbo := total == 40 && ip[6] == 0 // payload length 0 + hop-by-hop: RFC 2675
		if !jumbo && total <= len(ip) {
			return start, start + total, true
		}
		return start, len(frame), true
	}
	return 0, 0, false
}
