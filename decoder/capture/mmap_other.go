//go:build !unix

package capture

import "os"

// Files are read, not mapped, on systems without mmap.

func mapFile(*os.File, int64) []byte { return nil }

func unmapBytes([]byte) {}
