package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"customerd"
	"customerd/loadtest"
)

// Benchmarks of the store's hot reads and its group-committed write. Run with
// go test -run '^$' -bench . -benchmem ./sqlite

func BenchmarkStore(b *testing.B) {
	ctx := context.Background()
	s := open(b, filepath.Join(b.TempDir(), "bench.db"))
	defer s.Close()
	key, err := loadtest.Seed(ctx, s, loadtest.SeedConfig{MerchantID: "m1", Customers: 10000})
	if err != nil {
		b.Fatal(err)
	}
	prefix, _ := customerd.APIKeyPrefix(key)
	b.Run("FindCustomer/id", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i = (i + 7919) % 10000
			if _, err := s.FindCustomer(ctx, "m1", loadtest.CustomerID(i)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("FindCustomer/ref", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i = (i + 7919) % 10000
			if _, err := s.FindCustomer(ctx, "m1", loadtest.Reference(i)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("FindAPIKey", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.FindAPIKey(ctx, prefix); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("UpdateCustomer/parallel", func(b *testing.B) {
		p := customerd.Patch{MobileNumber: customerd.Present("9876543210")}
		b.ReportAllocs()
		b.SetParallelism(32) // enough concurrent writers for the group commit to batch
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				i = (i + 7919) % 10000
				if _, err := s.UpdateCustomer(ctx, "m1", loadtest.CustomerID(i), p, time.Now()); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}
