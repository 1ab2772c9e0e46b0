package flow

import "github.com/flowmap/flowmap/decoder/http"

// Headers are the headers of n's request and answer as sent, in order,
// with credentials replaced by their fingerprints (the decoder's
// redaction, as in every output); nil for protocols without headers. They
// are computed on each call, for printers that show one exchange at a
// time (the report's details).
func (n *Node) Headers() (request, response [][2]string) {
	if n.Ex == nil {
		return nil, nil
	}
	if r, ok := n.Ex.Request.(*http.Request); ok && r != nil {
		if rr, ok := r.Redacted().(*http.Request); ok {
			request = rr.Headers
		}
	}
	if r, ok := n.Ex.Response.(*http.Response); ok && r != nil {
		if rr, ok := r.Redacted().(*http.Response); ok {
			response = rr.Headers
		}
	}
	return request, response
}
