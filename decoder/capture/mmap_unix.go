//go:build unix

package capture

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mapFile maps size bytes of f read-only, or returns nil when it cannot
// (the file is then read). Its pages are to be read in order.
//
// MmapPtr, not Mmap: mapped.go unmaps the file a chunk at a time, which
// unix.Munmap refuses for part of a mapping.
func mapFile(f *os.File, size int64) []byte {
	if size <= 0 || size != int64(int(size)) {
		return nil
	}
	p, err := unix.MmapPtr(int(f.Fd()), 0, nil, uintptr(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil
	}
	b := unsafe.Slice((*byte)(p), int(size))
	_ = unix.Madvise(b, unix.MADV_SEQUENTIAL)
	return b
}

// unmapBytes unmaps b, pages of a mapping made by mapFile (its start is
// page-aligned; the kernel rounds its length up).
func unmapBytes(b []byte) {
	if len(b) > 0 {
		_ = unix.MunmapPtr(unsafe.Pointer(unsafe.SliceData(b)), uintptr(len(b)))
	}
}
