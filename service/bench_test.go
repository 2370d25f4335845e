package service_test

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"customerd"
	"customerd/fieldcrypt"
	"customerd/postgres"
	"customerd/postgres/pgtest"
	"customerd/service"
	"customerd/sqlite"
)

// cpuTime returns the CPU time this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds the process's CPU time per operation since start to b's
// results: on a shared machine it varies far less than the wall time, which
// waits on fsync and on other processes. Use it as defer reportCPU(b, cpuTime()).
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

// BenchmarkCustomerPaths measures the service calls the API makes, every
// field set, on a SQLite file and (with CUSTOMERD_TEST_POSTGRES_URL) a
// PostgreSQL schema: validation, sealing, the store and opening.
// Run with go test -run '^$' -bench CustomerPaths ./service
func BenchmarkCustomerPaths(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "bench.db"))
		if err != nil {
			b.Fatal(err)
		}
		benchPaths(b, st, 1000)
	})
	b.Run("postgres", func(b *testing.B) {
		if os.Getenv(pgtest.EnvURL) == "" {
			b.Skip("set " + pgtest.EnvURL)
		}
		st, err := postgres.Open(ctx, pgtest.NewSchema(b), postgres.Options{})
		if err != nil {
			b.Fatal(err)
		}
		benchPaths(b, st, 500)
	})
}

func benchPaths(b *testing.B, st customerd.Store, n int) {
	svc, err := service.New(ctx, service.Config{Store: st, Vault: fieldcrypt.NewVault(newMaster(b))})
	if err != nil {
		b.Fatal(err)
	}
	defer svc.Close()
	mustMerchant(b, svc, "m1")
	var seq atomic.Int64
	// References arrive in random order, as real ones (emails) do: a
	// sequential reference would flatter the index.
	next := func() customerd.CreateRequest {
		h := sha256.Sum256(fmt.Append(nil, seq.Add(1)))
		email := fmt.Sprintf("c%x@example.com", h[:8])
		return customerd.CreateRequest{ObjectReferenceID: customerd.Present(email), MobileNumber: customerd.Present("99887766"),
			EmailAddress: customerd.Present(email), FirstName: customerd.Present("Jon"), LastName: customerd.Present("Snow")}
	}
	var existing []*customerd.Customer
	for range n {
		c, err := svc.CreateCustomer(ctx, as("m1"), next())
		if err != nil {
			b.Fatal(err)
		}
		existing = append(existing, c)
	}
	b.Run("create, 16 concurrent", func(b *testing.B) {
		defer reportCPU(b, cpuTime())
		b.SetParallelism(8) // 8 goroutines per GOMAXPROCS
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := svc.CreateCustomer(ctx, as("m1"), next()); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	for _, by := range []string{"id", "reference"} {
		b.Run("get by "+by, func(b *testing.B) {
			defer reportCPU(b, cpuTime())
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				c := existing[i%len(existing)]
				q := c.ID
				if by == "reference" {
					q = c.ObjectReferenceID
				}
				if _, err := svc.FindCustomer(ctx, "m1", q); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
	b.Run("history page of ten, of 100 events", func(b *testing.B) {
		c, err := svc.CreateCustomer(ctx, as("m1"), next()) // a customer of its own for each run
		if err != nil {
			b.Fatal(err)
		}
		id := c.ID
		for i := range 99 {
			req := customerd.UpdateRequest{FirstName: customerd.Present(fmt.Sprint("Arya", i))}
			if _, err := svc.UpdateCustomer(ctx, as("m1"), id, req); err != nil {
				b.Fatal(err)
			}
		}
		defer reportCPU(b, cpuTime())
		b.ReportAllocs()
		for b.Loop() {
			evs, total, _, err := svc.CustomerEvents(ctx, "m1", id, customerd.Page{Limit: 10, Ascending: true})
			if err != nil || len(evs) != 10 || total != 100 {
				b.Fatalf("%d events of %d: %v", len(evs), total, err)
			}
		}
	})
	b.Run("update two fields, 16 concurrent", func(b *testing.B) {
		defer reportCPU(b, cpuTime())
		b.SetParallelism(8)
		var n atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := n.Add(1)
				req := customerd.UpdateRequest{FirstName: customerd.Present(fmt.Sprint("Jon", i)), MobileNumber: customerd.Present("12345")}
				if _, err := svc.UpdateCustomer(ctx, as("m1"), existing[int(i)%len(existing)].ID, req); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
