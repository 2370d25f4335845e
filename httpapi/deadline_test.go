package httpapi

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestLazyDeadlineEndsAtDeadlineWithoutDone(t *testing.T) {
	deadline := time.Now().Add(20 * time.Millisecond)
	ctx, cancel := withDetachedDeadline(context.Background(), deadline)
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
	ctx, cancel := withDetachedDeadline(context.Background(), deadline)
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
		ctx, cancel := withDetachedDeadline(context.Background(), time.Now().Add(time.Hour))
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

// TestDetachedDeadlineIgnoresTheParentsEnd: the store context of a request
// keeps the request's values, but a client that goes away (net/http then
// cancels the request's context) does not end it.
func TestDetachedDeadlineIgnoresTheParentsEnd(t *testing.T) {
	for _, doneFirst := range []bool{false, true} {
		parent, cancelParent := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "v"))
		parent, cancelEarly := context.WithDeadline(parent, time.Now().Add(time.Minute))
		deadline := time.Now().Add(time.Hour)
		ctx, cancel := withDetachedDeadline(parent, deadline)
		var child context.Context = ctx
		if doneFirst {
			var cancelChild context.CancelFunc
			child, cancelChild = context.WithCancel(ctx) // asks for Done
			defer cancelChild()
		}
		if d, _ := ctx.Deadline(); !d.Equal(deadline) {
			t.Fatalf("doneFirst=%v: Deadline = %v, want its own %v", doneFirst, d, deadline)
		}
		if ctx.Value(ctxKey{}) != "v" {
			t.Fatalf("doneFirst=%v: Value does not reach the parent", doneFirst)
		}
		cancelParent()
		cancelEarly()
		if err := ctx.Err(); err != nil {
			t.Fatalf("doneFirst=%v: Err = %v after the parent ended, want nil", doneFirst, err)
		}
		if err := context.Cause(ctx); err != nil {
			t.Fatalf("doneFirst=%v: Cause = %v after the parent ended, want nil", doneFirst, err)
		}
		select {
		case <-child.Done():
			t.Fatalf("doneFirst=%v: the parent's end reached a child", doneFirst)
		case <-time.After(20 * time.Millisecond):
		}
		cancel()
		if !errors.Is(ctx.Err(), context.Canceled) {
			t.Fatalf("doneFirst=%v: Err = %v after cancel, want Canceled", doneFirst, ctx.Err())
		}
		select {
		case <-child.Done():
		case <-time.After(5 * time.Second):
			t.Fatalf("doneFirst=%v: cancel did not reach a child", doneFirst)
		}
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
			ctx, cancel := withDetachedDeadline(parent, time.Now().Add(storeTimeout))
			_ = ctx.Err()
			cancel()
		}
	})
}
