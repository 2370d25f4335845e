package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"customerd"
	"customerd/sqlite"
	"customerd/storetest"
)

// BenchmarkCustomerPaths measures the store calls the API makes, on a real
// file with every field set. It compiles against the store before
// encryption too, which is how BENCHMARKS.md compares the two.
func BenchmarkCustomerPaths(b *testing.B) {
	bg := context.Background()
	s, err := sqlite.Open(bg, filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	newCustomer, existing := storetest.BenchCustomers(b, s, 1000)
	b.Run("create, 16 concurrent", func(b *testing.B) {
		defer storetest.ReportCPU(b, storetest.CPUTime())
		b.SetParallelism(8) // 8 goroutines per GOMAXPROCS
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := s.CreateCustomer(bg, newCustomer()); err != nil {
					b.Error(err)
					return
				}
			}
		})
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
	b.Run("update two fields, 16 concurrent", func(b *testing.B) {
		defer storetest.ReportCPU(b, storetest.CPUTime())
		b.SetParallelism(8)
		var n atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := n.Add(1)
				p := customerd.Patch{FirstName: customerd.Present(fmt.Sprintf("Jon%d", i)), MobileNumber: customerd.Present("12345")}
				if _, err := s.UpdateCustomer(bg, "m1", existing[int(i)%len(existing)].ObjectReferenceID, p, time.Now()); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
