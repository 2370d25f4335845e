package sqlite_test

import (
	"database/sql"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"customerd"
	"customerd/sqlite"
	"customerd/storetest"

	_ "modernc.org/sqlite"
)

// legacyDB writes a database as the versions before encryption left it:
// schema version 1, personal fields in plaintext. It returns the customers.
func legacyDB(t *testing.T, path string, merchants []string, perMerchant int) []*customerd.Customer {
	t.Helper()
	schema, err := os.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		`CREATE TABLE schema_migrations (version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT`,
		string(schema),
		`INSERT INTO schema_migrations VALUES (1, '0001_init.sql', 0)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	var out []*customerd.Customer
	for _, m := range merchants {
		if _, err := db.Exec(`INSERT INTO merchants (id, created_at) VALUES (?, 0)`, m); err != nil {
			t.Fatal(err)
		}
		for i := range perMerchant {
			c := piiFor(len(out)).customer(t, m)
			if i%3 == 0 {
				c.LastName = "" // NULL in the old schema
			}
			if _, err := db.Exec(`INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				c.ID, c.MerchantID, c.ObjectReferenceID, c.MobileNumber, c.MobileCountryCode,
				c.EmailAddress, c.FirstName, nullString(c.LastName), c.DateCreated.Unix(), c.LastUpdated.Unix()); err != nil {
				t.Fatal(err)
			}
			out = append(out, c)
		}
	}
	return out
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func secretsOf(cs []*customerd.Customer) []string {
	var out []string
	for _, c := range cs {
		for _, v := range []string{c.ObjectReferenceID, c.MobileNumber, c.EmailAddress, c.FirstName, c.LastName} {
			if v != "" {
				out = append(out, v)
			}
		}
	}
	return out
}

func TestPlaintextRowsServedAndWrittenDuringMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	legacy := legacyDB(t, path, []string{"m1", "m2"}, 20)
	if len(filesContaining(t, path, legacy[0].EmailAddress)) == 0 {
		t.Fatal("the legacy database is not in plaintext: the test proves nothing")
	}
	s := openWith(t, path, sqlite.NoBackground())
	if n, err := s.PlaintextRemaining(ctx); err != nil || n != 40 || s.PlaintextMigrated() {
		t.Fatalf("remaining = %d, %v", n, err)
	}
	for _, c := range legacy {
		for _, q := range []string{c.ID, c.ObjectReferenceID} {
			got, err := s.FindCustomer(ctx, c.MerchantID, q)
			if err != nil || *got != *c {
				t.Fatalf("find plaintext %q: %+v, %v", q, got, err)
			}
		}
		other := "m2"
		if c.MerchantID == "m2" {
			other = "m1"
		}
		if _, err := s.FindCustomer(ctx, other, c.ID); customerd.ErrorCode(err) != customerd.ENOTFOUND {
			t.Fatalf("plaintext customer seen by another merchant: %v", err)
		}
	}
	// A plaintext reference is still unique.
	dup := piiFor(0).customer(t, "m1")
	if err := s.CreateCustomer(ctx, dup); customerd.ErrorCode(err) != customerd.ECONFLICT {
		t.Fatalf("create over a plaintext reference: %v", err)
	}
	// Updating a plaintext customer (by reference and by id) encrypts it.
	later := storetest.T0.Add(time.Hour)
	for _, c := range legacy[:2] {
		got, err := s.UpdateCustomer(ctx, c.MerchantID, c.ObjectReferenceID, customerd.Patch{LastName: customerd.Present("Moved")}, later)
		if err != nil || got.ID != c.ID || got.LastName != "Moved" || got.EmailAddress != c.EmailAddress {
			t.Fatalf("update plaintext customer: %+v, %v", got, err)
		}
		c.LastName, c.LastUpdated = "Moved", later
	}
	got, err := s.UpdateCustomer(ctx, "m1", legacy[2].ID, customerd.Patch{FirstName: customerd.Present("ById")}, later)
	if err != nil || got.FirstName != "ById" {
		t.Fatalf("update plaintext customer by id: %+v, %v", got, err)
	}
	legacy[2].FirstName, legacy[2].LastUpdated = "ById", later
	if n, _ := s.PlaintextRemaining(ctx); n != 37 {
		t.Fatalf("remaining after 3 updates = %d", n)
	}

	for {
		n, err := s.EncryptPlaintextBatch(ctx, 8)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	if !s.PlaintextMigrated() {
		t.Fatal("the plaintext table is still there")
	}
	for _, c := range legacy {
		got, err := s.FindCustomer(ctx, c.MerchantID, c.ObjectReferenceID)
		if err != nil || *got != *c {
			t.Fatalf("after migration: %+v, %v; want %+v", got, err, c)
		}
	}
	if err := s.CreateCustomer(ctx, dup); customerd.ErrorCode(err) != customerd.ECONFLICT {
		t.Fatalf("create over a migrated reference: %v", err)
	}
	s.Close()
	assertNoPII(t, path, "0001_init.sql", secretsOf(legacy))
}

func TestPlaintextMigrationInBackgroundNeverHidesACustomer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	legacy := legacyDB(t, path, []string{"m1"}, 300)
	s := openWith(t, path, sqlite.MigrationBatch(10))

	var stop atomic.Bool
	var wg sync.WaitGroup
	var reads atomic.Int64
	for r := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := r; !stop.Load(); i = (i + 7) % len(legacy) {
				c := legacy[i]
				q := c.ObjectReferenceID
				if i%2 == 0 {
					q = c.ID
				}
				got, err := s.FindCustomer(ctx, "m1", q)
				if err != nil || got.ID != c.ID || got.MobileNumber != c.MobileNumber {
					t.Errorf("read during background migration: %+v, %v", got, err)
					return
				}
				reads.Add(1)
			}
		}()
	}
	deadline := time.Now().Add(30 * time.Second)
	for !s.PlaintextMigrated() {
		if time.Now().After(deadline) {
			n, err := s.PlaintextRemaining(ctx)
			t.Fatalf("migration not done after 30 s: %d rows left (%v)", n, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n, err := s.PlaintextRemaining(ctx); n != 0 || err != nil {
		t.Fatalf("remaining after the migration: %d, %v", n, err)
	}
	stop.Store(true)
	wg.Wait()
	if reads.Load() == 0 {
		t.Fatal("no read ran during the migration")
	}
	s.Close()
	assertNoPII(t, path, "0001_init.sql", secretsOf(legacy))
}

func TestAnotherProcessFinishingTheMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	legacy := legacyDB(t, path, []string{"m1"}, 5)
	a := openWith(t, path, sqlite.NoBackground())
	b := openWith(t, path, sqlite.NoBackground())
	for {
		n, err := b.EncryptPlaintextBatch(ctx, 2)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	if a.PlaintextMigrated() {
		t.Fatal("a cannot know yet")
	}
	// a still believes rows wait in plaintext: it finds the table gone and
	// carries on.
	got, err := a.UpdateCustomer(ctx, "m1", "cst_aaaaaaaaaaaaaaaa", customerd.Patch{FirstName: customerd.Present("X")}, storetest.T0)
	if customerd.ErrorCode(err) != customerd.ENOTFOUND {
		t.Fatalf("update of an unknown customer: %+v, %v", got, err)
	}
	for _, c := range legacy {
		got, err := a.FindCustomer(ctx, "m1", c.ObjectReferenceID)
		if err != nil || *got != *c {
			t.Fatalf("find: %+v, %v", got, err)
		}
	}
	if err := a.CreateCustomer(ctx, piiFor(100).customer(t, "m1")); err != nil {
		t.Fatal(err)
	}
	if n, err := a.PlaintextRemaining(ctx); n != 0 || err != nil || !a.PlaintextMigrated() {
		t.Fatalf("remaining %d, %v, migrated %v", n, err, a.PlaintextMigrated())
	}
}
