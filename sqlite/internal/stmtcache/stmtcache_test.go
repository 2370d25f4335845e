package stmtcache_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"io"
	"sync"
	"testing"

	"customerd/sqlite/internal/stmtcache"
)

// fakeDriver counts what the cache asks of a driver: how often each query
// is prepared, and how many statements are open.
type fakeDriver struct {
	mu       sync.Mutex
	prepared map[string]int
	open     int
	direct   int // queries and executions run without a statement
}

func (d *fakeDriver) Open(string) (driver.Conn, error) { return &fakeConn{d: d}, nil }

func (d *fakeDriver) counts(q string) (prepared, open, direct int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.prepared[q], d.open, d.direct
}

type fakeConn struct{ d *fakeDriver }

func (c *fakeConn) Prepare(q string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), q)
}

func (c *fakeConn) PrepareContext(_ context.Context, q string) (driver.Stmt, error) {
	if q == "bad" {
		return nil, fmt.Errorf("syntax error in %q", q)
	}
	c.d.mu.Lock()
	defer c.d.mu.Unlock()
	c.d.prepared[q]++
	c.d.open++
	return &fakeStmt{d: c.d, q: q}, nil
}

func (c *fakeConn) Close() error              { return nil }
func (c *fakeConn) Begin() (driver.Tx, error) { return fakeTx{}, nil }
func (c *fakeConn) BeginTx(context.Context, driver.TxOptions) (driver.Tx, error) {
	return fakeTx{}, nil
}

func (c *fakeConn) ExecContext(_ context.Context, q string, _ []driver.NamedValue) (driver.Result, error) {
	if q == "bad" {
		return nil, fmt.Errorf("syntax error in %q", q)
	}
	c.d.mu.Lock()
	c.d.direct++
	c.d.mu.Unlock()
	return driver.RowsAffected(1), nil
}

func (c *fakeConn) QueryContext(_ context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	if q == "bad" {
		return nil, fmt.Errorf("syntax error in %q", q)
	}
	c.d.mu.Lock()
	c.d.direct++
	c.d.mu.Unlock()
	return &fakeRows{v: args[0].Value}, nil
}

type fakeTx struct{}

func (fakeTx) Commit() error   { return nil }
func (fakeTx) Rollback() error { return nil }

type fakeStmt struct {
	d *fakeDriver
	q string
}

func (s *fakeStmt) Close() error {
	s.d.mu.Lock()
	s.d.open--
	s.d.mu.Unlock()
	return nil
}
func (s *fakeStmt) NumInput() int                               { return -1 }
func (s *fakeStmt) Exec([]driver.Value) (driver.Result, error)  { return driver.RowsAffected(1), nil }
func (s *fakeStmt) Query(v []driver.Value) (driver.Rows, error) { return &fakeRows{v: v[0]}, nil }
func (s *fakeStmt) ExecContext(context.Context, []driver.NamedValue) (driver.Result, error) {
	return driver.RowsAffected(1), nil
}
func (s *fakeStmt) QueryContext(_ context.Context, args []driver.NamedValue) (driver.Rows, error) {
	return &fakeRows{v: args[0].Value}, nil
}

// fakeRows has one row, one column: the first argument.
type fakeRows struct {
	v    any
	done bool
}

func (r *fakeRows) Columns() []string { return []string{"v"} }
func (r *fakeRows) Close() error      { return nil }
func (r *fakeRows) Next(dest []driver.Value) error {
	if r.done {
		return io.EOF
	}
	r.done = true
	dest[0] = r.v
	return nil
}

func newDB(t *testing.T, size int) (*sql.DB, *fakeDriver) {
	d := &fakeDriver{prepared: map[string]int{}}
	db := sql.OpenDB(stmtcache.New(d, "", size, nil))
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db, d
}

func TestAQueryIsPreparedOncePerConnection(t *testing.T) {
	db, d := newDB(t, 0)
	for i := range 100 {
		var got int64
		if err := db.QueryRow("SELECT ?", int64(i)).Scan(&got); err != nil || got != int64(i) {
			t.Fatalf("query %d: %v, %v", i, got, err)
		}
		if _, err := db.Exec("UPDATE t SET v = ?", i); err != nil {
			t.Fatal(err)
		}
	}
	if p, _, direct := d.counts("SELECT ?"); p != 1 || direct != 0 {
		t.Fatalf("SELECT prepared %d times, %d run unprepared; want once and none", p, direct)
	}
	if p, _, _ := d.counts("UPDATE t SET v = ?"); p != 1 {
		t.Fatalf("UPDATE prepared %d times, want once", p)
	}
}

func TestTheSameQueryWhileItsRowsAreOpenRunsUncached(t *testing.T) {
	db, d := newDB(t, 0)
	tx, err := db.Begin() // one connection for both queries
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	outer, err := tx.Query("SELECT ?", int64(1))
	if err != nil {
		t.Fatal(err)
	}
	var inner int64
	if err := tx.QueryRow("SELECT ?", int64(2)).Scan(&inner); err != nil || inner != 2 {
		t.Fatalf("inner query: %v, %v", inner, err)
	}
	var v int64
	if !outer.Next() || outer.Scan(&v) != nil || v != 1 {
		t.Fatalf("outer query read %v", v)
	}
	outer.Close()
	if p, _, direct := d.counts("SELECT ?"); p != 1 || direct != 1 {
		t.Fatalf("prepared %d, direct %d; want the cached one and one uncached run", p, direct)
	}
	// Freed: the cached statement serves the next one.
	if err := tx.QueryRow("SELECT ?", int64(3)).Scan(&v); err != nil || v != 3 {
		t.Fatal(err)
	}
	if p, _, direct := d.counts("SELECT ?"); p != 1 || direct != 1 {
		t.Fatalf("after the rows closed: prepared %d, direct %d", p, direct)
	}
}

func TestTheLeastRecentlyUsedStatementIsEvicted(t *testing.T) {
	db, d := newDB(t, 2)
	run := func(q string) {
		t.Helper()
		if _, err := db.Exec(q, 1); err != nil {
			t.Fatal(err)
		}
	}
	run("a")
	run("b")
	run("a") // b is now the least recently used
	run("c") // evicts b
	run("a")
	if p, open, _ := d.counts("a"); p != 1 || open != 2 {
		t.Fatalf("a prepared %d times, %d statements open; want once, 2 (the cache's size)", p, open)
	}
	run("b")
	if p, _, _ := d.counts("b"); p != 2 {
		t.Fatalf("b prepared %d times; want again after its eviction", p)
	}
	db.Close()
	if _, open, _ := d.counts(""); open != 0 {
		t.Fatalf("%d statements left open after Close", open)
	}
}

func TestAQueryThatDoesNotPrepareReportsItsError(t *testing.T) {
	db, _ := newDB(t, 0)
	if _, err := db.Exec("bad"); err == nil {
		t.Fatal("a bad statement ran")
	}
	if err := db.QueryRow("bad", 1).Scan(new(int)); err == nil {
		t.Fatal("a bad query ran")
	}
}
