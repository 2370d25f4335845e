// Package pgtest gives tests PostgreSQL databases of their own: a fresh
// schema or database on the server named by CUSTOMERD_TEST_POSTGRES_URL, or a
// throwaway cluster that a test may stop and start.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the variable that points the tests at a PostgreSQL server.
const EnvURL = "CUSTOMERD_TEST_POSTGRES_URL"

// URL returns the test server's URL, or skips t with how to provide one.
func URL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvURL)
	if u == "" {
		t.Skip("PostgreSQL tests skipped: " + howToRun)
	}
	return u
}

// UniqueName returns prefix followed by random lowercase hex: a name that no
// other test, and no other engineer sharing the server, uses.
func UniqueName(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// WithParam returns dbURL with the query parameter key set to value. pgx
// sends unknown parameters (search_path, default_transaction_isolation) to
// the server as run-time settings of every connection.
func WithParam(t testing.TB, dbURL, key, value string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatalf("parse %s: %v", EnvURL, err)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

// Exec runs statements on dbURL over a connection of its own.
func Exec(t testing.TB, dbURL string, statements ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("connect to PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	for _, s := range statements {
		if _, err := conn.Exec(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// NewSchema creates an empty schema in the test database and returns a URL
// whose connections use it alone (search_path). It is dropped when t ends.
func NewSchema(t testing.TB) string {
	t.Helper()
	base := URL(t)
	name := UniqueName("cdpg_")
	Exec(t, base, `CREATE SCHEMA `+name)
	t.Cleanup(func() { Exec(t, base, `DROP SCHEMA IF EXISTS `+name+` CASCADE`) })
	return WithParam(t, base, "search_path", name)
}

// NewDatabase creates an empty database on the test server and returns its
// URL. It is dropped when t ends, closing any connection still open to it.
func NewDatabase(t testing.TB) string {
	t.Helper()
	base := URL(t)
	name := UniqueName("cdpg_")
	Exec(t, base, `CREATE DATABASE `+name)
	t.Cleanup(func() { Exec(t, base, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`) })
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// BinDir is where Debian installs PostgreSQL 15's server programs.
const BinDir = "/usr/lib/postgresql/15/bin"

// Cluster is a PostgreSQL cluster of a test's own, on a free loopback port,
// that the test may stop and start.
type Cluster struct {
	t      testing.TB
	dir    string // owned by the postgres user
	port   int
	frozen []int // processes stopped by Freeze
}

// StartCluster creates and starts a throwaway cluster with initdb and pg_ctl,
// run as the postgres OS user. It skips t when that is not possible here:
// without the server programs, without a postgres user, or when not root.
// The cluster is stopped and removed when t ends.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	initdb := filepath.Join(BinDir, "initdb")
	if _, err := os.Stat(initdb); err != nil {
		t.Skipf("throwaway PostgreSQL cluster skipped: %s not found (apt-get install postgresql-15)", initdb)
	}
	pgUser, err := user.Lookup("postgres")
	if err != nil {
		t.Skipf("throwaway PostgreSQL cluster skipped: no postgres OS user: %v", err)
	}
	if os.Geteuid() != 0 {
		t.Skip("throwaway PostgreSQL cluster skipped: must run as root to run initdb as the postgres user")
	}
	if _, err := exec.LookPath("runuser"); err != nil {
		t.Skip("throwaway PostgreSQL cluster skipped: runuser not found")
	}
	// Not t.TempDir: its parent is private to root, and the postgres user
	// must reach the data directory.
	dir, err := os.MkdirTemp("", "cdpg-cluster-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	uid, _ := strconv.Atoi(pgUser.Uid)
	gid, _ := strconv.Atoi(pgUser.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	c := &Cluster{t: t, dir: dir, port: freePort(t)}
	c.pg(initdb, "-D", c.dataDir(), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8")
	c.Start()
	t.Cleanup(func() {
		c.Thaw()
		// Best effort: the test may have left it stopped.
		cmd := exec.Command("runuser", "-u", "postgres", "--", filepath.Join(BinDir, "pg_ctl"),
			"-D", c.dataDir(), "-m", "immediate", "-w", "stop")
		_ = cmd.Run()
	})
	return c
}

func (c *Cluster) dataDir() string { return filepath.Join(c.dir, "data") }

// pg runs a PostgreSQL program as the postgres user and fails the test with
// its output when it fails.
func (c *Cluster) pg(program string, args ...string) {
	c.t.Helper()
	cmd := exec.Command("runuser", append([]string{"-u", "postgres", "--", program}, args...)...)
	cmd.Dir = c.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "server.log"))
		c.t.Fatalf("%s %v: %v\n%s\nserver log:\n%s", filepath.Base(program), args, err, out, log)
	}
}

// Start starts the cluster and waits until it accepts connections.
func (c *Cluster) Start() {
	c.t.Helper()
	opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -c unix_socket_directories=%s -c fsync=off", c.port, c.dir)
	c.pg(filepath.Join(BinDir, "pg_ctl"), "-D", c.dataDir(), "-l", filepath.Join(c.dir, "server.log"),
		"-o", opts, "-w", "-t", "60", "start")
}

// Stop stops the cluster in "fast" mode: open sessions are terminated, as
// when an operator or a failover takes the database away.
func (c *Cluster) Stop() {
	c.t.Helper()
	c.pg(filepath.Join(BinDir, "pg_ctl"), "-D", c.dataDir(), "-m", "fast", "-w", "-t", "60", "stop")
}

// Freeze stops (SIGSTOP) the postmaster and every server process under it:
// the port still completes TCP handshakes, but nothing answers, as when the
// database host or the network path hangs. Thaw undoes it.
func (c *Cluster) Freeze() {
	c.t.Helper()
	pidFile, err := os.ReadFile(filepath.Join(c.dataDir(), "postmaster.pid"))
	if err != nil {
		c.t.Fatal(err)
	}
	postmaster, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(pidFile), "\n", 2)[0]))
	if err != nil {
		c.t.Fatalf("postmaster.pid: %v", err)
	}
	// The postmaster first, so that it starts no new process meanwhile.
	c.signal(postmaster, syscall.SIGSTOP)
	for _, pid := range children(postmaster) {
		c.signal(pid, syscall.SIGSTOP)
	}
}

func (c *Cluster) signal(pid int, sig syscall.Signal) {
	c.t.Helper()
	if err := syscall.Kill(pid, sig); err != nil {
		c.t.Fatalf("signal %d: %v", pid, err)
	}
	c.frozen = append(c.frozen, pid)
}

// Thaw resumes the processes Freeze stopped.
func (c *Cluster) Thaw() {
	for _, pid := range c.frozen {
		_ = syscall.Kill(pid, syscall.SIGCONT)
	}
	c.frozen = nil
}

// children returns the processes whose parent is pid, from /proc.
func children(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// "pid (comm) state ppid ...": comm may hold spaces, so split after ')'.
		i := strings.LastIndexByte(string(stat), ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(stat[i+1:]))
		if len(fields) >= 2 && fields[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out
}

// URL returns the URL of the cluster's postgres database.
func (c *Cluster) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
