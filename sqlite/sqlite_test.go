package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"customerd"
	"customerd/sqlite"
	"customerd/storetest"
)

func open(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path)
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
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "c.db"), sqlite.DatabaseSQLOnly())
		if err != nil {
			t.Fatal(err)
		}
		if raw, err := s.WritesBypassDatabaseSQL(context.Background()); err != nil || raw {
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
	if raw, err := s.WritesBypassDatabaseSQL(context.Background()); err != nil || !raw {
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
	ctx := context.Background()
	storetest.MustMerchant(t, s, "m1")
	c := storetest.MustCreate(t, s, "m1", "r")
	for i := range 20 {
		name := fmt.Sprint("N", i)
		if _, err := s.UpdateCustomer(ctx, "m1", c.ID, customerd.Patch{FirstName: customerd.Present(name)}, storetest.T0); err != nil {
			t.Fatal(err)
		}
		for range 3 { // quiet reads: kept transactions
			got, err := s.FindCustomer(ctx, "m1", c.ID)
			if err != nil || got.FirstName != name {
				t.Fatalf("update %d: read %+v, %v", i, got, err)
			}
		}
	}
}

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	s := open(t, path)
	storetest.MustMerchant(t, s, "m1")
	c, err := customerd.NewCustomer("m1", customerd.CreateRequest{
		ObjectReferenceID: customerd.Present("r"), MobileNumber: customerd.Present("1"),
	}, storetest.T0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateCustomer(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, path) // migrations run again and must be a no-op
	defer s.Close()
	got, err := s.FindCustomer(context.Background(), "m1", "r")
	if err != nil || got.ID != c.ID {
		t.Fatalf("after reopen: %+v, %v", got, err)
	}
	if err := s.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestDBStatsReportsBothPools(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "c.db"))
	defer s.Close()
	if err := s.Ping(context.Background()); err != nil {
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
