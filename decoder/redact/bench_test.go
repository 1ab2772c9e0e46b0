package redact

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/internal/memo"
)

// benchSQL are real statements of the shared captures (nova's instance
// INSERT, its 8 KB instance SELECT, an UPDATE, a keystone SELECT), and
// the INSERT with a user_data: what SQL's first sight of a text costs
// (the memo serves the repeats).
func benchSQL(b *testing.B) map[string]string {
	f, err := os.Open("testdata/bench-sql.jsonl")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	names := []string{"nova-insert", "nova-select", "nova-update", "keystone-select"}
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for i := 0; sc.Scan() && i < len(names); i++ {
		var q string
		if err := json.Unmarshal(sc.Bytes(), &q); err != nil {
			b.Fatal(err)
		}
		out[names[i]] = q
	}
	ins := out["nova-insert"]
	ud := strings.Replace(ins, ", 3, NULL, 'r-", ", 3, 'I2Nsb3VkLWNvbmZpZwpwYXNzd29yZDogaHVudGVyMgo=', 'r-", 1)
	if ud == ins {
		b.Fatal("no user_data position in the INSERT")
	}
	out["nova-insert-user-data"] = ud
	return out
}

// BenchmarkSQL is redactSQL (a memo miss) on each statement. The INSERTs'
// column list is read once and remembered (its values change from row to
// row, its names do not); "-new-list" cases give each iteration a list
// not seen for a while, as the first INSERT into each table is.
func BenchmarkSQL(b *testing.B) {
	p := New(&decoder.Secrets{Fields: []string{"password", "original_password", "new_password", "adminpass", "admin_password",
		"secret", "client_secret", "passcode", "token", "payload", "user_data", "OS-EXT-SRV-ATTR:user_data"}}, key)
	qs := benchSQL(b)
	for _, name := range []string{"nova-insert", "nova-insert-user-data", "nova-select", "nova-update", "keystone-select"} {
		q := qs[name]
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(q)))
			b.ReportAllocs()
			for b.Loop() {
				p.redactSQL(q)
			}
		})
	}
	for _, name := range []string{"nova-insert", "nova-insert-user-data"} {
		// more lists than the memo holds, cycled: every one is new to it
		var lists []string
		for i := range 2 * memo.MaxEntries {
			lists = append(lists, strings.Replace(qs[name], "(created_at,", fmt.Sprintf("(created_at%d,", i), 1))
		}
		b.Run(name+"-new-list", func(b *testing.B) {
			b.SetBytes(int64(len(qs[name])))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				p.redactSQL(lists[i%len(lists)])
				i++
			}
		})
	}
}
