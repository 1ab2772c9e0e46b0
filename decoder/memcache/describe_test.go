package memcache

import (
	"strings"

	"github.com/flowmap/flowmap/decoder"
)

// describe renders an exchange in one line for table assertions:
// "request => response" plus " [truncated]" and notes in braces.
func describe(e *decoder.Exchange) string {
	var b strings.Builder
	if e.Request != nil {
		b.WriteString(e.Request.Summary())
	} else {
		b.WriteString("-")
	}
	b.WriteString(" => ")
	if e.Response != nil {
		b.WriteString(e.Response.Summary())
	} else {
		b.WriteString("-")
	}
	if e.Truncated {
		b.WriteString(" [truncated]")
	}
	for _, n := range e.Notes {
		b.WriteString(" {" + n + "}")
	}
	return b.String()
}
