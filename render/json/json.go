// Package json writes a flow.Model as JSON: participants, tokens (by
// fingerprint, never whole) and request trees. The field names are the
// contract documented in the README.
package json

import (
	"encoding/json"
	"io"

	"github.com/flowmap/flowmap/flow"
)

// Write writes m to w, indented.
func Write(w io.Writer, m *flow.Model) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if m.Roots == nil {
		m.Roots = []*flow.Node{}
	}
	if m.Tokens == nil {
		m.Tokens = []*flow.Token{}
	}
	if m.Participants == nil {
		m.Participants = []*flow.Participant{}
	}
	return enc.Encode(m)
}
