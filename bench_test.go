package customerd

import (
	"context"
	"testing"
	"time"
)

// Benchmarks of the domain's share of each request. Run with
// go test -run '^$' -bench . -benchmem ./...

func BenchmarkNewPatch(b *testing.B) {
	req := UpdateRequest{MobileNumber: Present("9876543210"), FirstName: Present("Load123")}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewPatch(req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNewCustomer(b *testing.B) {
	req := CreateRequest{
		ObjectReferenceID: Present("customer-1234"), MobileNumber: Present("9876543210"),
		EmailAddress: Present("jon.snow@example.com"), FirstName: Present("Jon"), LastName: Present("Snow"),
	}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewCustomer("m1", req, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAuthenticate(b *testing.B) {
	ctx := context.Background()
	store := &memKeys{keys: map[string]APIKey{}}
	secret, k, err := NewAPIKey("m1", time.Now())
	if err != nil {
		b.Fatal(err)
	}
	store.keys[k.Prefix] = k
	for _, bc := range []struct {
		name  string
		store MerchantStore
	}{
		{"store", store},
		{"cached", NewKeyCache(store, DefaultKeyCacheTTL)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Authenticate(ctx, bc.store, secret); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
