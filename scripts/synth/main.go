// Command synth writes a large synthetic capture for benchmarks: copies of
// a real capture one after the other, each shifted in time past the one
// before and moved to its own addresses (copy k: 10.0.20.11 becomes
// 10.k.20.11; IPv6 likewise in the second byte), so that no connection of
// one copy runs into another's. Frames are written as Ethernet in a
// nanosecond pcap. The output is for a temporary directory, never for the
// repository.
//
// With -silence PORT, the first connection to PORT in the first copy never
// finishes: its server's packets and its FINs and RSTs are left out, so its
// request waits for a reply to the end of the capture.
//
//	go run ./scripts/synth -in long.pcapng -out /tmp/x/big.pcap -size 1000000000
package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/flowmap/flowmap/decoder/capture"
)

func main() {
	in := flag.String("in", "", "capture to copy (pcap or pcapng, any link type)")
	out := flag.String("out", "", "pcap to write")
	size := flag.Int64("size", 1e9, "stop after the copy that reaches this many bytes")
	silence := flag.Int("silence", 0, "server port of a connection of the first copy that never finishes (0: none)")
	flag.Parse()
	if *in == "" || *out == "" {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*in, *out, *size, *silence); err != nil {
		fmt.Fprintln(os.Stderr, "synth:", err)
		os.Exit(1)
	}
}

func run(in, out string, size int64, silence int) error {
	first, last, err := span(in)
	if err != nil {
		return err
	}
	shift := last.Sub(first) + time.Second
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	w := pcapgo.NewWriterNanos(bw)
	if err := w.WriteFileHeader(262144, layers.LinkTypeEthernet); err != nil {
		return err
	}
	written := int64(24)
	frame := make([]byte, 0, 65536+14)
	silent := [2]netip.AddrPort{} // client, server of the silenced connection
	for k := 0; written < size && k < 256; k++ {
		r, err := capture.Open([]string{in}, capture.Options{NoMap: true})
		if err != nil {
			return err
		}
		for {
			p, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
			if len(p.IP) < 20 {
				continue
			}
			if k == 0 && silence > 0 && silenced(p.IP, uint16(silence), &silent) {
				continue
			}
			frame = append(frame[:0], make([]byte, 12)...)
			wire := 0
			switch p.IP[0] >> 4 {
			case 4:
				frame = append(frame, 0x08, 0x00)
				frame = append(frame, p.IP...)
				ip := frame[14:]
				ip[13] += byte(k) // source 10.x -> 10.x+k
				ip[17] += byte(k)
				wire = int(binary.BigEndian.Uint16(ip[2:4]))
			case 6:
				if len(p.IP) < 40 {
					continue
				}
				frame = append(frame, 0x86, 0xdd)
				frame = append(frame, p.IP...)
				ip := frame[14:]
				ip[9] += byte(k)
				ip[25] += byte(k)
				wire = 40 + int(binary.BigEndian.Uint16(ip[4:6]))
			default:
				continue
			}
			ci := gopacket.CaptureInfo{
				Timestamp:     p.Time.Add(time.Duration(k) * shift),
				CaptureLength: len(frame),
				Length:        max(len(frame), 14+wire),
			}
			if err := w.WritePacket(ci, frame); err != nil {
				return err
			}
			written += 16 + int64(len(frame))
		}
		r.Close()
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return f.Close()
}

// silenced reports whether ip belongs to the connection that must never
// finish: the first whose SYN goes to port (recorded in conn), and then its
// server's packets and its client's FINs and RSTs.
func silenced(ip []byte, port uint16, conn *[2]netip.AddrPort) bool {
	if ip[0]>>4 != 4 || ip[9] != 6 {
		return false
	}
	ihl := int(ip[0]&0x0f) * 4
	if len(ip) < ihl+14 {
		return false
	}
	tcp := ip[ihl:]
	src := netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip[12:16])), binary.BigEndian.Uint16(tcp[0:2]))
	dst := netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip[16:20])), binary.BigEndian.Uint16(tcp[2:4]))
	flags := tcp[13]
	if !conn[0].IsValid() && dst.Port() == port && flags&0x12 == 0x02 {
		conn[0], conn[1] = src, dst
	}
	switch {
	case !conn[0].IsValid():
		return false
	case src == conn[1] && dst == conn[0]:
		return true
	case src == conn[0] && dst == conn[1]:
		return flags&0x05 != 0 // FIN, RST
	}
	return false
}

// span is the time of the first and last packet of in.
func span(in string) (first, last time.Time, err error) {
	r, err := capture.Open([]string{in}, capture.Options{NoMap: true})
	if err != nil {
		return first, last, err
	}
	defer r.Close()
	for {
		p, err := r.Next()
		if errors.Is(err, io.EOF) {
			return first, last, nil
		}
		if err != nil {
			return first, last, err
		}
		if first.IsZero() {
			first = p.Time
		}
		if p.Time.After(last) {
			last = p.Time
		}
	}
}
