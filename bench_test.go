package customerd

import (
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

func BenchmarkCheckAPIKey(b *testing.B) {
	secret, k, err := NewAPIKey("m1", time.Now())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := CheckAPIKey(&k, secret); err != nil {
			b.Fatal(err)
		}
	}
}
