// Package storetest is the conformance suite every customerd.Store
// implementation must pass. Each store's tests call Run with a constructor
// for an empty store, so SQLite and PostgreSQL are held to the same behaviour.
package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"customerd"
)

// NewStore returns an empty, migrated store. The suite closes it.
type NewStore func(t *testing.T) customerd.Store

// Run runs every conformance test against stores made by newStore.
func Run(t *testing.T, newStore NewStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s customerd.Store)
	}{
		{"customer: created customer is found by id and by reference", testCreateFind},
		{"customer: another merchant's customer is not found", testMerchantIsolation},
		{"customer: reference is unique per merchant, reusable across merchants", testUniqueReference},
		{"customer: id match wins over reference match", testIDBeforeReference},
		{"customer: lookup is exact and case-sensitive", testExactLookup},
		{"customer: keys that are not valid text match nothing", testUnstorableKeys},
		{"update: writes only the given fields and clears empty optionals", testPartialUpdate},
		{"update: by reference, and not found for unknown or foreign customers", testUpdateLookup},
		{"update: empty patch leaves the customer and last_updated alone", testEmptyPatch},
		{"update: last_updated never goes backward", testLastUpdatedMonotonic},
		{"concurrency: one of 16 racing creates with one reference wins", testRacingCreates},
		{"concurrency: concurrent updates of different fields never undo each other", testConcurrentFieldUpdates},
		{"keys: merchant and key lifecycle", testKeys},
		{"keys: authenticate accepts active keys only", testAuthenticate},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			t.Cleanup(func() { s.Close() })
			tc.fn(t, s)
		})
	}
}

// T0 is the fixed clock of the suite.
var T0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// MustMerchant creates a merchant (and a key, whose secret it returns).
func MustMerchant(t testing.TB, s customerd.MerchantStore, id string) string {
	t.Helper()
	key, err := customerd.CreateMerchant(context.Background(), s, id, T0)
	if err != nil {
		t.Fatalf("create merchant %s: %v", id, err)
	}
	return key
}

func newCustomer(t testing.TB, merchant, ref string, now time.Time) *customerd.Customer {
	t.Helper()
	c, err := customerd.NewCustomer(merchant, customerd.CreateRequest{
		ObjectReferenceID: customerd.Present(ref),
		MobileNumber:      customerd.Present("99887766"),
		EmailAddress:      customerd.Present("jon@example.com"),
		FirstName:         customerd.Present("Jon"),
	}, now)
	if err != nil {
		t.Fatalf("new customer: %v", err)
	}
	return c
}

// MustCreate creates a customer of merchant with reference ref and fails
// the test if the store refuses it.
func MustCreate(t testing.TB, s customerd.Store, merchant, ref string) *customerd.Customer {
	t.Helper()
	c := newCustomer(t, merchant, ref, T0)
	if err := s.CreateCustomer(context.Background(), c); err != nil {
		t.Fatalf("create customer %q: %v", ref, err)
	}
	return c
}

func wantCode(t testing.TB, err error, code string) {
	t.Helper()
	if got := customerd.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

func sameCustomer(t testing.TB, got, want *customerd.Customer) {
	t.Helper()
	if got == nil {
		t.Fatalf("got nil customer, want %+v", want)
	}
	if *got != *want {
		t.Fatalf("customer mismatch\n got %+v\nwant %+v", *got, *want)
	}
}

func testCreateFind(t *testing.T, s customerd.Store) {
	ctx := context.Background()
	MustMerchant(t, s, "m1")
	c := MustCreate(t, s, "m1", "jon@example.com")
	got, err := s.FindCustomer(ctx, "m1", c.ID)
	if err != nil {
		t.Fatal(err)
	}
	sameCustomer(t, got, c)
	got, err = s.FindCustomer(ctx, "m1", "jon@example.com")
	if err != nil {
		t.Fatal(err)
	}
	sameCustomer(t, got, c)
	if got.LastName != "" || got.MobileCountryCode != "91" {
		t.Fatalf("unset last name %q, default country code %q", got.LastName, got.MobileCountryCode)
	}
}

func testMerchantIsolation(t *testing.T, s customerd.Store) {
	ctx := context.Background()
	MustMerchant(t, s, "m1")
	MustMerchant(t, s, "m2")
	c := MustCreate(t, s, "m1", "ref-1")
	_, err := s.FindCustomer(ctx, "m2", c.ID)
	wantCode(t, err, customerd.ENOTFOUND)
	_, err = s.FindCustomer(ctx, "m2", "ref-1")
	wantCode(t, err, customerd.ENOTFOUND)
	_, err = s.UpdateCustomer(ctx, "m2", c.ID, customerd.Patch{FirstName: customerd.Present("Eve")}, T0.Add(time.Hour))
	wantCode(t, err, customerd.ENOTFOUND)
	got, err := s.FindCustomer(ctx, "m1", c.ID)
	if err != nil {
		t.Fatal(err)
	}
	sameCustomer(t, got, c)
}

func testUniqueReference(t *testing.T, s customerd.Store) {
	ctx := context.Background()
	MustMerchant(t, s, "m1")
	MustMerchant(t, s, "m2")
	first := MustCreate(t, s, "m1", "dup")
	err := s.CreateCustomer(ctx, newCustomer(t, "m1", "dup", T0))
	wantCode(t, err, customerd.ECONFLICT)
	MustCreate(t, s, "m2", "dup")
	got, err := s.FindCustomer(ctx, "m1", "dup")
	if err != nil {
		t.Fatal(err)
	}
	sameCustomer(t, got, first)
}

func testIDBeforeReference(t *testing.T, s customerd.Store) {
	ctx := context.Background()
	MustMerchant(t, s, "m1")
	b := MustCreate(t, s, "m1", "b")
	a := MustCreate(t, s, "m1", b.ID) // a's reference is b's id
	got, err := s.FindCustomer(ctx, "m1", b.ID)
	if err != nil {
		t.Fatal(err)
	}
	sameCustomer(t, got, b)
	got, err = s.UpdateCustomer(ctx, "m1", b.ID, customerd.Patch{LastName: customerd.Present("B")}, T0)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != b.ID || got.LastName != "B" {
		t.Fatalf("update went to %s (last name %q), want %s", got.ID, got.LastName, b.ID)
	}
	got, err = s.FindCustomer(ctx, "m1", a.ID)
	if err != nil || got.LastName != "" {
		t.Fatalf("a was changed: %+v %v", got, err)
	}
	// A reference shaped like an id that no customer has is still found as
	// a reference.
	idLike := MustCreate(t, s, "m1", "cst_zzzzzzzzzzzzzzzz")
	got, err = s.UpdateCustomer(ctx, "m1", "cst_zzzzzzzzzzzzzzzz", customerd.Patch{LastName: customerd.Present("Z")}, T0)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != idLike.ID || got.LastName != "Z" {
		t.Fatalf("update by an id-shaped reference went to %s (last name %q), want %s", got.ID, got.LastName, idLike.ID)
	}
}

func testExactLookup(t *testing.T, s customerd.Store) {
	ctx := context.Background()
	MustMerchant(t, s, "m1")
	c := MustCreate(t, s, "m1", "Jon@Example.com")
	for _, q := range []string{"jon@example.com", "Jon@Example.com ", "Jon@Example.co", c.ID[:19], c.ID + "x"} {
		_, err := s.FindCustomer(ctx, "m1", q)
		wantCode(t, err, customerd.ENOTFOUND)
	}
	MustCreate(t, s, "m1", "a/b+c%2Fd ünïcødé")
	if _, err := s.FindCustomer(ctx, "m1", "a/b+c%2Fd ünïcødé"); err != nil {
		t.Fatalf("reference with special characters: %v", err)
	}
}

// Path segments are percent-decoded, so a lookup key may hold invalid UTF-8
// or NUL bytes, which some databases refuse in text. They match nothing;
// they are not a fault.
func testUnstorableKeys(t *testing.T, s customerd.Store) {
	ctx := context.Background()
	MustMerchant(t, s, "m1")
	MustCreate(t, s, "m1", "ref")
	for _, key := range []string{"\xff\xfe", "ref\x00", "cst_\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"} {
		_, err := s.FindCustomer(ctx, "m1", key)
		wantCode(t, err, customerd.ENOTFOUND)
		_, err = s.UpdateCustomer(ctx, "m1", key, customerd.Patch{FirstName: customerd.Present("x")}, T0)
		wantCode(t, err, customerd.ENOTFOUND)
	}
	prefix := "cdk_\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"
	_, err := customerd.Authenticate(ctx, s, prefix+"0000000000000000000000000000")
	wantCode(t, err, customerd.EUNAUTHORIZED)
	wantCode(t, customerd.RevokeAPIKey(ctx, s, prefix, T0), customerd.ENOTFOUND)
}

func testPartialUpdate(t *testing.T, s customerd.Store) {
	ctx := context.Background()
	MustMerchant(t, s, "m1")
	c := MustCreate(t, s, "m1", "ref")
	later := T0.Add(90 * time.Second)
	p, err := customerd.NewPatch(customerd.UpdateRequest{
		MobileNumber: customerd.Present("12345"),
		EmailAddress: customerd.Present(""),
		LastName:     customerd.Present("Snow"),
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.UpdateCustomer(ctx, "m1", c.ID, p, later)
	if err != nil {
		t.Fatal(err)
	}
	want := *c
	want.MobileNumber, want.EmailAddress, want.LastName = "12345", "", "Snow"
	want.LastUpdated = later
	sameCustomer(t, got, &want)
	stored, err := s.FindCustomer(ctx, "m1", "ref")
	if err != nil {
		t.Fatal(err)
	}
	sameCustomer(t, stored, &want)
}

func testUpdateLookup(t *testing.T, s customerd.Store) {
	ctx := context.Background()
	MustMerchant(t, s, "m1")
	MustMerchant(t, s, "m2")
	MustCreate(t, s, "m1", "jon@example.com")
	got, err := s.UpdateCustomer(ctx, "m1", "jon@example.com", customerd.Patch{MobileCountryCode: customerd.Present("65")}, T0)
	if err != nil {
		t.Fatal(err)
	}
	if got.MobileCountryCode != "65" {
		t.Fatalf("country code %q", got.MobileCountryCode)
	}
	_, err = s.UpdateCustomer(ctx, "m1", "nobody", customerd.Patch{MobileCountryCode: customerd.Present("65")}, T0)
	wantCode(t, err, customerd.ENOTFOUND)
	_, err = s.UpdateCustomer(ctx, "m2", "jon@example.com", customerd.Patch{MobileCountryCode: customerd.Present("1")}, T0)
	wantCode(t, err, customerd.ENOTFOUND)
	_, err = s.UpdateCustomer(ctx, "m1", "cst_aaaaaaaaaaaaaaaa", customerd.Patch{}, T0)
	wantCode(t, err, customerd.ENOTFOUND)
}

func testEmptyPatch(t *testing.T, s customerd.Store) {
	MustMerchant(t, s, "m1")
	c := MustCreate(t, s, "m1", "ref")
	got, err := s.UpdateCustomer(context.Background(), "m1", c.ID, customerd.Patch{}, T0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	sameCustomer(t, got, c)
}

func testLastUpdatedMonotonic(t *testing.T, s customerd.Store) {
	ctx := context.Background()
	MustMerchant(t, s, "m1")
	c := MustCreate(t, s, "m1", "ref")
	p := customerd.Patch{FirstName: customerd.Present("Arya")}
	if _, err := s.UpdateCustomer(ctx, "m1", c.ID, p, T0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	got, err := s.UpdateCustomer(ctx, "m1", c.ID, customerd.Patch{FirstName: customerd.Present("Sansa")}, T0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if !got.LastUpdated.Equal(T0.Add(time.Hour)) || got.FirstName != "Sansa" || !got.DateCreated.Equal(T0) {
		t.Fatalf("after a clock step back: %+v", got)
	}
}

func testRacingCreates(t *testing.T, s customerd.Store) {
	MustMerchant(t, s, "m1")
	const n = 16
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newCustomer(t, "m1", "racer", T0)
			<-start
			errs[i] = s.CreateCustomer(context.Background(), c)
		}()
	}
	close(start)
	wg.Wait()
	wins, conflicts := 0, 0
	for _, err := range errs {
		switch customerd.ErrorCode(err) {
		case "":
			wins++
		case customerd.ECONFLICT:
			conflicts++
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if wins != 1 || conflicts != n-1 {
		t.Fatalf("wins=%d conflicts=%d, want 1 and %d", wins, conflicts, n-1)
	}
}

func testConcurrentFieldUpdates(t *testing.T, s customerd.Store) {
	ctx := context.Background()
	MustMerchant(t, s, "m1")
	c := MustCreate(t, s, "m1", "ref")
	const rounds = 20
	var wg sync.WaitGroup
	fields := []func(i int) customerd.Patch{
		func(i int) customerd.Patch {
			return customerd.Patch{FirstName: customerd.Present(fmt.Sprintf("F%d", i))}
		},
		func(i int) customerd.Patch {
			return customerd.Patch{LastName: customerd.Present(fmt.Sprintf("L%d", i))}
		},
		func(i int) customerd.Patch {
			return customerd.Patch{MobileNumber: customerd.Present(fmt.Sprintf("9%d", i))}
		},
		func(i int) customerd.Patch {
			return customerd.Patch{MobileCountryCode: customerd.Present(fmt.Sprintf("%d", i))}
		},
		func(i int) customerd.Patch {
			return customerd.Patch{EmailAddress: customerd.Present(fmt.Sprintf("e%d@example.com", i))}
		},
	}
	for _, mk := range fields {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1; i <= rounds; i++ {
				if _, err := s.UpdateCustomer(ctx, "m1", c.ID, mk(i), T0); err != nil {
					t.Errorf("update: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	got, err := s.FindCustomer(ctx, "m1", c.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := *c
	want.FirstName, want.LastName = fmt.Sprintf("F%d", rounds), fmt.Sprintf("L%d", rounds)
	want.MobileNumber, want.MobileCountryCode = fmt.Sprintf("9%d", rounds), fmt.Sprintf("%d", rounds)
	want.EmailAddress = fmt.Sprintf("e%d@example.com", rounds)
	sameCustomer(t, got, &want)
}

func testKeys(t *testing.T, s customerd.Store) {
	ctx := context.Background()
	if n, err := s.CountMerchants(ctx); err != nil || n != 0 {
		t.Fatalf("count on empty store = %d, %v", n, err)
	}
	secret := MustMerchant(t, s, "m1")
	_, err := customerd.CreateMerchant(ctx, s, "m1", T0)
	wantCode(t, err, customerd.ECONFLICT)
	_, err = customerd.CreateAPIKey(ctx, s, "nobody", T0)
	wantCode(t, err, customerd.ENOTFOUND)
	second, err := customerd.CreateAPIKey(ctx, s, "m1", T0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.CountMerchants(ctx); err != nil || n != 1 {
		t.Fatalf("count = %d, %v", n, err)
	}
	keys, err := s.ListAPIKeys(ctx, "m1")
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].Prefix != secret[:customerd.KeyPrefixLen] || keys[1].Prefix != second[:customerd.KeyPrefixLen] {
		t.Fatalf("keys = %+v", keys)
	}
	for _, k := range keys {
		if k.Revoked() || k.MerchantID != "m1" {
			t.Fatalf("fresh key %+v", k)
		}
	}
	_, err = s.ListAPIKeys(ctx, "nobody")
	wantCode(t, err, customerd.ENOTFOUND)
	if err := customerd.RevokeAPIKey(ctx, s, secret, T0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := customerd.RevokeAPIKey(ctx, s, secret[:customerd.KeyPrefixLen], T0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	k, err := s.FindAPIKey(ctx, secret[:customerd.KeyPrefixLen])
	if err != nil {
		t.Fatal(err)
	}
	if !k.RevokedAt.Equal(T0.Add(time.Minute)) {
		t.Fatalf("revoked at %v, want the first revocation", k.RevokedAt)
	}
	wantCode(t, customerd.RevokeAPIKey(ctx, s, "cdk_nothere", T0), customerd.ENOTFOUND)
}

func testAuthenticate(t *testing.T, s customerd.Store) {
	ctx := context.Background()
	secret := MustMerchant(t, s, "m1")
	got, err := customerd.Authenticate(ctx, s, secret)
	if err != nil || got != "m1" {
		t.Fatalf("authenticate = %q, %v", got, err)
	}
	forged := secret[:customerd.KeyPrefixLen] + "0000000000000000000000000000"
	for _, bad := range []string{"", "nope", forged, secret + "x", secret[:len(secret)-1]} {
		_, err := customerd.Authenticate(ctx, s, bad)
		wantCode(t, err, customerd.EUNAUTHORIZED)
	}
	if err := customerd.RevokeAPIKey(ctx, s, secret, T0); err != nil {
		t.Fatal(err)
	}
	_, err = customerd.Authenticate(ctx, s, secret)
	wantCode(t, err, customerd.EUNAUTHORIZED)
}
