package sqlite_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"customerd"
	"customerd/sqlite"
	"customerd/storetest"
)

// cpuTime returns the CPU time this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds the process's CPU time per operation to b's results: on a
// shared machine it varies far less than the wall time, which waits on
// fsync and on other processes.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

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
	storetest.MustMerchant(b, s, "m1")
	var seq atomic.Int64
	newCustomer := func() *customerd.Customer {
		// References in random order, as real ones (emails) arrive: a
		// sequential reference would flatter the plaintext index.
		n := sha256.Sum256(fmt.Append(nil, seq.Add(1)))
		email := fmt.Sprintf("c%x@example.com", n[:8])
		c, err := customerd.NewCustomer("m1", customerd.CreateRequest{
			ObjectReferenceID: customerd.Present(email),
			MobileNumber:      customerd.Present("99887766"),
			EmailAddress:      customerd.Present(email),
			FirstName:         customerd.Present("Jon"),
			LastName:          customerd.Present("Snow"),
		}, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	var existing []*customerd.Customer
	for range 1000 {
		c := newCustomer()
		if err := s.CreateCustomer(bg, c); err != nil {
			b.Fatal(err)
		}
		existing = append(existing, c)
	}
	b.Run("create, 16 concurrent", func(b *testing.B) {
		defer reportCPU(b, cpuTime())
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
		defer reportCPU(b, cpuTime())
		i := 0
		for b.Loop() {
			if _, err := s.FindCustomer(bg, "m1", existing[i%len(existing)].ID); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("get by reference", func(b *testing.B) {
		defer reportCPU(b, cpuTime())
		i := 0
		for b.Loop() {
			if _, err := s.FindCustomer(bg, "m1", existing[i%len(existing)].ObjectReferenceID); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("update two fields, 16 concurrent", func(b *testing.B) {
		defer reportCPU(b, cpuTime())
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
