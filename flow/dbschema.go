package flow

import (
	"strings"

	"github.com/flowmap/flowmap/decoder/mysql"
	"github.com/flowmap/flowmap/flow/registry"
)

// dbName is the DB lifeline of a MySQL node: its service's DB ("glance
// DB"), or for a service whose DB has several schemas (nova: nova_api and
// the cells) the schema the connection uses: its login's, else the one
// its queries' tables belong to ("nova_api DB"), else the service's.
func (b *builder) dbName(n *Node) string {
	owner := registry.DBOwner(n.caller)
	if !registry.HasSchemas(owner) {
		return owner + " DB"
	}
	if !b.schemasFound {
		b.schemasFound = true
		b.findSchemas()
	}
	if s := b.schemas[n.Ex.Conn.ID]; s != "" && registry.ByDBName(s) == owner {
		return s + " DB"
	}
	return owner + " DB"
}

// findSchemas decides each MySQL connection's schema: the one its login
// or COM_INIT_DB named, else the one most of its queries' tables belong
// to (a pooled connection serves one engine, one schema).
func (b *builder) findSchemas() {
	votes := map[int]map[string]int{}
	for _, e := range b.exs {
		req, ok := e.Request.(*mysql.Request)
		if !ok {
			continue
		}
		id := e.Conn.ID
		if req.Database != "" && (req.Command == "login" || req.Command == "COM_INIT_DB" || req.Command == "COM_CHANGE_USER") {
			b.schemas[id] = req.Database
			continue
		}
		owner := registry.DBOwner(b.caller[id])
		if !registry.HasSchemas(owner) {
			continue
		}
		at := 0
		for range 4 {
			t, end, ok := nextTable(req.Query, at)
			if !ok {
				break
			}
			if s := registry.Schema(owner, strings.ToLower(t)); s != "" {
				if votes[id] == nil {
					votes[id] = map[string]int{}
				}
				votes[id][s]++
				break
			}
			at = end
		}
	}
	for id, v := range votes {
		if _, ok := b.schemas[id]; !ok {
			b.schemas[id] = pickVote(v)
		}
	}
}
