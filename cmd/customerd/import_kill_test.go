//go:build unix

package main

import (
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"customerd/internal/binarytest"
	"customerd/internal/syncbuf"
)

// killN is how many rows the file of a kill test holds.
const killN = 60000

// killFixture makes a database with merchant m1 and a file of killN rows
// for the import kill tests, and returns the binary, the database's path,
// the environment naming it and the file.
func killFixture(t *testing.T) (bin, dbPath string, env []string, file string) {
	t.Helper()
	bin = customerdBinary(t)
	dir := t.TempDir()
	dbPath = filepath.Join(dir, "c.db")
	env = append(binarytest.ChildEnv(), "CUSTOMERD_DB=sqlite:"+dbPath)
	mk := exec.Command(bin, "merchant", "create", "m1")
	mk.Env = env
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("merchant create: %v\n%s", err, out)
	}
	var b strings.Builder
	for i := range killN {
		b.WriteString(juspayLine(i) + "\n")
	}
	file = filepath.Join(dir, "juspay.ndjson")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return bin, dbPath, env, file
}

// killWhen kills the running import with SIGKILL as soon as ready
// reports true, and fails the test if that takes a minute.
func killWhen(t *testing.T, imp *exec.Cmd, stderr *syncbuf.Buffer, what string, ready func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !ready() {
		if time.Now().After(deadline) {
			imp.Process.Kill()
			t.Fatalf("the import %s in a minute:\n%s", what, stderr.String())
		}
		time.Sleep(2 * time.Millisecond)
	}
	if err := imp.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	imp.Wait()
}

// TestImportKilledMidwayResumesWithEveryRowOnce kills a real import with
// SIGKILL while it commits, runs it again, and finds every row of the file
// stored exactly once, with exactly one customer.created event.
func TestImportKilledMidwayResumesWithEveryRowOnce(t *testing.T) {
	bin, dbPath, env, file := killFixture(t)
	const n = killN

	conn, err := sql.Open("sqlite", "file:"+dbPath+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	count := func(q string) int {
		var c int
		if err := conn.QueryRow(q).Scan(&c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	// This process has the database open, as a server would: the import
	// sees it, and commits a batch at a time rather than in one transaction.
	if err := conn.Ping(); err != nil {
		t.Fatal(err)
	}
	imp := exec.Command(bin, "import", "--merchant", "m1", "--progress", "log", file)
	imp.Env = env
	var stderr syncbuf.Buffer
	imp.Stderr = &stderr
	if err := imp.Start(); err != nil {
		t.Fatal(err)
	}
	killWhen(t, imp, &stderr, "committed nothing", func() bool { return count(`SELECT COUNT(*) FROM customers`) >= 2000 })
	if !strings.Contains(stderr.String(), "another process has the database open") {
		t.Fatalf("the import did not see the database open in this process:\n%s", stderr.String())
	}
	partial := count(`SELECT COUNT(*) FROM customers`)
	if partial >= n {
		t.Fatalf("the import finished before the kill (%d rows): the file is too small for this machine", partial)
	}
	if events := count(`SELECT COUNT(*) FROM events`); events != partial {
		t.Fatalf("after the kill: %d customers, %d events", partial, events)
	}

	rerun := exec.Command(bin, "import", "--merchant", "m1", file)
	rerun.Env = env
	out, err := rerun.CombinedOutput()
	if err != nil {
		t.Fatalf("rerun: %v\n%s", err, out)
	}
	want := fmt.Sprintf("%d imported, %d already present", n-partial, partial)
	if !strings.Contains(string(out), want) {
		t.Fatalf("rerun after %d rows: want %q in\n%s", partial, want, out)
	}
	if c, e := count(`SELECT COUNT(*) FROM customers`), count(`SELECT COUNT(*) FROM events WHERE type = 'customer.created'`); c != n || e != n {
		t.Fatalf("%d customers and %d customer.created events, want %d of each", c, e, n)
	}
	if d := count(`SELECT COUNT(DISTINCT id) FROM customers WHERE id BETWEEN 'cst_0000000000000000' AND 'cst_9999999999999999'`); d != n {
		t.Fatalf("%d of the file's ids stored", d)
	}
}

// TestBulkImportKilledMidwayLeavesNothingAndResumes kills a real import
// with SIGKILL while it loads an empty database in one transaction: the
// database is as it was, with every index, and the same command run again
// imports every row once.
func TestBulkImportKilledMidwayLeavesNothingAndResumes(t *testing.T) {
	bin, dbPath, env, file := killFixture(t)
	const n = killN

	// No connection of this process may have the database open while the
	// import runs: it would load a batch at a time.
	imp := exec.Command(bin, "import", "--merchant", "m1", "--progress", "log", file)
	imp.Env = env
	var stderr syncbuf.Buffer
	imp.Stderr = &stderr
	if err := imp.Start(); err != nil {
		t.Fatal(err)
	}
	killWhen(t, imp, &stderr, "wrote nothing", func() bool {
		// The load's pages reach the WAL as the page cache spills them.
		st, err := os.Stat(dbPath + "-wal")
		return err == nil && st.Size() > 8<<20
	})
	if !strings.Contains(stderr.String(), "loading in one transaction") {
		t.Fatalf("the import did not load in one transaction:\n%s", stderr.String())
	}

	conn, err := sql.Open("sqlite", "file:"+dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	count := func(q string) int {
		var c int
		if err := conn.QueryRow(q).Scan(&c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	if c, e := count(`SELECT COUNT(*) FROM customers`), count(`SELECT COUNT(*) FROM events`); c != 0 || e != 0 {
		t.Fatalf("after the kill: %d customers and %d events; want none, the transaction never committed", c, e)
	}
	var ok string
	if err := conn.QueryRow(`PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
		t.Fatalf("integrity check after the kill: %q, %v", ok, err)
	}
	const indexes = `SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('customers', 'events') AND sql IS NOT NULL`
	before := count(indexes)
	if before < 9 {
		t.Fatalf("after the kill, customers and events have %d indexes", before)
	}
	conn.Close() // the rerun must find the database closed to load in one transaction too

	rerun := exec.Command(bin, "import", "--merchant", "m1", file)
	rerun.Env = env
	out, err := rerun.CombinedOutput()
	if err != nil {
		t.Fatalf("rerun: %v\n%s", err, out)
	}
	if want := fmt.Sprintf("%d imported, 0 already present", n); !strings.Contains(string(out), want) || !strings.Contains(string(out), "loading in one transaction") {
		t.Fatalf("rerun: want %q, loaded in one transaction, in\n%s", want, out)
	}
	conn, err = sql.Open("sqlite", "file:"+dbPath+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if c, e := count(`SELECT COUNT(*) FROM customers`), count(`SELECT COUNT(*) FROM events WHERE type = 'customer.created'`); c != n || e != n {
		t.Fatalf("%d customers and %d customer.created events, want %d of each", c, e, n)
	}
	if after := count(indexes); after != before {
		t.Fatalf("%d indexes after the bulk load, %d before", after, before)
	}
	if d := count(`SELECT COUNT(DISTINCT id) FROM customers WHERE id BETWEEN 'cst_0000000000000000' AND 'cst_9999999999999999'`); d != n {
		t.Fatalf("%d of the file's ids stored", d)
	}
}
