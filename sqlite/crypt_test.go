package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"customerd"
	"customerd/fieldcrypt"
	"customerd/sqlite"
	"customerd/storetest"
)

var ctx = context.Background()

func newMaster(t testing.TB) *fieldcrypt.MasterKey {
	t.Helper()
	k, err := fieldcrypt.GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func openWith(t testing.TB, path string, opts ...sqlite.Option) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(ctx, path, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// pii is one customer's personal data, each value distinctive enough that
// finding it in a file cannot be a coincidence.
type pii struct{ ref, mobile, email, first, last string }

func piiFor(i int) pii {
	return pii{
		ref:    fmt.Sprintf("canary-ref-%04d@shop.example", i),
		mobile: fmt.Sprintf("7%010d", 5550000000+i),
		email:  fmt.Sprintf("canary.mail%04d@example.org", i),
		first:  fmt.Sprintf("Firstcanary%04d", i),
		last:   fmt.Sprintf("Lastcanary%04d", i),
	}
}

func (p pii) values() []string { return []string{p.ref, p.mobile, p.email, p.first, p.last} }

func (p pii) customer(t testing.TB, merchant string) *customerd.Customer {
	t.Helper()
	c, err := customerd.NewCustomer(merchant, customerd.CreateRequest{
		ObjectReferenceID: customerd.Present(p.ref),
		MobileNumber:      customerd.Present(p.mobile),
		MobileCountryCode: customerd.Present("65"),
		EmailAddress:      customerd.Present(p.email),
		FirstName:         customerd.Present(p.first),
		LastName:          customerd.Present(p.last),
	}, storetest.T0)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// filesContaining returns the names of the database's files (main, WAL,
// shared memory) that contain needle.
func filesContaining(t testing.TB, dbPath string, needle string) []string {
	t.Helper()
	matches, err := filepath.Glob(dbPath + "*")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range matches {
		if strings.HasSuffix(f, ".key") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(needle)) {
			out = append(out, filepath.Base(f))
		}
	}
	return out
}

// assertNoPII fails when any value appears in any file of the database, and
// proves the search works by finding a value stored in clear on purpose.
func assertNoPII(t *testing.T, dbPath, canary string, values []string) {
	t.Helper()
	if len(filesContaining(t, dbPath, canary)) == 0 {
		t.Fatalf("the search does not find %q, which is stored in clear: it proves nothing", canary)
	}
	for _, v := range values {
		if f := filesContaining(t, dbPath, v); len(f) > 0 {
			t.Errorf("%q found in plaintext in %v", v, f)
		}
	}
}

func TestNoPlaintextPIIOnDisk(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	s := openWith(t, path)
	const merchant = "merchant-in-clear-canary"
	storetest.MustMerchant(t, s, merchant)
	var secrets []string
	for i := range 40 {
		p := piiFor(i)
		c := p.customer(t, merchant)
		if err := s.CreateCustomer(ctx, c); err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, p.values()...)
		for _, q := range []string{c.ID, p.ref} {
			got, err := s.FindCustomer(ctx, merchant, q)
			if err != nil || *got != *c {
				t.Fatalf("find %q: %+v, %v", q, got, err)
			}
		}
		if i%2 == 0 { // replace every field, and clear one
			np := piiFor(1000 + i)
			patch := customerd.Patch{MobileNumber: customerd.Present(np.mobile), EmailAddress: customerd.Present(np.email),
				FirstName: customerd.Present(np.first), LastName: customerd.Present("")}
			got, err := s.UpdateCustomer(ctx, merchant, p.ref, patch, storetest.T0.Add(time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			if got.MobileNumber != np.mobile || got.EmailAddress != np.email || got.FirstName != np.first || got.LastName != "" {
				t.Fatalf("after update: %+v", got)
			}
			secrets = append(secrets, np.mobile, np.email, np.first)
		}
	}
	// Look while the store is open (WAL not checkpointed) and after close.
	assertNoPII(t, path, merchant, secrets)
	s.Close()
	assertNoPII(t, path, merchant, secrets)
}

func TestWrongMasterKeyIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	right := newMaster(t)
	s, err := sqlite.Open(ctx, path, sqlite.WithVault(fieldcrypt.NewVault(right)))
	if err != nil {
		t.Fatal(err)
	}
	storetest.MustMerchant(t, s, "m1")
	s.Close()
	wrong := newMaster(t)
	_, err = sqlite.Open(ctx, path, sqlite.WithVault(fieldcrypt.NewVault(wrong)))
	if !errors.Is(err, fieldcrypt.ErrMasterKeyMismatch) {
		t.Fatalf("err = %v, want ErrMasterKeyMismatch", err)
	}
	for _, want := range []string{"wrong master key", right.ID(), wrong.ID()} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q does not say %q", err, want)
		}
	}
}

func TestDefaultKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	var created []string
	onCreated := sqlite.OnKeyFileCreated(func(p string) { created = append(created, p) })
	s, err := sqlite.Open(ctx, path, onCreated)
	if err != nil {
		t.Fatal(err)
	}
	storetest.MustMerchant(t, s, "m1")
	c := piiFor(1).customer(t, "m1")
	if err := s.CreateCustomer(ctx, c); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if len(created) != 1 || created[0] != sqlite.KeyFilePath(path) {
		t.Fatalf("created %v, want [%s]", created, sqlite.KeyFilePath(path))
	}
	fi, err := os.Stat(sqlite.KeyFilePath(path))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v; want mode 0600", fi, err)
	}

	// The next start reuses the file and reads the data.
	s, err = sqlite.Open(ctx, path, onCreated)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.FindCustomer(ctx, "m1", c.ObjectReferenceID)
	s.Close()
	if err != nil || *got != *c {
		t.Fatalf("after reopen: %+v, %v", got, err)
	}
	if len(created) != 1 {
		t.Fatalf("a second key file was created: %v", created)
	}

	// A lost key file is an error, not a fresh key that would hide the data.
	if err := os.Remove(sqlite.KeyFilePath(path)); err != nil {
		t.Fatal(err)
	}
	_, err = sqlite.Open(ctx, path, onCreated)
	if err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("open without its key file: err = %v", err)
	}
	if _, statErr := os.Stat(sqlite.KeyFilePath(path)); !errors.Is(statErr, os.ErrNotExist) {
		t.Fatal("a new key file was created for a database that has keys")
	}
}

// rawKeyVersions returns how many of the merchant's rows use each key_version.
// rawFieldVersion returns the data-key version a customer's sealed column
// carries.
func rawFieldVersion(t testing.TB, path, id, column string) uint32 {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var sealed []byte
	if err := db.QueryRow(`SELECT `+column+` FROM customers WHERE id = ?`, id).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	v, err := fieldcrypt.VersionOf(sealed)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func rawKeyVersions(t testing.TB, path, merchant string) map[int]int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT key_version, COUNT(*) FROM customers WHERE merchant_id = ? GROUP BY 1`, merchant)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[int]int{}
	for rows.Next() {
		var v, n int
		if err := rows.Scan(&v, &n); err != nil {
			t.Fatal(err)
		}
		out[v] = n
	}
	return out
}

func TestDataKeyRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	vault := func() sqlite.Option { // each store has its own cache, like a process
		k, err := fieldcrypt.ReadMasterKeyFile(sqlite.KeyFilePath(path))
		if err != nil {
			t.Fatal(err)
		}
		return sqlite.WithVault(fieldcrypt.NewVault(k))
	}
	// No background work: it would finish the rotation this test drives.
	a := openWith(t, path, sqlite.NoBackground())
	storetest.MustMerchant(t, a, "m1")
	storetest.MustMerchant(t, a, "m2")
	var want []*customerd.Customer
	for i := range 30 {
		c := piiFor(i).customer(t, "m1")
		if err := a.CreateCustomer(ctx, c); err != nil {
			t.Fatal(err)
		}
		want = append(want, c)
	}
	other := piiFor(99).customer(t, "m2")
	if err := a.CreateCustomer(ctx, other); err != nil {
		t.Fatal(err)
	}
	// b is another process on the same file, with m1's keys cached before
	// the rotation.
	b := openWith(t, path, vault(), sqlite.NoBackground())
	if _, err := b.FindCustomer(ctx, "m1", want[0].ID); err != nil {
		t.Fatal(err)
	}

	v, err := a.RotateDataKey(ctx, "m1")
	if err != nil || v != 2 {
		t.Fatalf("rotate = %d, %v", v, err)
	}
	if _, err := a.RotateDataKey(ctx, "nobody"); customerd.ErrorCode(err) != customerd.ENOTFOUND {
		t.Fatalf("rotate unknown merchant: %v", err)
	}
	// b's next writes use the new version although its cache predates it:
	// an update by id (sealed before it is queued, with the cached keys)...
	last := want[len(want)-1]
	got, err := b.UpdateCustomer(ctx, "m1", last.ID, customerd.Patch{FirstName: customerd.Present("Rotated")}, storetest.T0)
	if err != nil || got.FirstName != "Rotated" || got.ObjectReferenceID != last.ObjectReferenceID {
		t.Fatalf("update by id after rotation: %+v, %v", got, err)
	}
	last.FirstName = got.FirstName
	if v := rawFieldVersion(t, path, last.ID, "first_name"); v != 2 {
		t.Fatalf("a field updated after the rotation is sealed under v%d", v)
	}
	// ... and a create.
	fresh := piiFor(50).customer(t, "m1")
	if err := b.CreateCustomer(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	want = append(want, fresh)
	if got := rawKeyVersions(t, path, "m1"); got[1] != 30 || got[2] != 1 {
		t.Fatalf("key versions after rotation: %v", got)
	}

	// Re-encrypt in batches while updates run; reads see both versions.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i, c := range want[:10] {
			name := fmt.Sprintf("Renamed%d", i)
			got, err := b.UpdateCustomer(ctx, "m1", c.ObjectReferenceID, customerd.Patch{FirstName: customerd.Present(name)}, storetest.T0)
			if err != nil {
				t.Errorf("update during re-encryption: %v", err)
				return
			}
			c.FirstName = got.FirstName
		}
	}()
	batches := 0
	for {
		n, err := a.ReencryptCustomers(ctx, "m1", 7)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		batches++
		for _, c := range want[20:] { // not updated concurrently
			got, err := b.FindCustomer(ctx, "m1", c.ObjectReferenceID)
			if err != nil || *got != *c {
				t.Fatalf("read during re-encryption: %+v, %v", got, err)
			}
		}
	}
	wg.Wait()
	if batches < 4 {
		t.Fatalf("%d batches for 30 rows of 7", batches)
	}
	if got := rawKeyVersions(t, path, "m1"); len(got) != 1 || got[2] != 31 {
		t.Fatalf("key versions after re-encryption: %v", got)
	}
	if got := rawKeyVersions(t, path, "m2"); len(got) != 1 || got[1] != 1 {
		t.Fatalf("another merchant was touched: %v", got)
	}
	for _, s := range []*sqlite.Store{a, b, openWith(t, path, vault())} {
		for _, c := range append(want, other) {
			got, err := s.FindCustomer(ctx, c.MerchantID, c.ObjectReferenceID)
			if err != nil || got.ID != c.ID || got.FirstName != c.FirstName || got.EmailAddress != c.EmailAddress {
				t.Fatalf("after rotation: %+v, %v; want %+v", got, err, c)
			}
		}
	}
	// The blind index did not change: the reference stays unique.
	if err := a.CreateCustomer(ctx, piiFor(3).customer(t, "m1")); customerd.ErrorCode(err) != customerd.ECONFLICT {
		t.Fatalf("duplicate reference after rotation: %v", err)
	}
}

func TestMasterKeyRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	oldKey, newKey := newMaster(t), newMaster(t)
	onOld := openWith(t, path, sqlite.WithVault(fieldcrypt.NewVault(oldKey)))
	storetest.MustMerchant(t, onOld, "m1")
	c1 := piiFor(1).customer(t, "m1")
	if err := onOld.CreateCustomer(ctx, c1); err != nil {
		t.Fatal(err)
	}
	n, err := onOld.RewrapKeys(ctx, newKey)
	if err != nil || n != 2 {
		t.Fatalf("rewrap = %d, %v; want the data and index key of m1", n, err)
	}
	if n, err := onOld.RewrapKeys(ctx, newKey); err != nil || n != 0 {
		t.Fatalf("second rewrap = %d, %v; want nothing to do", n, err)
	}

	// A node started with the new key alone reads everything wrapped so far.
	onNew := openWith(t, path, sqlite.WithVault(fieldcrypt.NewVault(newKey)))
	if got, err := onNew.FindCustomer(ctx, "m1", c1.ObjectReferenceID); err != nil || *got != *c1 {
		t.Fatalf("new node: %+v, %v", got, err)
	}
	c2 := piiFor(2).customer(t, "m1")
	if err := onNew.CreateCustomer(ctx, c2); err != nil {
		t.Fatal(err)
	}
	// The old node keeps working, and reads what the new node wrote.
	if got, err := onOld.FindCustomer(ctx, "m1", c2.ID); err != nil || *got != *c2 {
		t.Fatalf("old node: %+v, %v", got, err)
	}
	// A merchant the old node creates now is wrapped under the old key only:
	// a node with the new key reads it when given the previous key too.
	storetest.MustMerchant(t, onOld, "late")
	late := piiFor(3).customer(t, "late")
	if err := onOld.CreateCustomer(ctx, late); err != nil {
		t.Fatal(err)
	}
	if _, err := onNew.FindCustomer(ctx, "late", late.ID); !errors.Is(err, fieldcrypt.ErrMasterKeyMismatch) {
		t.Fatalf("new-only node on an old-only merchant: err = %v, want ErrMasterKeyMismatch", err)
	}
	onBoth := openWith(t, path, sqlite.WithVault(fieldcrypt.NewVault(newKey, oldKey)))
	if got, err := onBoth.FindCustomer(ctx, "late", late.ID); err != nil || *got != *late {
		t.Fatalf("node with both keys: %+v, %v", got, err)
	}

	// Retiring wraps the late merchant under the new key and drops the old wraps.
	if _, err := onBoth.RetireMasterKeys(ctx); err != nil {
		t.Fatal(err)
	}
	usage, err := onBoth.MasterKeyUsage(ctx)
	if err != nil || len(usage) != 1 || usage[newKey.ID()] != 4 {
		t.Fatalf("usage after retire = %v, %v", usage, err)
	}
	_, err = sqlite.Open(ctx, path, sqlite.WithVault(fieldcrypt.NewVault(oldKey)))
	if !errors.Is(err, fieldcrypt.ErrMasterKeyMismatch) {
		t.Fatalf("old key after retire: err = %v, want ErrMasterKeyMismatch", err)
	}
	final := openWith(t, path, sqlite.WithVault(fieldcrypt.NewVault(newKey)))
	for _, c := range []*customerd.Customer{c1, c2, late} {
		if got, err := final.FindCustomer(ctx, c.MerchantID, c.ObjectReferenceID); err != nil || *got != *c {
			t.Fatalf("after retire: %+v, %v", got, err)
		}
	}
}

func TestInterruptedDataKeyRotationIsFinishedOnStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	s := openWith(t, path, sqlite.NoBackground())
	storetest.MustMerchant(t, s, "m1")
	for i := range 12 {
		if err := s.CreateCustomer(ctx, piiFor(i).customer(t, "m1")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.RotateDataKey(ctx, "m1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReencryptCustomers(ctx, "m1", 5); err != nil { // then "crash"
		t.Fatal(err)
	}
	s.Close()
	if got := rawKeyVersions(t, path, "m1"); got[1] != 7 {
		t.Fatalf("before restart: %v", got)
	}
	openWith(t, path)
	deadline := time.Now().Add(10 * time.Second)
	for got := rawKeyVersions(t, path, "m1"); got[1] != 0; got = rawKeyVersions(t, path, "m1") {
		if time.Now().After(deadline) {
			t.Fatalf("rows still on v1: %v", got)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
