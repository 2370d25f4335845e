package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"customerd"
	"customerd/postgres"
	"customerd/postgres/pgtest"
	"customerd/storetest"
)

// BenchmarkCustomerPaths measures the store calls the API makes against a
// PostgreSQL schema of its own. Without the Vault option it runs against the
// store before encryption, which is how BENCHMARKS.md compares the two.
func BenchmarkCustomerPaths(b *testing.B) {
	bg := context.Background()
	s, err := postgres.Open(bg, pgtest.NewSchema(b), postgres.Options{Vault: pgtest.Vault()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	newCustomer, existing := storetest.BenchCustomers(b, s, 500)
	b.Run("create", func(b *testing.B) {
		defer storetest.ReportCPU(b, storetest.CPUTime())
		for b.Loop() {
			if err := s.CreateCustomer(bg, newCustomer()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("get by id", func(b *testing.B) {
		defer storetest.ReportCPU(b, storetest.CPUTime())
		i := 0
		for b.Loop() {
			if _, err := s.FindCustomer(bg, "m1", existing[i%len(existing)].ID); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("get by reference", func(b *testing.B) {
		defer storetest.ReportCPU(b, storetest.CPUTime())
		i := 0
		for b.Loop() {
			if _, err := s.FindCustomer(bg, "m1", existing[i%len(existing)].ObjectReferenceID); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("update two fields, by id", func(b *testing.B) {
		defer storetest.ReportCPU(b, storetest.CPUTime())
		i := 0
		for b.Loop() {
			p := customerd.Patch{FirstName: customerd.Present(fmt.Sprintf("Jon%d", i)), MobileNumber: customerd.Present("12345")}
			if _, err := s.UpdateCustomer(bg, "m1", existing[i%len(existing)].ID, p, time.Now()); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("update two fields, by reference", func(b *testing.B) {
		defer storetest.ReportCPU(b, storetest.CPUTime())
		i := 0
		for b.Loop() {
			p := customerd.Patch{FirstName: customerd.Present(fmt.Sprintf("Jon%d", i)), MobileNumber: customerd.Present("12345")}
			if _, err := s.UpdateCustomer(bg, "m1", existing[i%len(existing)].ObjectReferenceID, p, time.Now()); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}
