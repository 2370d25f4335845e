package postgres_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"customerd"
	"customerd/fieldcrypt"
	"customerd/postgres"
	"customerd/postgres/pgtest"
	"customerd/storetest"
)

var bg = context.Background()

func newMaster(t *testing.T) *fieldcrypt.MasterKey {
	t.Helper()
	k, err := fieldcrypt.GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// node opens the database as one node of a deployment: a store with a key
// cache of its own.
func node(t *testing.T, dbURL string, v *fieldcrypt.Vault) *postgres.Store {
	t.Helper()
	s := open(t, dbURL, postgres.Options{Vault: v})
	t.Cleanup(func() { s.Close() })
	return s
}

// quietNode is a node that does no background work.
func quietNode(t *testing.T, dbURL string, v *fieldcrypt.Vault) *postgres.Store {
	t.Helper()
	s := open(t, dbURL, postgres.NoBackground(postgres.Options{Vault: v}))
	t.Cleanup(func() { s.Close() })
	return s
}

// freshVault returns a vault with the same master keys as v but an empty
// key cache, as another process started with the same key would have.
func sameKey(t *testing.T, k *fieldcrypt.MasterKey) *fieldcrypt.Vault {
	t.Helper()
	return fieldcrypt.NewVault(k)
}

func customer(t *testing.T, merchant string, i int) *customerd.Customer {
	t.Helper()
	c, err := customerd.NewCustomer(merchant, customerd.CreateRequest{
		ObjectReferenceID: customerd.Present(fmt.Sprintf("pgcanary-ref-%04d@shop.example", i)),
		MobileNumber:      customerd.Present(fmt.Sprintf("7%010d", 5550000000+i)),
		MobileCountryCode: customerd.Present("65"),
		EmailAddress:      customerd.Present(fmt.Sprintf("pgcanary.mail%04d@example.org", i)),
		FirstName:         customerd.Present(fmt.Sprintf("Pgfirst%04d", i)),
		LastName:          customerd.Present(fmt.Sprintf("Pglast%04d", i)),
	}, storetest.T0)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func secretsOf(cs ...*customerd.Customer) []string {
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

// assertDumpHasNoPII dumps the whole database with pg_dump, as a backup
// would, and fails when any value appears in it, as text or as hex. canary is stored in clear
// on purpose, and proves the dump is searched.
func assertDumpHasNoPII(t *testing.T, dbURL, canary string, values []string) {
	t.Helper()
	if _, err := exec.LookPath("pg_dump"); err != nil {
		t.Skip("pg_dump not installed")
	}
	out, err := exec.Command("pg_dump", "--data-only", dbURL).Output()
	if err != nil {
		t.Fatalf("pg_dump: %v", err)
	}
	if !bytes.Contains(out, []byte(canary)) {
		t.Fatalf("the dump does not contain %q, which is stored in clear: the search proves nothing", canary)
	}
	for _, v := range values {
		// bytea columns are dumped in hex: look for that form too.
		if bytes.Contains(out, []byte(v)) || bytes.Contains(out, []byte(hex.EncodeToString([]byte(v)))) {
			t.Errorf("%q found in plaintext in the dump", v)
		}
	}
}

func TestNoPlaintextPIIInADump(t *testing.T) {
	u := pgtest.NewDatabase(t)
	s := node(t, u, pgtest.Vault())
	const merchant = "pg-merchant-in-clear"
	storetest.MustMerchant(t, s, merchant)
	var all []*customerd.Customer
	for i := range 20 {
		c := customer(t, merchant, i)
		if err := s.CreateCustomer(bg, c); err != nil {
			t.Fatal(err)
		}
		all = append(all, c)
		for _, q := range []string{c.ID, c.ObjectReferenceID} {
			got, err := s.FindCustomer(bg, merchant, q)
			if err != nil || *got != *c {
				t.Fatalf("find %q: %+v, %v", q, got, err)
			}
		}
		if i%2 == 0 {
			n := customer(t, merchant, 1000+i)
			got, err := s.UpdateCustomer(bg, merchant, c.ObjectReferenceID, customerd.Patch{
				MobileNumber: customerd.Present(n.MobileNumber), EmailAddress: customerd.Present(n.EmailAddress),
				FirstName: customerd.Present(""), LastName: customerd.Present(n.LastName)}, storetest.T0.Add(time.Minute))
			if err != nil || got.EmailAddress != n.EmailAddress || got.FirstName != "" || got.LastName != n.LastName {
				t.Fatalf("update: %+v, %v", got, err)
			}
			all = append(all, n)
		}
	}
	assertDumpHasNoPII(t, u, merchant, secretsOf(all...))
}

func TestMasterKeyIsRequiredAndChecked(t *testing.T) {
	u := pgtest.NewSchema(t)
	if _, err := postgres.Open(bg, u, postgres.Options{}); err == nil || !strings.Contains(err.Error(), "master key is required") {
		t.Fatalf("open without a key: %v", err)
	}
	right := newMaster(t)
	s := node(t, u, fieldcrypt.NewVault(right))
	storetest.MustMerchant(t, s, "m1")
	wrong := newMaster(t)
	_, err := postgres.Open(bg, u, postgres.Options{Vault: fieldcrypt.NewVault(wrong)})
	if !errors.Is(err, fieldcrypt.ErrMasterKeyMismatch) || !strings.Contains(err.Error(), right.ID()) {
		t.Fatalf("open with the wrong key: %v", err)
	}
}

func TestDataKeyRotationAcrossNodes(t *testing.T) {
	u := pgtest.NewSchema(t)
	k := newMaster(t)
	a := quietNode(t, u, sameKey(t, k))
	storetest.MustMerchant(t, a, "m1")
	var want []*customerd.Customer
	for i := range 25 {
		c := customer(t, "m1", i)
		if err := a.CreateCustomer(bg, c); err != nil {
			t.Fatal(err)
		}
		want = append(want, c)
	}
	b := quietNode(t, u, sameKey(t, k)) // caches m1's keys before the rotation
	if _, err := b.FindCustomer(bg, "m1", want[0].ID); err != nil {
		t.Fatal(err)
	}
	if v, err := a.RotateDataKey(bg, "m1"); err != nil || v != 2 {
		t.Fatalf("rotate = %d, %v", v, err)
	}
	// b writes under v2 although its cache predates it, and reads both.
	fresh := customer(t, "m1", 100)
	if err := b.CreateCustomer(bg, fresh); err != nil {
		t.Fatal(err)
	}
	want = append(want, fresh)
	got, err := b.UpdateCustomer(bg, "m1", want[1].ObjectReferenceID, customerd.Patch{FirstName: customerd.Present("Both")}, storetest.T0)
	if err != nil || got.FirstName != "Both" || got.EmailAddress != want[1].EmailAddress {
		t.Fatalf("update of a v1 row with a v2 field: %+v, %v", got, err)
	}
	want[1].FirstName = "Both"
	if got, err := a.FindCustomer(bg, "m1", fresh.ID); err != nil || *got != *fresh {
		t.Fatalf("read of a v2 row: %+v, %v", got, err)
	}
	total := 0
	for {
		n, err := a.ReencryptCustomers(bg, "m1", 6)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		total += n
	}
	if total != 25 {
		t.Fatalf("re-encrypted %d rows, want the 25 on v1", total)
	}
	check := node(t, u, sameKey(t, k))
	for _, c := range want {
		got, err := check.FindCustomer(bg, "m1", c.ObjectReferenceID)
		if err != nil || got.ID != c.ID || got.FirstName != c.FirstName || got.MobileNumber != c.MobileNumber {
			t.Fatalf("after re-encryption: %+v, %v", got, err)
		}
	}
	if n, _ := a.ReencryptCustomers(bg, "m1", 100); n != 0 {
		t.Fatalf("rows still below v2: %d", n)
	}
	if err := a.CreateCustomer(bg, customer(t, "m1", 3)); customerd.ErrorCode(err) != customerd.ECONFLICT {
		t.Fatalf("duplicate reference after rotation: %v", err)
	}
}

func TestMasterKeyRotationAcrossNodes(t *testing.T) {
	u := pgtest.NewSchema(t)
	oldKey, newKey := newMaster(t), newMaster(t)
	onOld := node(t, u, fieldcrypt.NewVault(oldKey))
	storetest.MustMerchant(t, onOld, "m1")
	c1 := customer(t, "m1", 1)
	if err := onOld.CreateCustomer(bg, c1); err != nil {
		t.Fatal(err)
	}
	if n, err := onOld.RewrapKeys(bg, newKey); err != nil || n != 2 {
		t.Fatalf("rewrap = %d, %v", n, err)
	}
	onNew := node(t, u, fieldcrypt.NewVault(newKey))
	if got, err := onNew.FindCustomer(bg, "m1", c1.ObjectReferenceID); err != nil || *got != *c1 {
		t.Fatalf("new node: %+v, %v", got, err)
	}
	// A node with both keys wraps what it creates under both.
	onBoth := node(t, u, fieldcrypt.NewVault(newKey, oldKey))
	storetest.MustMerchant(t, onBoth, "m2")
	c2 := customer(t, "m2", 2)
	if err := onBoth.CreateCustomer(bg, c2); err != nil {
		t.Fatal(err)
	}
	if got, err := onOld.FindCustomer(bg, "m2", c2.ID); err != nil || *got != *c2 {
		t.Fatalf("old node reading a merchant made on both keys: %+v, %v", got, err)
	}
	if _, err := onBoth.RetireMasterKeys(bg); err != nil {
		t.Fatal(err)
	}
	usage, err := onBoth.MasterKeyUsage(bg)
	if err != nil || len(usage) != 1 || usage[newKey.ID()] != 4 {
		t.Fatalf("usage after retire: %v, %v", usage, err)
	}
	if _, err := postgres.Open(bg, u, postgres.Options{Vault: fieldcrypt.NewVault(oldKey)}); !errors.Is(err, fieldcrypt.ErrMasterKeyMismatch) {
		t.Fatalf("old key after retire: %v", err)
	}
}

// legacySchema returns a schema as the versions before encryption left it:
// schema version 1, personal fields in plaintext, with the given customers.
func legacySchema(t *testing.T, u string, merchants []string, per int) []*customerd.Customer {
	t.Helper()
	schema, err := os.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	stmts := []string{
		`CREATE TABLE schema_migrations (version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)`,
		string(schema),
		`INSERT INTO schema_migrations VALUES (1, '0001_init.sql', now())`,
	}
	var out []*customerd.Customer
	for _, m := range merchants {
		stmts = append(stmts, fmt.Sprintf(`INSERT INTO merchants VALUES ('%s', now())`, m))
		for i := range per {
			c := customer(t, m, len(out))
			if i%3 == 0 {
				c.LastName = ""
			}
			last := "NULL"
			if c.LastName != "" {
				last = "'" + c.LastName + "'"
			}
			stmts = append(stmts, fmt.Sprintf(`INSERT INTO customers VALUES ('%s', '%s', '%s', '%s', '%s', '%s', '%s', %s, '%s', '%s')`,
				c.ID, c.MerchantID, c.ObjectReferenceID, c.MobileNumber, c.MobileCountryCode, c.EmailAddress, c.FirstName, last,
				c.DateCreated.Format(time.RFC3339), c.LastUpdated.Format(time.RFC3339)))
			out = append(out, c)
		}
	}
	pgtest.Exec(t, u, stmts...)
	return out
}

// c2i returns the index customer() made c from.
func c2i(t *testing.T, c *customerd.Customer) int {
	t.Helper()
	var i int
	if _, err := fmt.Sscanf(c.ObjectReferenceID, "pgcanary-ref-%04d@shop.example", &i); err != nil {
		t.Fatal(err)
	}
	return i
}

func TestPlaintextDatabaseMigratesWhileServing(t *testing.T) {
	u := pgtest.NewDatabase(t)
	legacy := legacySchema(t, u, []string{"m1", "m2"}, 150)
	k := newMaster(t)
	// a serves the old rows without moving them in the background.
	a := quietNode(t, u, sameKey(t, k))
	if n, err := a.PlaintextRemaining(bg); n != 300 || err != nil || a.PlaintextMigrated() {
		t.Fatalf("remaining = %d, %v", n, err)
	}
	for _, c := range legacy {
		for _, q := range []string{c.ID, c.ObjectReferenceID} {
			got, err := a.FindCustomer(bg, c.MerchantID, q)
			if err != nil || *got != *c {
				t.Fatalf("find plaintext %q: %+v, %v", q, got, err)
			}
		}
	}
	if _, err := a.FindCustomer(bg, "m2", legacy[0].ID); customerd.ErrorCode(err) != customerd.ENOTFOUND {
		t.Fatalf("a plaintext customer seen by another merchant: %v", err)
	}
	for _, c := range legacy[:3] {
		got, err := a.UpdateCustomer(bg, c.MerchantID, c.ObjectReferenceID, customerd.Patch{FirstName: customerd.Present("Moved")}, storetest.T0.Add(time.Hour))
		if err != nil || got.ID != c.ID || got.FirstName != "Moved" || got.EmailAddress != c.EmailAddress {
			t.Fatalf("update of a plaintext customer: %+v, %v", got, err)
		}
		c.FirstName, c.LastUpdated = "Moved", storetest.T0.Add(time.Hour)
	}
	if n, _ := a.PlaintextRemaining(bg); n != 297 {
		t.Fatalf("remaining after 3 updates = %d", n)
	}
	for _, c := range legacy[:11] { // moved and still plaintext
		if err := a.CreateCustomer(bg, customer(t, c.MerchantID, c2i(t, c))); customerd.ErrorCode(err) != customerd.ECONFLICT {
			t.Fatalf("create over a reference of an old row: %v", err)
		}
	}

	// b moves the rows while a, which still believes rows wait in
	// plaintext, serves them.
	b := node(t, u, sameKey(t, k))
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 3; !stop.Load(); i = 3 + (i+11)%(len(legacy)-3) {
			c := legacy[i]
			q := c.ObjectReferenceID
			if i%2 == 0 {
				q = c.ID
			}
			got, err := a.FindCustomer(bg, c.MerchantID, q)
			if err != nil || *got != *c {
				t.Errorf("read during the migration: %+v, %v; want %+v", got, err, c)
				return
			}
		}
	}()
	deadline := time.Now().Add(60 * time.Second)
	for !b.PlaintextMigrated() {
		if time.Now().After(deadline) {
			n, err := a.PlaintextRemaining(bg)
			t.Fatalf("not migrated after 60 s: %d left, %v", n, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	if n, err := a.PlaintextRemaining(bg); n != 0 || err != nil || !a.PlaintextMigrated() {
		t.Fatalf("a after the migration: %d left, %v", n, err)
	}
	for _, c := range legacy {
		got, err := a.FindCustomer(bg, c.MerchantID, c.ObjectReferenceID)
		if err != nil || *got != *c {
			t.Fatalf("after the migration: %+v, %v; want %+v", got, err, c)
		}
	}
	assertDumpHasNoPII(t, u, "0001_init.sql", secretsOf(legacy...))
}
