package storetest

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"customerd"
)

// CPUTime returns the CPU time this process has used, user and system.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ReportCPU adds the process's CPU time per operation since start to b's
// results: on a shared machine it varies far less than the wall time, which
// waits on fsync and on other processes. Use it as
// defer ReportCPU(b, CPUTime()).
func ReportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(CPUTime()-start)/float64(b.N), "cpu-ns/op")
}

// BenchCustomers creates merchant m1 in s with n customers, every field set,
// and returns them with a generator of further m1 customers for the store
// benchmarks. References arrive in random order, as real ones (emails) do: a
// sequential reference would flatter the index.
func BenchCustomers(b *testing.B, s customerd.Store, n int) (next func() *customerd.Customer, existing []*customerd.Customer) {
	b.Helper()
	MustMerchant(b, s, "m1")
	var seq atomic.Int64
	next = func() *customerd.Customer {
		h := sha256.Sum256(fmt.Append(nil, seq.Add(1)))
		email := fmt.Sprintf("c%x@example.com", h[:8])
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
	for range n {
		c := next()
		if err := s.CreateCustomer(context.Background(), c); err != nil {
			b.Fatal(err)
		}
		existing = append(existing, c)
	}
	return next, existing
}
