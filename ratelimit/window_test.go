package ratelimit_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"customerd/ratelimit"
)

// clock is a settable clock for a Window.
type clock struct{ ns atomic.Int64 }

func newClock() *clock                   { c := &clock{}; c.ns.Store(t0.UnixNano()); return c }
func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }
func fail(t *testing.T, w *ratelimit.Window, key string) {
	t.Helper()
	r, ok, _ := w.Reserve(context.Background(), key)
	if !ok {
		t.Fatal("reservation refused")
	}
	r.Fail()
}

func TestWindowAllowsLimitFailuresInAnyWindow(t *testing.T) {
	c := newClock()
	w := ratelimit.NewWindow(3, time.Minute, 0, c.now)
	fail(t, w, "k") // at 0 s
	c.advance(20 * time.Second)
	fail(t, w, "k") // at 20 s
	c.advance(20 * time.Second)
	r, ok, _ := w.Reserve(context.Background(), "k")
	if !ok {
		t.Fatal("third attempt refused")
	}
	if full, wait := r.Fail(); !full || wait != 20*time.Second {
		t.Fatalf("third failure: full %v, wait %v; want full, 20 s until the first leaves", full, wait)
	}
	if _, ok, wait := w.Reserve(context.Background(), "k"); ok || wait != 20*time.Second {
		t.Fatalf("fourth attempt at 40 s: %v, wait %v; want refused for 20 s", ok, wait)
	}
	if ok, wait := w.Check("k"); ok || wait != 20*time.Second {
		t.Fatalf("Check at 40 s: %v, %v", ok, wait)
	}
	c.advance(20 * time.Second) // 60 s: the first failure has left
	fail(t, w, "k")
	if _, ok, wait := w.Reserve(context.Background(), "k"); ok || wait != 20*time.Second {
		t.Fatalf("at 60 s after a new failure: %v, wait %v; want refused until the one of 20 s leaves", ok, wait)
	}
	if _, ok, _ := w.Reserve(context.Background(), "other"); !ok {
		t.Fatal("another key refused")
	}
}

func TestWindowReleaseGivesTheReservationBack(t *testing.T) {
	w := ratelimit.NewWindow(2, time.Minute, 0, newClock().now)
	for range 100 {
		r, ok, _ := w.Reserve(context.Background(), "k")
		if !ok {
			t.Fatal("a released attempt counted")
		}
		r.Release()
	}
	if w.Len() != 0 {
		t.Fatalf("%d keys held after attempts that all succeeded", w.Len())
	}
	if ok, _ := w.Check("k"); !ok {
		t.Fatal("Check refused")
	}
}

// TestWindowAttemptsInFlightCount: attempts made at once cannot exceed the
// limit, and an attempt that waits for room gets it when one in flight is
// released.
func TestWindowAttemptsInFlightCount(t *testing.T) {
	w := ratelimit.NewWindow(2, time.Minute, 0, newClock().now)
	r1, ok1, _ := w.Reserve(context.Background(), "k")
	r2, ok2, _ := w.Reserve(context.Background(), "k")
	if !ok1 || !ok2 {
		t.Fatal("first two refused")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, ok, _ := w.Reserve(ctx, "k"); ok {
		t.Fatal("a third attempt was let in while two were in flight")
	}
	got := make(chan bool)
	go func() {
		r3, ok, _ := w.Reserve(context.Background(), "k")
		if ok {
			r3.Release()
		}
		got <- ok
	}()
	time.Sleep(20 * time.Millisecond)
	r1.Release() // the waiter gets this one's room
	if !<-got {
		t.Fatal("the waiting attempt was refused after one in flight was released")
	}
	r1, ok1, _ = w.Reserve(context.Background(), "k") // the room the waiter gave back
	if !ok1 {
		t.Fatal("the room of a released attempt was not given back")
	}
	go func() {
		r, ok, _ := w.Reserve(context.Background(), "k")
		if ok {
			r.Release()
		}
		got <- ok
	}()
	time.Sleep(20 * time.Millisecond)
	r1.Fail()
	r2.Fail()
	if <-got {
		t.Fatal("the waiting attempt was let in although the two in flight failed")
	}
}

func TestWindowConcurrentAttemptsNeverExceedTheLimit(t *testing.T) {
	w := ratelimit.NewWindow(10, time.Minute, 0, newClock().now)
	var failures atomic.Int64
	var wg sync.WaitGroup
	for range 200 {
		wg.Go(func() {
			if r, ok, _ := w.Reserve(context.Background(), "k"); ok {
				time.Sleep(time.Millisecond)
				failures.Add(1)
				r.Fail()
			}
		})
	}
	wg.Wait()
	if n := failures.Load(); n != 10 {
		t.Fatalf("%d failures from 200 attempts at once, want 10", n)
	}
}

func TestWindowMemoryIsBounded(t *testing.T) {
	c := newClock()
	w := ratelimit.NewWindow(1, time.Second, 100, c.now)
	for i := range 1000 {
		fail(t, w, string(rune(i)))
	}
	if n := w.Len(); n > 100 {
		t.Fatalf("%d keys held, cap 100", n)
	}
	c.advance(2 * time.Second)
	fail(t, w, "new") // a sweep forgets the keys whose failures left the window
	if n := w.Len(); n != 1 {
		t.Fatalf("%d keys held after their failures left the window, want 1", n)
	}
}

func TestNilWindowAllowsEverything(t *testing.T) {
	var w *ratelimit.Window = ratelimit.NewWindow(0, time.Minute, 0, nil)
	if w != nil {
		t.Fatal("a limit of 0 is not disabled")
	}
	r, ok, _ := w.Reserve(context.Background(), "k")
	if !ok {
		t.Fatal("nil window refused")
	}
	r.Fail()
	r.Release()
	if ok, _ := w.Check("k"); !ok {
		t.Fatal("nil window refused a check")
	}
}
