package rawsqlite_test

import (
	"context"
	"fmt"
	"testing"
)

// Statements prepared on first use are kept per connection, reset at
// Release, and never prepared again because of what was bound: a query
// with an ORDER BY would be, at its first step after each new binding,
// without the query planner stability guarantee.
func TestPreparedStatementsAreKeptAndNotPreparedAgain(t *testing.T) {
	path, db := newDB(t, map[string][]byte{"a": []byte("1"), "b": []byte("2"), "c": []byte("3")})
	if _, err := db.Exec(`CREATE INDEX t_by_n ON t (n, k) WHERE v IS NOT NULL`); err != nil {
		t.Fatal(err)
	}
	p := openPool(t, path, 1)
	ctx := context.Background()
	const q = `SELECT k FROM t WHERE n = ? AND v IS NOT NULL ORDER BY k DESC LIMIT ?`
	var first any
	for i := range 20 {
		c, err := p.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		st, err := c.Prepared(q)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = st
		} else if any(st) != first {
			t.Fatal("the statement was prepared again for another use of the connection")
		}
		if err := st.BindInt64(1, 1); err != nil {
			t.Fatal(err)
		}
		if err := st.BindInt64(2, int64(1+i%3)); err != nil {
			t.Fatal(err)
		}
		var got []string
		for row, err := st.Run(ctx); row; row, err = st.Run(ctx) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, string(st.Bytes(0)))
		}
		if want := []string{"c", "b", "a"}[:1+i%3]; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("use %d: %v, want %v", i, got, want)
		}
		p.Release(c) // resets it: the next use binds afresh
		if n := st.Reprepares(); n != 0 {
			t.Fatalf("prepared again %d times after %d bindings", n, i+1)
		}
	}
	c, _ := p.Acquire(ctx)
	defer p.Release(c)
	if _, err := c.Prepared("SELECT nothing FROM nowhere"); err == nil {
		t.Fatal("a bad statement was prepared")
	}
}

// The statements of one Snapshot read one snapshot, whatever is committed
// in between; the next use of the connection sees the commit.
func TestSnapshot(t *testing.T) {
	path, db := newDB(t, map[string][]byte{"a": []byte("1")})
	p := openPool(t, path, 1)
	ctx := context.Background()
	read := func(t *testing.T, between func()) (before, after int64) {
		t.Helper()
		c, err := p.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Release(c)
		err = c.Snapshot(ctx, func() error {
			for i, dst := range []*int64{&before, &after} {
				st, err := c.Prepared(fmt.Sprintf("SELECT COUNT(*) + %d FROM t", i))
				if err != nil {
					return err
				}
				if _, err := st.Run(ctx); err != nil {
					return err
				}
				*dst = st.Int64(0) - int64(i)
				if i == 0 {
					between()
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return before, after
	}
	n := 1
	insert := func() {
		n++
		if _, err := db.Exec(`INSERT INTO t VALUES (?, ?, ?)`, fmt.Sprint("k", n), []byte("v"), n); err != nil {
			t.Fatal(err)
		}
	}
	// Several uses: a connection reads in a transaction of its own or, on
	// a pool that keeps them, in the one kept from its previous use.
	for round := range 3 {
		before, after := read(t, insert)
		if before != after || before != int64(n-1) {
			t.Fatalf("round %d: %d rows, then %d in the same snapshot; want %d twice", round, before, after, n-1)
		}
	}
	if before, _ := read(t, func() {}); before != int64(n) {
		t.Fatalf("after the commits: %d rows, want %d", before, n)
	}
}
