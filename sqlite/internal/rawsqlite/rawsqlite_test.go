package rawsqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"customerd/sqlite/internal/rawsqlite"

	_ "modernc.org/sqlite"
)

// newDB creates a WAL database with a table t(k TEXT PRIMARY KEY, v BLOB,
// n INTEGER) holding the given rows, through database/sql as the store's
// writer does, and keeps that connection open.
func newDB(t *testing.T, rows map[string][]byte) (string, *sql.DB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "t.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(`CREATE TABLE t (k TEXT PRIMARY KEY, v BLOB, n INTEGER)`); err != nil {
		t.Fatal(err)
	}
	for k, v := range rows {
		if _, err := db.Exec(`INSERT INTO t VALUES (?, ?, ?)`, k, v, len(k)); err != nil {
			t.Fatal(err)
		}
	}
	return path, db
}

func openPool(t *testing.T, path string, size int) *rawsqlite.Pool {
	t.Helper()
	p, err := rawsqlite.Open(path, size, []string{"PRAGMA query_only = 1"},
		[]string{`SELECT k, v, n FROM t WHERE k = ?`, `SELECT k FROM t WHERE v = ?`})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// lookup returns v and n of key k, or ok false.
func lookup(ctx context.Context, p *rawsqlite.Pool, k string) (v []byte, n int64, ok bool, err error) {
	c, err := p.Acquire(ctx)
	if err != nil {
		return nil, 0, false, err
	}
	defer p.Release(c)
	st := c.Stmt(0)
	if err := st.BindText(1, k); err != nil {
		return nil, 0, false, err
	}
	row, err := st.Run(ctx)
	if err != nil || !row {
		return nil, 0, false, err
	}
	if !st.IsNull(1) {
		v = bytes.Clone(st.Bytes(1))
	}
	return v, st.Int64(2), true, nil
}

func TestLookups(t *testing.T) {
	long := strings.Repeat("k", 2000) // larger than the argument buffer
	path, _ := newDB(t, map[string][]byte{"a": []byte("alpha"), "b": nil, long: []byte("long"), "": []byte("empty key")})
	p := openPool(t, path, 2)
	ctx := context.Background()
	for _, tc := range []struct {
		k    string
		v    []byte
		ok   bool
		null bool
	}{
		{k: "a", v: []byte("alpha"), ok: true},
		{k: "b", ok: true, null: true},
		{k: long, v: []byte("long"), ok: true},
		{k: "", v: []byte("empty key"), ok: true},
		{k: "missing"},
		{k: "A"}, // TEXT compares bytewise
	} {
		v, n, ok, err := lookup(ctx, p, tc.k)
		if err != nil {
			t.Fatalf("%.10q: %v", tc.k, err)
		}
		if ok != tc.ok || !bytes.Equal(v, tc.v) || (ok && n != int64(len(tc.k))) {
			t.Errorf("%.10q: got %q, %d, %v; want %q, %d, %v", tc.k, v, n, ok, tc.v, len(tc.k), tc.ok)
		}
		if tc.null && v != nil {
			t.Errorf("%q: NULL read as %q", tc.k, v)
		}
	}
}

func TestBlobArgument(t *testing.T) {
	big := bytes.Repeat([]byte{0, 1, 2}, 400)
	path, _ := newDB(t, map[string][]byte{"x": {0, 'a', 0}, "y": big})
	p := openPool(t, path, 1)
	for want, arg := range map[string][]byte{"x": {0, 'a', 0}, "y": big} {
		c, err := p.Acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		st := c.Stmt(1)
		if err := st.BindBlob(1, arg); err != nil {
			t.Fatal(err)
		}
		row, err := st.Run(context.Background())
		if err != nil || !row {
			t.Fatalf("%s: row %v, err %v", want, row, err)
		}
		if got := string(st.Bytes(0)); got != want {
			t.Errorf("got %q, want %q", got, want)
		}
		p.Release(c)
	}
}

// A reader sees every write committed before its statement starts: the
// pool shares the writer's WAL, and Release ends each read transaction.
func TestSeesCommittedWrites(t *testing.T) {
	path, db := newDB(t, map[string][]byte{"a": []byte("v0")})
	p := openPool(t, path, 2)
	for i := range 50 {
		want := []byte{'v', byte('0' + i%10)}
		if _, err := db.Exec(`UPDATE t SET v = ? WHERE k = 'a'`, want); err != nil {
			t.Fatal(err)
		}
		v, _, ok, err := lookup(context.Background(), p, "a")
		if err != nil || !ok || !bytes.Equal(v, want) {
			t.Fatalf("write %d: got %q, %v, %v; want %q", i, v, ok, err, want)
		}
	}
}

func TestQueryOnly(t *testing.T) {
	path, _ := newDB(t, nil)
	// Preparing a write is allowed; running it is not.
	p, err := rawsqlite.Open(path, 1, []string{"PRAGMA query_only = 1"}, []string{`DELETE FROM t`})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, _ := p.Acquire(context.Background())
	defer p.Release(c)
	_, err = c.Stmt(0).Run(context.Background())
	var se *rawsqlite.Error
	if !errors.As(err, &se) || !strings.Contains(se.Error(), "readonly") && !strings.Contains(se.Error(), "read-only") {
		t.Fatalf("a write on a query_only connection: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	path, _ := newDB(t, nil)
	if _, err := rawsqlite.Open(path, 1, nil, []string{`SELECT nope FROM t`}); err == nil || !strings.Contains(err.Error(), "no such column") {
		t.Errorf("bad query: %v", err)
	}
	if _, err := rawsqlite.Open(filepath.Join(t.TempDir(), "missing", "x.db"), 1, nil, nil); err == nil {
		t.Error("a database in a missing directory opened")
	}
}

// A statement waiting for a lock stops waiting when its context ends, with
// the context's error, and the connection works once the lock is gone. (A
// reader in WAL mode rarely waits; a second writer always does, and both
// go through the same busy handler.)
func TestContextEndsLockWait(t *testing.T) {
	path, db := newDB(t, map[string][]byte{"a": []byte("x")})
	p, err := rawsqlite.Open(path, 1, nil, []string{`BEGIN IMMEDIATE`, `ROLLBACK`})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	begin := func(ctx context.Context) error {
		c, err := p.Acquire(ctx)
		if err != nil {
			return err
		}
		defer p.Release(c)
		if _, err := c.Stmt(0).Run(ctx); err != nil {
			return err
		}
		_, err = c.Stmt(1).Run(ctx)
		return err
	}
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`UPDATE t SET n = 1`); err != nil { // holds the write lock
		t.Fatal(err)
	}
	for range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
		start := time.Now()
		err := begin(ctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("a write transaction while another holds the lock: %v, want the context's deadline", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("the wait ended %v after it started, long after its deadline", d)
		}
	}
	// Released a little later: the waiting statement gets the lock.
	time.AfterFunc(100*time.Millisecond, func() { tx.Rollback() })
	if err := begin(context.Background()); err != nil {
		t.Fatalf("once the lock is released: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := begin(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("with a cancelled context: %v", err)
	}
}

func TestAcquireWaitsAndClose(t *testing.T) {
	path, _ := newDB(t, nil)
	p := openPool(t, path, 1)
	c, err := p.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := p.Acquire(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("acquire from an empty pool: %v", err)
	}
	p.Release(c)
	if c, err = p.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	p.Release(c)
}

// noDone is a context whose Done must not be asked for: a lazy request
// context makes its timer only then.
type noDone struct {
	context.Context
	t *testing.T
}

func (c noDone) Done() <-chan struct{} {
	c.t.Error("Acquire asked for Done")
	return c.Context.Done()
}

// A wait for a connection ends when its context is canceled, checking the
// context with Err alone; the checks resume after a time without waiters.
func TestAcquireWaitChecksErrOnly(t *testing.T) {
	path, _ := newDB(t, nil)
	p := openPool(t, path, 1)
	c, err := p.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Release(c)
	for i := range 2 {
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			time.Sleep(30 * time.Millisecond)
			cancel()
		}()
		if _, err := p.Acquire(noDone{ctx, t}); !errors.Is(err, context.Canceled) {
			t.Fatalf("wait %d: acquire from an empty pool, canceled: %v", i, err)
		}
		time.Sleep(60 * time.Millisecond) // idle: no waiter, no tick
	}
}

func TestConcurrent(t *testing.T) {
	rows := map[string][]byte{}
	for i := range 100 {
		k := strings.Repeat("k", i+1)
		rows[k] = []byte(k)
	}
	path, _ := newDB(t, rows)
	p := openPool(t, path, 3)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 300 {
				k := strings.Repeat("k", (g*37+i)%100+1)
				v, _, ok, err := lookup(context.Background(), p, k)
				if err != nil || !ok || string(v) != k {
					t.Errorf("%d bytes: got %d bytes, %v, %v", len(k), len(v), ok, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// Close waits for the connections in use, and the pool refuses to hand
// out any once closing has begun.
func TestCloseWaitsForConnectionsInUse(t *testing.T) {
	path, _ := newDB(t, map[string][]byte{"a": []byte("x")})
	p, err := rawsqlite.Open(path, 2, nil, []string{`SELECT v FROM t WHERE k = ?`})
	if err != nil {
		t.Fatal(err)
	}
	c, err := p.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	go func() {
		p.Close()
		close(closed)
	}()
	select {
	case <-closed:
		t.Fatal("Close returned while a connection was in use")
	case <-time.After(100 * time.Millisecond):
	}
	if _, err := p.Acquire(context.Background()); !errors.Is(err, rawsqlite.ErrClosed) {
		t.Fatalf("Acquire while closing: %v", err)
	}
	// The connection in use still works until it is released.
	st := c.Stmt(0)
	if err := st.BindText(1, "a"); err != nil {
		t.Fatal(err)
	}
	if row, err := st.Run(context.Background()); err != nil || !row || string(st.Bytes(0)) != "x" {
		t.Fatalf("in use while closing: %v, %v", row, err)
	}
	p.Release(c)
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return after the release")
	}
	if _, err := p.Acquire(context.Background()); !errors.Is(err, rawsqlite.ErrClosed) {
		t.Fatalf("Acquire after Close: %v", err)
	}
}
