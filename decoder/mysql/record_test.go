package mysql

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var record = flag.Bool("record", false, "start a throwaway mariadbd, drive it with real clients through a recording proxy and rewrite testdata/streams/rec-*.stream")

// recordPort is the throwaway server's port (loopback only).
const recordPort = "23306"

// TestRecord records real MariaDB traffic for the tests: the mariadb and
// mariadb-admin clients (plain, --compress, bad password, ed25519 auth
// switch, LOCAL INFILE, 16 MiB packets) and DBD::MariaDB with server-side
// prepared statements. It needs mariadb-server, mariadb-client and
// libdbd-mariadb-perl, and runs only with -record.
func TestRecord(t *testing.T) {
	if !*record {
		t.Skip("run with -record to re-record testdata/streams/rec-*")
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "mysqld.sock")
	datadir := filepath.Join(dir, "data")
	run := func(name string, args ...string) {
		t.Helper()
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
	}
	run("mariadb-install-db", "--no-defaults", "--user=root", "--datadir="+datadir,
		"--auth-root-authentication-method=normal", "--skip-test-db")
	srv := exec.Command("mariadbd", "--no-defaults", "--user=root", "--datadir="+datadir,
		"--socket="+sock, "--port="+recordPort, "--bind-address=127.0.0.1",
		"--pid-file="+filepath.Join(dir, "pid"), "--log-error="+filepath.Join(dir, "err.log"),
		"--innodb-buffer-pool-size=16M", "--max-allowed-packet=64M", "--skip-name-resolve")
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		srv.Process.Signal(os.Interrupt)
		srv.Wait()
	}()
	for i := 0; ; i++ {
		if exec.Command("mariadb-admin", "--no-defaults", "--socket="+sock, "-uroot", "ping").Run() == nil {
			break
		}
		if i > 100 {
			log, _ := os.ReadFile(filepath.Join(dir, "err.log"))
			t.Fatalf("mariadbd did not start:\n%s", log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	run("mariadb", "--no-defaults", "--socket="+sock, "-uroot", "-e",
		"INSTALL SONAME 'auth_ed25519';"+
			"CREATE DATABASE flowdb;"+
			"CREATE USER 'flow'@'%' IDENTIFIED BY 'flowpass';"+
			"GRANT ALL PRIVILEGES ON *.* TO 'flow'@'%' WITH GRANT OPTION;"+
			"CREATE USER 'edu'@'%' IDENTIFIED VIA ed25519 USING PASSWORD('edpass');"+
			"GRANT SELECT ON flowdb.* TO 'edu'@'%';")

	p := newRecProxy(t, "127.0.0.1:"+recordPort)
	port := p.port()
	cli := func(name string, stdin string, args ...string) {
		t.Helper()
		p.name(name)
		base := []string{"--no-defaults", "-h127.0.0.1", "-P" + port}
		cmd := exec.Command(args[0], append(base, args[1:]...)...)
		if stdin != "" {
			cmd.Stdin = strings.NewReader(stdin)
		}
		out, err := cmd.CombinedOutput()
		t.Logf("%s: %v\n%s", name, err, cut(string(out))+grepErrors(string(out)))
		p.wait()
	}
	csv := filepath.Join(dir, "rows.csv")
	os.WriteFile(csv, []byte("10,ten\n11,eleven\n12,twelve\n"), 0o644)

	cli("rec-cli-errors", "SELECT 1;\nSELEC oops;\nSELECT * FROM nosuch;\n"+
		"CREATE TABLE t (id INT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(20));\n"+
		"INSERT INTO t (v) VALUES ('a'),('b'),('c');\nSELECT * FROM t;\nINSERT INTO t VALUES (1,'dup');\n"+
		"PREPARE s FROM 'SELECT v FROM t WHERE id=?';\nSET @i=2;\nEXECUTE s USING @i;\nDEALLOCATE PREPARE s;\n"+
		"CREATE USER 'tmp'@'localhost' IDENTIFIED BY 'hunter2';\nSET PASSWORD FOR 'tmp'@'localhost' = PASSWORD('hunter3');\n"+
		"DROP USER 'tmp'@'localhost';\nUSE mysql;\nSELECT DATABASE();\nSELECT COUNT(*) FROM flowdb.t;\n",
		"mariadb", "-uflow", "-pflowpass", "--force", "flowdb")
	cli("rec-cli-compress", "SELECT 1;\nSELECT REPEAT('x', 70000) AS big;\nSELECT seq, REPEAT('z', seq % 50) FROM seq_1_to_3000;\n"+
		"SELEC bad;\nSELECT * FROM t;\nINSERT INTO t (v) VALUES ('zip');\n",
		"mariadb", "-uflow", "-pflowpass", "--compress", "--force", "flowdb")
	cli("rec-cli-badpass", "", "mariadb", "-uflow", "-pwrong", "flowdb", "-e", "SELECT 1")
	cli("rec-cli-ed25519", "", "mariadb", "-uedu", "-pedpass", "flowdb", "-e", "SELECT CURRENT_USER(); SELECT * FROM t")
	cli("rec-cli-infile", "LOAD DATA LOCAL INFILE '"+csv+"' INTO TABLE t FIELDS TERMINATED BY ',' (id, v);\n"+
		"LOAD DATA LOCAL INFILE '/nonexistent/flowmap.csv' INTO TABLE t;\nSELECT COUNT(*) FROM t;\n",
		"mariadb", "-uflow", "-pflowpass", "--local-infile=1", "--force", "flowdb")
	cli("rec-admin", "", "mariadb-admin", "-uflow", "-pflowpass", "ping", "status", "processlist")
	big := strings.Repeat("q", 17<<20)
	cli("rec-cli-big", "SELECT LENGTH('"+big+"') AS n;\nSELECT REPEAT('y', 17000000) AS big;\nSELECT 2;\n",
		"mariadb", "-uflow", "-pflowpass", "--max-allowed-packet=64M", "flowdb")

	p.name("rec-perl-prepared")
	out, err := exec.Command("perl", filepath.Join("testdata", "record", "prepared.pl"), port).CombinedOutput()
	t.Logf("perl: %v\n%s", err, out)
	p.wait()
	p.close()
}

// recProxy forwards loopback connections to the server and records both
// directions, one file per connection.
type recProxy struct {
	t     *testing.T
	ln    net.Listener
	up    string
	mu    sync.Mutex
	label string
	n     int
	wg    sync.WaitGroup
}

func newRecProxy(t *testing.T, upstream string) *recProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &recProxy{t: t, ln: ln, up: upstream}
	go p.serve()
	return p
}

func (p *recProxy) port() string {
	_, port, _ := net.SplitHostPort(p.ln.Addr().String())
	return port
}

func (p *recProxy) name(s string) {
	p.mu.Lock()
	p.label, p.n = s, 0
	p.mu.Unlock()
}

func (p *recProxy) wait()  { p.wg.Wait() }
func (p *recProxy) close() { p.ln.Close() }

func (p *recProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		name := p.label
		if p.n > 0 {
			name = fmt.Sprintf("%s-%d", name, p.n)
		}
		p.n++
		p.mu.Unlock()
		p.wg.Add(1)
		go p.conn(c, name)
	}
}

// conn relays one connection and writes its recording when both sides end.
func (p *recProxy) conn(c net.Conn, name string) {
	defer p.wg.Done()
	defer c.Close()
	s, err := (&net.Dialer{}).DialContext(context.Background(), "tcp", p.up)
	if err != nil {
		p.t.Error(err)
		return
	}
	defer s.Close()
	var mu sync.Mutex
	var lines bytes.Buffer
	relay := func(dst, src net.Conn, dir string, done chan<- struct{}) {
		buf := make([]byte, 64<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				mu.Lock()
				now := time.Now()
				fmt.Fprintf(&lines, "%d.%09d %s %s\n", now.Unix(), now.Nanosecond(), dir, hex.EncodeToString(buf[:n]))
				mu.Unlock()
				if _, werr := dst.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		if tc, ok := dst.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
		close(done)
	}
	d1, d2 := make(chan struct{}), make(chan struct{})
	go relay(s, c, "c", d1)
	go relay(c, s, "s", d2)
	<-d1
	<-d2
	path := filepath.Join("testdata", "streams", name+".stream")
	data := lines.Bytes()
	if len(data) > 1<<20 {
		var z bytes.Buffer
		w, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
		w.Write(data)
		w.Close()
		path += ".gz"
		data = z.Bytes()
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		p.t.Error(err)
	}
}

// openStream opens a recorded stream, gzipped or not.
func openStream(name string) (io.ReadCloser, error) {
	base := filepath.Join("testdata", "streams", name+".stream")
	if f, err := os.Open(base); err == nil {
		return f, nil
	}
	f, err := os.Open(base + ".gz")
	if err != nil {
		return nil, err
	}
	z, err := gzip.NewReader(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{z, f}, nil
}

func grepErrors(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "ERROR") {
			out = append(out, l)
		}
	}
	return "\n" + strings.Join(out, "\n")
}
