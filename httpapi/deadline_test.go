package httpapi

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestLazyDeadlineEndsAtDeadlineWithoutDone(t *testing.T) {
	deadline := time.Now().Add(20 * time.Millisecond)
	ctx, cancel := withLazyDeadline(context.Background(), deadline)
	defer cancel()
	// A busy machine may deschedule the test past the deadline: only an
	// error seen while the deadline is still ahead is wrong.
	if err := ctx.Err(); err != nil && time.Now().Before(deadline) {
		t.Fatalf("Err before the deadline = %v", err)
	}
	time.Sleep(30 * time.Millisecond)
	if err := ctx.Err(); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Err after the deadline = %v, want DeadlineExceeded", err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(time.Second):
		t.Fatal("Done asked for after the deadline is not closed")
	}
}

func TestLazyDeadlineDoneClosesAtDeadline(t *testing.T) {
	deadline := time.Now().Add(30 * time.Millisecond)
	ctx, cancel := withLazyDeadline(context.Background(), deadline)
	defer cancel()
	if d, ok := ctx.Deadline(); !ok || !d.Equal(deadline) {
		t.Fatalf("Deadline = %v %v, want %v", d, ok, deadline)
	}
	select {
	case <-ctx.Done():
		if time.Now().Before(deadline) {
			t.Fatal("Done closed before the deadline")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed at the deadline")
	}
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("Err = %v", ctx.Err())
	}
}

func TestLazyDeadlineCancel(t *testing.T) {
	// Cancel before and after Done was first asked for.
	for _, doneFirst := range []bool{false, true} {
		ctx, cancel := withLazyDeadline(context.Background(), time.Now().Add(time.Hour))
		if doneFirst {
			_ = ctx.Done()
		}
		cancel()
		if !errors.Is(ctx.Err(), context.Canceled) {
			t.Fatalf("doneFirst=%v: Err = %v, want Canceled", doneFirst, ctx.Err())
		}
		select {
		case <-ctx.Done():
		default:
			t.Fatalf("doneFirst=%v: Done not closed after cancel", doneFirst)
		}
	}
}

type ctxKey struct{}

func TestLazyDeadlineFollowsParent(t *testing.T) {
	parent, cancelParent := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "v"))
	early := time.Now().Add(time.Minute)
	parent, cancelDeadline := context.WithDeadline(parent, early)
	defer cancelDeadline()
	ctx, cancel := withLazyDeadline(parent, time.Now().Add(time.Hour))
	defer cancel()
	if d, _ := ctx.Deadline(); !d.Equal(early) {
		t.Fatalf("Deadline = %v, want the parent's earlier %v", d, early)
	}
	if ctx.Value(ctxKey{}) != "v" {
		t.Fatal("Value does not reach the parent")
	}
	child, cancelChild := context.WithCancel(ctx) // asks for Done
	defer cancelChild()
	if ctx.Value(ctxKey{}) != "v" {
		t.Fatal("Value does not reach the parent once Done was asked for")
	}
	cancelParent()
	select {
	case <-child.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the parent's cancellation did not reach a child")
	}
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Fatalf("Err = %v, want Canceled", ctx.Err())
	}
}

func TestLazyDeadlineParentCanceledWithoutDone(t *testing.T) {
	parent, cancelParent := context.WithCancel(context.Background())
	ctx, cancel := withLazyDeadline(parent, time.Now().Add(time.Hour))
	defer cancel()
	cancelParent()
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Fatalf("Err = %v, want Canceled", ctx.Err())
	}
}

func BenchmarkStoreDeadline(b *testing.B) {
	parent, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.Run("WithTimeout", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ctx, cancel := context.WithTimeout(parent, storeTimeout)
			_ = ctx.Err()
			cancel()
		}
	})
	b.Run("lazy", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ctx, cancel := withLazyDeadline(parent, time.Now().Add(storeTimeout))
			_ = ctx.Err()
			cancel()
		}
	})
}
