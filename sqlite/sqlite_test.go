package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"customerd"
	"customerd/sqlite"
	"customerd/storetest"
)

var ctx = context.Background()

func open(t testing.TB, path string, opts ...sqlite.Option) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(ctx, path, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) customerd.Store {
		return open(t, filepath.Join(t.TempDir(), "c.db"))
	})
}

// The same suite through database/sql alone: the path the store takes
// when it cannot use rawsqlite.
func TestConformanceDatabaseSQLOnly(t *testing.T) {
	storetest.Run(t, func(t *testing.T) customerd.Store {
		s := open(t, filepath.Join(t.TempDir(), "c.db"), sqlite.DatabaseSQLOnly())
		if raw, err := s.WritesBypassDatabaseSQL(ctx); err != nil || raw {
			t.Fatalf("raw writes %v, %v", raw, err)
		}
		return s
	})
}

// The writer finds its connection's handle and runs the hot statements
// without database/sql (the conformance suite checks what they do).
func TestWritesBypassDatabaseSQL(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "c.db"))
	defer s.Close()
	if raw, err := s.WritesBypassDatabaseSQL(ctx); err != nil || !raw {
		t.Fatalf("raw writes %v, %v: the driver's connection handle was not found", raw, err)
	}
}

// The lookups of every GET keep their read transaction between requests
// while nothing is committed (the rawsqlite tests check what that does),
// and a write is seen by the very next read.
func TestFastReadsKeepReadTransactions(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "c.db"))
	defer s.Close()
	if !s.KeepsReadTransactions() {
		t.Fatal("the fast read pool does not keep read transactions: the WAL index was not mapped")
	}
	storetest.MustMerchant(t, s, "m1")
	c := storetest.MustInsert(t, s, storetest.Row("m1", "r"))
	for i := range 20 {
		name := fmt.Append(nil, "N", i)
		err := s.Write(ctx, func(ctx context.Context, tx customerd.StoreTx) error {
			return tx.UpdateCustomer(ctx, customerd.SealedUpdate{MerchantID: "m1", ID: c.ID, Version: int64(i + 1), KeyVersion: 1,
				FirstName: customerd.SealedValue{Set: true, Sealed: name}, Now: storetest.T0},
				storetest.Event(customerd.EventCustomerUpdated, "m1", c.ID, int64(i+2), 1))
		})
		if err != nil {
			t.Fatal(err)
		}
		for range 3 { // quiet reads: kept transactions
			got, err := s.FindCustomer(ctx, "m1", c.ID)
			if err != nil || string(got.FirstName) != string(name) {
				t.Fatalf("update %d: read %+v, %v", i, got, err)
			}
		}
	}
}

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	s := open(t, path)
	storetest.MustMerchant(t, s, "m1")
	c := storetest.MustInsert(t, s, storetest.Row("m1", "r"))
	s.Close()
	s = open(t, path) // migrations run again and must be a no-op
	defer s.Close()
	if got, err := s.FindCustomerByRef(ctx, "m1", c.RefIndex); err != nil || got.ID != c.ID {
		t.Fatalf("after reopen: %+v, %v", got, err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestOpenReportsTheMigrationsItApplied(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	s := open(t, path)
	applied, version := s.Migrations()
	s.Close()
	want := []string{"0001_init.sql", "0002_webhooks.sql", "0003_events_append.sql", "0004_named_unique_indexes.sql"}
	if !slices.Equal(applied, want) || version != len(want) {
		t.Fatalf("first open applied %v, version %d; want %v", applied, version, want)
	}
	s = open(t, path)
	defer s.Close()
	if applied, version := s.Migrations(); len(applied) != 0 || version != len(want) {
		t.Fatalf("second open applied %v, version %d; want nothing", applied, version)
	}
}

func TestDBStatsReportsBothPools(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "c.db"))
	defer s.Close()
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	stats := s.DBStats()
	if stats["write"].MaxOpenConnections != 1 {
		t.Errorf("write pool max open %d, want the single writer", stats["write"].MaxOpenConnections)
	}
	if r := stats["read"]; r.MaxOpenConnections < 4 || r.OpenConnections < 1 {
		t.Errorf("read pool %+v, want at least 4 allowed and the ping's connection open", r)
	}
}
