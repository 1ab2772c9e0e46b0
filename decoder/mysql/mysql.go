// Package mysql decodes the MySQL/MariaDB client/server protocol of one TCP
// connection into decoder.Exchanges: the login (greeting, handshake
// response, auth switch, OK/ERR) is one exchange, then one per command.
//
// It sits after decoder/tcp in flowmap's pipeline and is built in three
// layers: framing (frame.go: 3-byte length + sequence id, 16 MiB
// continuations, the compressed protocol), payloads (payload.go: greeting,
// handshake response, OK, ERR, ...; cursor.go holds the bounds-checked
// readers) and roles (conn.go: which side said what, result-set states,
// prepared statements, resynchronisation after gaps and on connections
// whose start was not captured).
//
// Auth data in the handshake, auth switch and COM_CHANGE_USER is never
// kept. Query text is kept as sent (flow matches its literals, and
// --show-secrets shows it); Redacted replaces the passwords in it
// (IDENTIFIED BY, PASSWORD(…), MASTER_PASSWORD=, …) through decoder/redact.
package mysql

import (
	"fmt"
	"strings"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/redact"
	"github.com/flowmap/flowmap/internal/line"
	"github.com/flowmap/flowmap/internal/memo"
)

// DefaultMaxQuery is how much query text is kept when Options.MaxQuery is 0.
const DefaultMaxQuery = 64 << 10

// Options tune the decoder.
type Options struct {
	// MaxQuery is how many bytes of query text are kept per command; longer
	// queries are cut there and their length reported in QueryBytes.
	// 0 means DefaultMaxQuery.
	MaxQuery int
	// Redact is the redaction policy messages' Redacted applies; nil
	// means the default one.
	Redact *redact.Policy

	// texts keeps one copy of each query text for all the connections of
	// a protocol (NewProtocol): services repeat a few hundred statements.
	texts *memo.Interner
}

func (o Options) maxQuery() int {
	if o.MaxQuery <= 0 {
		return DefaultMaxQuery
	}
	return o.MaxQuery
}

// Request is the client side of an exchange: the login or one command.
type Request struct {
	// Command is "login" or the command's name ("COM_QUERY", "COM_QUIT",
	// "COM_STMT_PREPARE", ...).
	Command string `json:"command"`
	// User is the login user; "" with UserKnown false on pooled connections
	// whose login was not captured.
	User      string `json:"user,omitempty"`
	UserKnown bool   `json:"user_known"`
	// Database is the schema asked for at login, by COM_INIT_DB or
	// COM_CHANGE_USER, or else the connection's current schema when known.
	Database string `json:"database,omitempty"`
	// Query is the SQL text (COM_QUERY, COM_STMT_PREPARE; for the other
	// COM_STMT_* the text of the prepared statement when its prepare was
	// captured; for COM_FIELD_LIST the table), at most Options.MaxQuery
	// bytes.
	Query string `json:"query,omitempty"`
	// QueryBytes is the full length of the query when Query was cut.
	QueryBytes  int     `json:"query_bytes,omitempty"`
	StatementID *uint32 `json:"statement_id,omitempty"`
	// Plugin is the auth plugin the login ended with.
	Plugin string `json:"auth_plugin,omitempty"`
	// ClientAttrs are the connect attributes, in wire order.
	ClientAttrs   [][2]string `json:"client_attrs,omitempty"`
	ServerVersion string      `json:"server_version,omitempty"`
	ConnectionID  uint32      `json:"connection_id,omitempty"`
	// TLS is set on a login that switched to TLS (SSLRequest); nothing after
	// it is decoded.
	TLS bool `json:"tls,omitempty"`
	// Compressed is set when the connection uses the compressed protocol.
	Compressed bool `json:"compressed,omitempty"`

	policy *redact.Policy // what Redacted treats as a credential, and how
}

// Response is the server side of an exchange.
type Response struct {
	// Result is "ok", "error", "rows", "eof", "local_infile", "auth_switch",
	// "auth_more_data" (a login that ended there), "statistics" or
	// "unknown".
	Result  string `json:"result"`
	Rows    *int64 `json:"rows,omitempty"`    // rows of all result sets
	Columns *int   `json:"columns,omitempty"` // columns of the first result set (prepare: of the statement)
	// AffectedRows, InsertID and Warnings come from the final OK (or EOF).
	AffectedRows *uint64 `json:"affected_rows,omitempty"`
	InsertID     *uint64 `json:"insert_id,omitempty"`
	Warnings     *uint16 `json:"warnings,omitempty"`
	ErrorCode    *uint16 `json:"error_code,omitempty"`
	SQLState     string  `json:"sql_state,omitempty"`
	Error        string  `json:"error,omitempty"`
	// Bytes is the payload bytes of the whole response (packet headers
	// excluded; uncompressed size on compressed connections).
	Bytes int64 `json:"bytes"`

	policy *redact.Policy // what Redacted treats as a credential, and how
}

// Summary is the command and its argument: the query cut to about 60
// characters with white space folded.
func (r *Request) Summary() string {
	switch {
	case r.Command == "login":
		s := "login " + r.User
		if !r.UserKnown || r.User == "" {
			s = "login ?"
		}
		if r.Database != "" {
			s += "@" + r.Database
		}
		if r.TLS {
			s += " (TLS)"
		}
		return s
	case r.Command == "COM_QUERY" && r.Query != "":
		return shorten(r.Query, 60)
	case r.Query != "":
		return r.Command + " " + shorten(r.Query, 60)
	case r.Command == "COM_INIT_DB" && r.Database != "":
		return r.Command + " " + r.Database
	case r.StatementID != nil:
		return fmt.Sprintf("%s #%d", r.Command, *r.StatementID)
	}
	return r.Command
}

// Redacted returns a copy whose SQL text has its passwords and shaped
// credentials replaced by the redaction policy (decoder/redact), and its
// connect attributes' values checked by shape; the receiver when there is
// none. The decoder keeps the SQL as sent (flow matches its literals) and
// never keeps the login's auth data.
func (r *Request) Redacted() decoder.Message {
	p := r.policy
	if p.Shows() {
		return r
	}
	q := p.SQL(r.Query)
	var attrs [][2]string
	for i, kv := range r.ClientAttrs {
		v := p.Header(kv[0], kv[1])
		if v == kv[1] {
			continue
		}
		if attrs == nil {
			attrs = append([][2]string(nil), r.ClientAttrs...)
		}
		attrs[i][1] = v
	}
	if q == r.Query && attrs == nil {
		return r
	}
	c := *r
	c.Query = q
	if attrs != nil {
		c.ClientAttrs = attrs
	}
	return &c
}

// Summary is "ok", "42 rows", "error 1045", or the Result.
func (r *Response) Summary() string {
	switch r.Result {
	case "rows":
		if r.Rows != nil {
			if *r.Rows == 1 {
				return "1 row"
			}
			return fmt.Sprintf("%d rows", *r.Rows)
		}
	case "error":
		if r.ErrorCode != nil {
			return fmt.Sprintf("error %d", *r.ErrorCode)
		}
	}
	return r.Result
}

// Redacted returns a copy whose error text (which may quote the query) is
// redacted like SQL, or the receiver.
func (r *Response) Redacted() decoder.Message {
	p := r.policy
	if p.Shows() {
		return r
	}
	e := redactError(p, r.Error)
	if e == r.Error {
		return r
	}
	c := *r
	c.Error = e
	return &c
}

// redactError redacts an error message: the query fragment it quotes
// ("… near 'IDENTIFIED BY 'x” at line 1", quotes not escaped) as SQL of
// its own, then the whole text.
func redactError(p *redact.Policy, e string) string {
	const near = "near '"
	if i := strings.Index(e, near); i >= 0 {
		rest := e[i+len(near):]
		j := strings.LastIndex(rest, "' at line")
		if j < 0 {
			j = len(rest)
		}
		if f := p.SQL(rest[:j]); f != rest[:j] {
			e = e[:i+len(near)] + f + rest[j:]
		}
	}
	return p.SQL(e)
}

// shorten folds runs of white space to one space and cuts s to n
// characters, marking the cut with "...".
func shorten(s string, n int) string {
	var b strings.Builder
	count := 0
	// n+1 characters take at most 4(n+1) bytes: enough to know
	line.Words(s, 4*(n+1), func(f string) bool {
		if b.Len() > 0 {
			if count >= n {
				b.WriteString("...")
				return false
			}
			b.WriteByte(' ')
			count++
		}
		for _, r := range f {
			if count >= n {
				b.WriteString("...")
				return false
			}
			b.WriteRune(r)
			count++
		}
		return true
	})
	return b.String()
}

// NewProtocol returns the protocol the TCP layer registers: it recognises a
// server greeting (protocol 10), a HandshakeResponse41 and, mid-stream, a
// client command packet that fills exactly the first bytes seen.
func NewProtocol(opts Options) decoder.Protocol {
	opts.texts = &memo.Interner{}
	return decoder.Protocol{
		Name:  "mysql",
		Sniff: Sniff,
		Port:  func(port uint16) bool { return port == 3306 || port == 3307 },
		New: func(c *decoder.Conn, emit decoder.Emit) decoder.StreamDecoder {
			return New(c, emit, opts)
		},
	}
}

// Sniff is the decoder.Protocol Sniff function of NewProtocol.
func Sniff(c *decoder.Conn, dir decoder.Dir, first []byte) decoder.Verdict {
	if dir == decoder.ServerToClient {
		return sniffGreeting(first)
	}
	if v := sniffHandshakeResponse(first); v != decoder.No {
		return v
	}
	if c != nil && c.SawSYN {
		return decoder.No
	}
	if len(first) < 5 {
		return decoder.NeedMore
	}
	n, ok := commandCandidate(first, false)
	if ok == candYes && n == len(first) {
		return decoder.Yes
	}
	if ok == candMore && len(first) < 64 {
		return decoder.NeedMore
	}
	return decoder.No
}

// sniffGreeting recognises a HandshakeV10 packet: 3-byte length, sequence 0,
// protocol 10 and a NUL-terminated printable server version.
func sniffGreeting(b []byte) decoder.Verdict {
	if len(b) < 5 {
		if len(b) >= 4 && b[3] != 0 {
			return decoder.No
		}
		return decoder.NeedMore
	}
	n := int(le24(b))
	if b[3] != 0 || b[4] != 10 || n < 32 || n > 4096 {
		return decoder.No
	}
	end := min(len(b), 4+n)
	for i := 5; i < end; i++ {
		switch c := b[i]; {
		case c == 0:
			if i == 5 {
				return decoder.No
			}
			return decoder.Yes
		case c < 0x20 || c > 0x7e:
			return decoder.No
		case i-5 > 255:
			return decoder.No
		}
	}
	if end < 4+n {
		return decoder.NeedMore
	}
	return decoder.No
}

// sniffHandshakeResponse recognises a HandshakeResponse41 (or SSLRequest):
// sequence 1, CLIENT_PROTOCOL_41 and the 19 zero filler bytes.
func sniffHandshakeResponse(b []byte) decoder.Verdict {
	if len(b) < 4 {
		return decoder.NeedMore
	}
	n := int(le24(b))
	if b[3] != 1 || n < 32 || n > 1<<16 {
		return decoder.No
	}
	if len(b) < 4+32 {
		return decoder.NeedMore
	}
	caps := le32(b[4:])
	if caps&clientProtocol41 == 0 {
		return decoder.No
	}
	for _, c := range b[4+9 : 4+9+19] {
		if c != 0 {
			return decoder.No
		}
	}
	return decoder.Yes
}

// Policy is the redaction policy Redacted applies (nil: the default one),
// for printers that redact text of their own that quotes the message.
func (r *Request) Policy() *redact.Policy { return r.policy }

// Policy: see Request.Policy.
func (r *Response) Policy() *redact.Policy { return r.policy }
