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

// BenchmarkSQLMix is SQL, memo and all, on the traffic of a service whose
// client inlines every parameter (PyMySQL): 200 texts used again and
// again (nova's instance SELECT and UPDATE, keystone's project SELECT, for
// 200 ids), each use followed by 4 INSERTs seen once (a fresh uuid each).
// ns/op is per statement; hot-lost-% is the share of the 200's uses after
// their first that were computed again (the memo had lost them).
func BenchmarkSQLMix(b *testing.B) {
	qs := benchSQL(b)
	const uuid = "990e467d-75d5-4aaf-b3e9-6acc61bfdfc4"
	var hot []string
	for h := range 200 {
		id := fmt.Sprintf("%08x-75d5-4aaf-b3e9-6acc61bfdfc4", h)
		switch h % 3 {
		case 0:
			hot = append(hot, strings.ReplaceAll(qs["nova-select"], uuid, id))
		case 1:
			hot = append(hot, strings.ReplaceAll(qs["nova-update"], uuid, id))
		default:
			hot = append(hot, strings.Replace(qs["keystone-select"], "'Default'", "'"+id+"'", 1))
		}
	}
	// more INSERTs than the memo can hold, cycled: each new to it
	var once []string
	for i := range 4 * memo.MaxEntries {
		once = append(once, strings.ReplaceAll(qs["nova-insert"], uuid, fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)))
	}
	const oneShot = 4
	p := New(&decoder.Secrets{Fields: []string{"password", "secret", "token", "payload", "user_data"}}, key)
	b.ReportAllocs()
	i, hotUses, onceUses := 0, 0, 0
	for b.Loop() {
		if i%(1+oneShot) == 0 {
			p.SQL(hot[hotUses%len(hot)])
			hotUses++
		} else {
			p.SQL(once[onceUses%len(once)])
			onceUses++
		}
		i++
	}
	if again := hotUses - min(hotUses, len(hot)); again > 0 {
		b.ReportMetric(100*float64(p.sql.Misses-onceUses-min(hotUses, len(hot)))/float64(again), "hot-lost-%")
	}
}
