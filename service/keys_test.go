package service_test

import (
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
	"customerd/service"
	"customerd/sqlite"
)

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

func (p pii) request() customerd.CreateRequest {
	return customerd.CreateRequest{
		ObjectReferenceID: customerd.Present(p.ref),
		MobileNumber:      customerd.Present(p.mobile),
		MobileCountryCode: customerd.Present("65"),
		EmailAddress:      customerd.Present(p.email),
		FirstName:         customerd.Present(p.first),
		LastName:          customerd.Present(p.last),
	}
}

func (p pii) create(t testing.TB, svc *service.Service, merchant string) *customerd.Customer {
	t.Helper()
	c, err := svc.CreateCustomer(ctx, as(merchant), p.request())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNoPlaintextPersonalDataInTheDatabase(t *testing.T) {
	eachDatabase(t, func(t *testing.T, db database) {
		svc := process(t, db, newMaster(t))
		const merchant = "merchant-in-clear-canary"
		mustMerchant(t, svc, merchant)
		var secrets []string
		for i := range 30 {
			p := piiFor(i)
			c := p.create(t, svc, merchant)
			secrets = append(secrets, p.values()...)
			for _, q := range []string{c.ID, p.ref} {
				sameCustomer(t, find(t, svc, merchant, q), c)
			}
			if i%2 == 0 { // replace every field, and clear one
				np := piiFor(1000 + i)
				got, err := svc.UpdateCustomer(ctx, as(merchant), p.ref, customerd.UpdateRequest{MobileNumber: customerd.Present(np.mobile),
					EmailAddress: customerd.Present(np.email), FirstName: customerd.Present(np.first), LastName: customerd.Present("")})
				if err != nil {
					t.Fatal(err)
				}
				if got.MobileNumber != np.mobile || got.EmailAddress != np.email || got.FirstName != np.first || got.LastName != "" {
					t.Fatalf("after update: %+v", got)
				}
				secrets = append(secrets, np.mobile, np.email, np.first)
			}
		}
		// While the database is open (on SQLite: before the WAL is
		// checkpointed) and after it is closed.
		db.assertNoPlaintext(t, merchant, secrets)
		svc.Close()
		db.assertNoPlaintext(t, merchant, secrets)
	})
}

func TestWrongMasterKeyIsRefused(t *testing.T) {
	eachDatabase(t, func(t *testing.T, db database) {
		right, wrong := newMaster(t), newMaster(t)
		mustMerchant(t, process(t, db, right), "m1")
		_, err := open(t, db, wrong)
		if !errors.Is(err, fieldcrypt.ErrMasterKeyMismatch) {
			t.Fatalf("err = %v, want ErrMasterKeyMismatch", err)
		}
		for _, want := range []string{"wrong master key", right.ID(), wrong.ID()} {
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("error %q does not say %q", err, want)
			}
		}
		// Any one of the database's master keys is enough.
		process(t, db, wrong, right)
	})
}

func TestDataKeyRotation(t *testing.T) {
	eachDatabase(t, func(t *testing.T, db database) {
		key := newMaster(t)
		a := process(t, db, key)
		mustMerchant(t, a, "m1")
		mustMerchant(t, a, "m2")
		var want []*customerd.Customer
		for i := range 30 {
			want = append(want, piiFor(i).create(t, a, "m1"))
		}
		other := piiFor(99).create(t, a, "m2")
		// b is another process, with m1's keys cached before the rotation.
		b := process(t, db, key)
		find(t, b, "m1", want[0].ID)

		v, err := a.RotateDataKey(ctx, "m1")
		if err != nil || v != 2 {
			t.Fatalf("rotate = %d, %v", v, err)
		}
		_, err = a.RotateDataKey(ctx, "nobody")
		wantCode(t, err, customerd.ENOTFOUND)
		// b's next writes use the new version although its cache predates
		// it: an update by id...
		last := want[len(want)-1]
		got, err := b.UpdateCustomer(ctx, as("m1"), last.ID, customerd.UpdateRequest{FirstName: customerd.Present("Rotated")})
		if err != nil || got.FirstName != "Rotated" || got.ObjectReferenceID != last.ObjectReferenceID {
			t.Fatalf("update by id after rotation: %+v, %v", got, err)
		}
		last.FirstName, last.LastUpdated = got.FirstName, got.LastUpdated
		if v := db.fieldVersion(t, last.ID, "first_name"); v != 2 {
			t.Fatalf("a field updated after the rotation is sealed under v%d", v)
		}
		// ... and a create.
		want = append(want, piiFor(50).create(t, b, "m1"))
		if got := db.keyVersions(t, "m1"); got[1] != 30 || got[2] != 1 {
			t.Fatalf("key versions after rotation: %v", got)
		}
		// Re-encrypt in batches while updates run; reads see both versions.
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, c := range want[:10] {
				got, err := b.UpdateCustomer(ctx, as("m1"), c.ObjectReferenceID, customerd.UpdateRequest{FirstName: customerd.Present(fmt.Sprint("Renamed", i))})
				if err != nil {
					t.Errorf("update during re-encryption: %v", err)
					return
				}
				*c = *got
			}
		}()
		batches := 0
		for {
			customers, events, err := a.Reencrypt(ctx, "m1", 7)
			if err != nil {
				t.Fatal(err)
			}
			if customers+events == 0 {
				break
			}
			if customers > 0 {
				batches++
			}
			for _, c := range want[20:] { // not updated concurrently
				sameCustomer(t, find(t, b, "m1", c.ObjectReferenceID), c)
			}
		}
		wg.Wait()
		if batches < 4 {
			t.Fatalf("%d batches for 30 rows of 7", batches)
		}
		if got := db.keyVersions(t, "m1"); len(got) != 1 || got[2] != 31 {
			t.Fatalf("key versions after re-encryption: %v", got)
		}
		for _, v := range db.query(t, `SELECT key_version FROM events WHERE merchant_id = ?`, "m1") {
			if fmt.Sprint(v) != "2" {
				t.Fatalf("an event is still sealed under v%v after the re-encryption", v)
			}
		}
		if got := db.keyVersions(t, "m2"); len(got) != 1 || got[1] != 1 {
			t.Fatalf("another merchant was touched: %v", got)
		}
		for _, svc := range []*service.Service{a, b, process(t, db, key)} {
			for _, c := range append(want, other) {
				sameCustomer(t, find(t, svc, c.MerchantID, c.ObjectReferenceID), c)
			}
		}
		// The blind index did not change: the reference stays unique.
		_, err = a.CreateCustomer(ctx, as("m1"), piiFor(3).request())
		wantCode(t, err, customerd.ECONFLICT)
	})
}

func TestMasterKeyRotation(t *testing.T) {
	eachDatabase(t, func(t *testing.T, db database) {
		oldKey, newKey := newMaster(t), newMaster(t)
		onOld := process(t, db, oldKey)
		mustMerchant(t, onOld, "m1")
		c1 := piiFor(1).create(t, onOld, "m1")
		n, err := onOld.RewrapKeys(ctx, newKey)
		if err != nil || n != 2 {
			t.Fatalf("rewrap = %d, %v; want the data and index key of m1", n, err)
		}
		if n, err := onOld.RewrapKeys(ctx, newKey); err != nil || n != 0 {
			t.Fatalf("second rewrap = %d, %v; want nothing to do", n, err)
		}
		// A process started with the new key alone reads everything
		// wrapped so far, and the old one reads what the new one writes.
		onNew := process(t, db, newKey)
		sameCustomer(t, find(t, onNew, "m1", c1.ObjectReferenceID), c1)
		c2 := piiFor(2).create(t, onNew, "m1")
		sameCustomer(t, find(t, onOld, "m1", c2.ID), c2)
		// A merchant the old process creates now is wrapped under the old
		// key only: a process with the new key reads it when given the
		// previous key too.
		mustMerchant(t, onOld, "late")
		late := piiFor(3).create(t, onOld, "late")
		if _, err := onNew.FindCustomer(ctx, "late", late.ID); !errors.Is(err, fieldcrypt.ErrMasterKeyMismatch) {
			t.Fatalf("new-only process on an old-only merchant: err = %v, want ErrMasterKeyMismatch", err)
		}
		onBoth := process(t, db, newKey, oldKey)
		sameCustomer(t, find(t, onBoth, "late", late.ID), late)
		usage, err := onBoth.MasterKeyUsage(ctx)
		if err != nil || len(usage) != 2 {
			t.Fatalf("usage during the rotation = %+v, %v", usage, err)
		}
		for _, u := range usage {
			if wantM, wantK := map[bool]int{true: 1, false: 2}[u.MasterKeyID == newKey.ID()], map[bool]int{true: 2, false: 4}[u.MasterKeyID == newKey.ID()]; u.Merchants != wantM || u.Keys != wantK {
				t.Fatalf("usage of %s = %+v, want %d merchants and %d keys", u.MasterKeyID, u, wantM, wantK)
			}
		}

		// Retiring wraps the late merchant under the new key and drops the
		// old wraps.
		if n, err := onBoth.RetireMasterKeys(ctx); err != nil || n != 4 {
			t.Fatalf("retire = %d, %v; want the 4 old wraps deleted", n, err)
		}
		usage, err = onBoth.MasterKeyUsage(ctx)
		if err != nil || len(usage) != 1 || usage[0] != (service.MasterKeyUse{MasterKeyID: newKey.ID(), Merchants: 2, Keys: 4}) {
			t.Fatalf("usage after retire = %+v, %v", usage, err)
		}
		if _, err := open(t, db, oldKey); !errors.Is(err, fieldcrypt.ErrMasterKeyMismatch) {
			t.Fatalf("old key after retire: err = %v, want ErrMasterKeyMismatch", err)
		}
		final := process(t, db, newKey)
		for _, c := range []*customerd.Customer{c1, c2, late} {
			sameCustomer(t, find(t, final, c.MerchantID, c.ObjectReferenceID), c)
		}
	})
}

func TestInterruptedDataKeyRotationIsFinishedInTheBackground(t *testing.T) {
	eachDatabase(t, func(t *testing.T, db database) {
		key := newMaster(t)
		svc := process(t, db, key)
		mustMerchant(t, svc, "m1")
		for i := range 12 {
			piiFor(i).create(t, svc, "m1")
		}
		if _, err := svc.RotateDataKey(ctx, "m1"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := svc.Reencrypt(ctx, "m1", 5); err != nil { // then "crash"
			t.Fatal(err)
		}
		svc.Close()
		if got := db.keyVersions(t, "m1"); got[1] != 7 {
			t.Fatalf("before restart: %v", got)
		}
		process(t, db, key).StartBackground()
		deadline := time.Now().Add(10 * time.Second)
		for got := db.keyVersions(t, "m1"); got[1] != 0; got = db.keyVersions(t, "m1") {
			if time.Now().After(deadline) {
				t.Fatalf("rows still on v1: %v", got)
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

func TestDefaultKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	files := service.DefaultKeyFiles(path)
	var created []string
	onCreated := func(p string) { created = append(created, p) }
	start := func() (*service.Service, error) {
		st, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		v, err := files.Vault(ctx, st, onCreated)
		if err != nil {
			st.Close()
			return nil, err
		}
		return service.New(ctx, service.Config{Store: st, Vault: v})
	}
	svc, err := start()
	if err != nil {
		t.Fatal(err)
	}
	mustMerchant(t, svc, "m1")
	c := piiFor(1).create(t, svc, "m1")
	svc.Close()
	if len(created) != 1 || created[0] != files.Current {
		t.Fatalf("created %v, want [%s]", created, files.Current)
	}
	fi, err := os.Stat(files.Current)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v; want mode 0600", fi, err)
	}
	// The next start reuses the file and reads the data.
	if svc, err = start(); err != nil {
		t.Fatal(err)
	}
	sameCustomer(t, find(t, svc, "m1", c.ObjectReferenceID), c)
	svc.Close()
	if len(created) != 1 {
		t.Fatalf("a second key file was created: %v", created)
	}
	// A lost key file is an error, not a fresh key that would hide the data.
	if err := os.Remove(files.Current); err != nil {
		t.Fatal(err)
	}
	if _, err = start(); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("start without its key file: err = %v", err)
	}
	if _, statErr := os.Stat(files.Current); !errors.Is(statErr, os.ErrNotExist) {
		t.Fatal("a new key file was created for a database that has keys")
	}
}
