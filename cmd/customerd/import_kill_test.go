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

// TestImportKilledMidwayResumesWithEveryRowOnce kills a real import with
// SIGKILL while it commits, runs it again, and finds every row of the file
// stored exactly once, with exactly one customer.created event.
func TestImportKilledMidwayResumesWithEveryRowOnce(t *testing.T) {
	bin := customerdBinary(t)
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "c.db")
	db := "sqlite:" + dbPath
	env := append(binarytest.ChildEnv(), "CUSTOMERD_DB="+db)
	mk := exec.Command(bin, "merchant", "create", "m1")
	mk.Env = env
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("merchant create: %v\n%s", err, out)
	}
	const n = 60000
	var b strings.Builder
	for i := range n {
		b.WriteString(juspayLine(i) + "\n")
	}
	file := filepath.Join(dir, "juspay.ndjson")
	os.WriteFile(file, []byte(b.String()), 0o600)

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
	imp := exec.Command(bin, "import", "--merchant", "m1", "--progress", "log", file)
	imp.Env = env
	var stderr syncbuf.Buffer
	imp.Stderr = &stderr
	if err := imp.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for count(`SELECT COUNT(*) FROM customers`) < 2000 {
		if time.Now().After(deadline) {
			imp.Process.Kill()
			t.Fatalf("the import committed nothing in a minute:\n%s", stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := imp.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	imp.Wait()
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
