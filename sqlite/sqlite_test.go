package sqlite_test

import (
	"context"
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
