package http

import (
	"testing"

	"github.com/flowmap/flowmap/decoder"
)

// benchFixture decodes one real connection per iteration, fed segment by
// segment as decoder/tcp does; SetBytes counts both directions' payload.
func benchFixture(b *testing.B, name string) {
	fx := loadFixture(b, name)
	var n int64
	for _, s := range fx.segs {
		n += int64(len(s.data))
	}
	b.SetBytes(n)
	b.ReportAllocs()
	emitted := 0
	emit := func(*decoder.Exchange) { emitted++ }
	b.ResetTimer()
	for b.Loop() {
		fx.feed(New(&fx.conn, emit, Options{}))
	}
	if emitted == 0 {
		b.Fatal("nothing decoded")
	}
}

// BenchmarkDecoder: the glance keep-alive connection of tiny-save, four
// exchanges ending with a 212,992-byte image download (skipped by length).
func BenchmarkDecoder(b *testing.B) { benchFixture(b, "tiny-save.4") }

// BenchmarkDecoderChunkedUpload: glanceclient's chunked 323,584-byte PUT.
func BenchmarkDecoderChunkedUpload(b *testing.B) { benchFixture(b, "glanceclient-upload.9") }

// BenchmarkDecoderKeystoneToken: one POST /v3/auth/tokens with its
// close-delimited 201 (JSON bodies kept): the per-message cost.
func BenchmarkDecoderKeystoneToken(b *testing.B) { benchFixture(b, "seed-image-list.1") }

// BenchmarkRedact: fingerprinting the credentials of a token request and
// of its response.
func BenchmarkRedact(b *testing.B) {
	out, _ := decode(b, "seed-image-list.1", Options{})
	r, s := out[0].Request, out[0].Response
	b.ReportAllocs()
	for b.Loop() {
		_ = r.Redacted()
		_ = s.Redacted()
	}
}
