package sqlite_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"customerd"
	"customerd/sqlite"
	"customerd/storetest"
)

// indexNames lists the indexes of customers and events.
func indexNames(t *testing.T, s *sqlite.Store) []string {
	t.Helper()
	rows, err := s.WriteDB().QueryContext(ctx, `SELECT name || ':' || COALESCE(sql, '') FROM sqlite_master
		WHERE type = 'index' AND tbl_name IN ('customers', 'events') ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		names = append(names, n)
	}
	return names
}

// insertAll is a bulk body that writes each row with its event, one write
// each.
func insertAll(rows ...customerd.SealedCustomer) func(context.Context, sqlite.WriteFunc) error {
	return func(ctx context.Context, write sqlite.WriteFunc) error {
		for _, c := range rows {
			if err := write(ctx, func(ctx context.Context, tx customerd.StoreTx) error {
				return tx.InsertCustomer(ctx, &c, storetest.Event(customerd.EventCustomerCreated, c.MerchantID, c.ID, 1, 1))
			}); err != nil {
				return err
			}
		}
		return nil
	}
}

// A bulk load into an empty database commits its rows and events at once,
// with every index built again as the schema declares it, and its unique
// keys enforced after it.
func TestBulkLoadBuildsTheIndexesAfterItsRows(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "c.db"))
	defer s.Close()
	storetest.MustMerchant(t, s, "m1")
	before := indexNames(t, s)
	a, b := storetest.Row("m1", "a"), storetest.Row("m1", "b")
	built := false
	if err := s.BulkLoad(ctx, insertAll(a, b), func() { built = true }); err != nil {
		t.Fatal(err)
	}
	if !built {
		t.Fatal("building was not called")
	}
	if after := indexNames(t, s); !slices.Equal(after, before) {
		t.Fatalf("indexes after the load:\n%v\nbefore:\n%v", after, before)
	}
	for _, c := range []customerd.SealedCustomer{a, b} {
		if got, err := s.FindCustomerByRef(ctx, "m1", c.RefIndex); err != nil || got.ID != c.ID {
			t.Fatalf("%s by reference: %+v, %v", c.ID, got, err)
		}
	}
	if events, _, _, err := s.ListEvents(ctx, "m1", customerd.EventQuery{Page: customerd.Page{Limit: 10}}); err != nil || len(events) != 2 {
		t.Fatalf("events: %d, %v", len(events), err)
	}
	again := storetest.Row("m1", "a")
	if err := s.Write(ctx, func(ctx context.Context, tx customerd.StoreTx) error {
		return tx.InsertCustomer(ctx, &again, storetest.Event(customerd.EventCustomerCreated, "m1", again.ID, 1, 1))
	}); !errors.Is(err, customerd.ErrConflict) {
		t.Fatalf("a reference loaded in bulk, inserted again: %v; want a conflict", err)
	}
	if err := s.BulkLoad(ctx, insertAll(storetest.Row("m1", "c")), nil); !errors.Is(err, sqlite.ErrBulkNotEmpty) {
		t.Fatalf("a second bulk load: %v; want ErrBulkNotEmpty", err)
	}
}

// Rows that repeat a unique key, a body that fails, a write that fails or
// a cancelled load leave the database as it was, indexes included.
func TestBulkLoadThatFailsWritesNothing(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "c.db"))
	defer s.Close()
	storetest.MustMerchant(t, s, "m1")
	before := indexNames(t, s)
	boom := errors.New("boom")
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	for name, load := range map[string]func() error{
		"repeated reference": func() error {
			return s.BulkLoad(ctx, insertAll(storetest.Row("m1", "same"), storetest.Row("m1", "same")), nil)
		},
		"repeated id": func() error {
			a, b := storetest.Row("m1", "x"), storetest.Row("m1", "y")
			b.ID = a.ID
			return s.BulkLoad(ctx, insertAll(a, b), nil)
		},
		"failing body": func() error {
			return s.BulkLoad(ctx, func(ctx context.Context, write sqlite.WriteFunc) error {
				if err := insertAll(storetest.Row("m1", "z"))(ctx, write); err != nil {
					return err
				}
				return boom
			}, nil)
		},
		"cancelled": func() error { return s.BulkLoad(cancelled, insertAll(storetest.Row("m1", "w")), nil) },
	} {
		err := load()
		switch name {
		case "repeated reference", "repeated id":
			if !errors.Is(err, sqlite.ErrBulkRepeats) {
				t.Fatalf("%s: %v; want ErrBulkRepeats", name, err)
			}
		case "failing body":
			if !errors.Is(err, boom) {
				t.Fatalf("%s: %v", name, err)
			}
		default:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("%s: %v", name, err)
			}
		}
		var n int
		if err := s.WriteDB().QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM customers) + (SELECT COUNT(*) FROM events)`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%s: %d rows stored (%v); want none", name, n, err)
		}
		if after := indexNames(t, s); !slices.Equal(after, before) {
			t.Fatalf("%s: indexes after the load:\n%v\nbefore:\n%v", name, after, before)
		}
	}

	// A write that fails ends the load, with nothing written.
	ok := storetest.Row("m1", "ok")
	stale := storetest.Row("m1", "stale")
	stale.KeyVersion = 9
	err := s.BulkLoad(ctx, func(ctx context.Context, write sqlite.WriteFunc) error {
		if err := insertAll(ok)(ctx, write); err != nil {
			return err
		}
		if err := insertAll(stale)(ctx, write); !errors.Is(err, customerd.ErrStaleKey) {
			t.Errorf("a write under a stale key in the load: %v; want ErrStaleKey", err)
		}
		if err := insertAll(storetest.Row("m1", "later"))(ctx, write); !errors.Is(err, customerd.ErrStaleKey) {
			t.Errorf("a write after the failed one: %v; want the failed one's error", err)
		}
		return nil
	}, nil)
	if !errors.Is(err, customerd.ErrStaleKey) {
		t.Fatalf("a load with a failed write: %v; want its error", err)
	}
	var n int
	if err := s.WriteDB().QueryRowContext(ctx, `SELECT COUNT(*) FROM customers`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("after the failed write: %d customers (%v); want none", n, err)
	}
	if after := indexNames(t, s); !slices.Equal(after, before) {
		t.Fatalf("indexes after the failed load:\n%v\nbefore:\n%v", after, before)
	}
}
