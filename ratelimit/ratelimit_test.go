package ratelimit_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"customerd/ratelimit"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestBurstThenDenyWithRetryAfter(t *testing.T) {
	l := ratelimit.New(2, 3, 0) // 2/s, bursts of 3
	for i := 0; i < 3; i++ {
		if ok, _ := l.Allow("k", t0); !ok {
			t.Fatalf("request %d of the burst denied", i+1)
		}
	}
	ok, wait := l.Allow("k", t0)
	if ok {
		t.Fatal("request beyond the burst allowed")
	}
	if wait != 500*time.Millisecond {
		t.Fatalf("retry after %v, want 500ms at 2/s", wait)
	}
	if ok, _ := l.Allow("k", t0.Add(499*time.Millisecond)); ok {
		t.Fatal("allowed before a token was back")
	}
	if ok, _ := l.Allow("k", t0.Add(500*time.Millisecond)); !ok {
		t.Fatal("denied once a token was back")
	}
}

func TestKeysHaveTheirOwnBuckets(t *testing.T) {
	l := ratelimit.New(1, 1, 0)
	if ok, _ := l.Allow("a", t0); !ok {
		t.Fatal("a denied")
	}
	if ok, _ := l.Allow("a", t0); ok {
		t.Fatal("a allowed twice")
	}
	if ok, _ := l.Allow("b", t0); !ok {
		t.Fatal("b denied because of a")
	}
}

func TestCheckTakesNothingAndCreatesNoBucket(t *testing.T) {
	l := ratelimit.New(1, 2, 0)
	for i := 0; i < 10; i++ {
		if ok, _ := l.Check("x", t0); !ok {
			t.Fatal("check of an unknown key denied")
		}
	}
	if l.Len() != 0 {
		t.Fatalf("check created %d buckets", l.Len())
	}
	l.Allow("x", t0)
	l.Allow("x", t0)
	ok, wait := l.Check("x", t0)
	if ok || wait != time.Second {
		t.Fatalf("check of an empty bucket: %v %v, want false 1s", ok, wait)
	}
	if ok, _ := l.Check("x", t0.Add(time.Second)); !ok {
		t.Fatal("check denied after the refill")
	}
}

func TestDisabled(t *testing.T) {
	for _, c := range []struct {
		r float64
		b int
	}{{0, 10}, {10, 0}, {-1, 1}} {
		l := ratelimit.New(c.r, c.b, 0)
		if l != nil {
			t.Errorf("New(%v, %d) is not the disabled (nil) limiter", c.r, c.b)
		}
		for i := 0; i < 100; i++ {
			if ok, _ := l.Allow("k", t0); !ok {
				t.Fatalf("disabled limiter denied")
			}
		}
		if ok, _ := l.Check("k", t0); !ok || l.Len() != 0 {
			t.Fatal("disabled limiter checks or keeps buckets")
		}
	}
}

func TestRefilledBucketsAreForgotten(t *testing.T) {
	l := ratelimit.New(10, 5, 0) // refills in 0.5 s; sweeps at most once a second
	for i := 0; i < 1000; i++ {
		l.Allow(fmt.Sprint("addr", i), t0)
	}
	if l.Len() != 1000 {
		t.Fatalf("%d buckets, want 1000", l.Len())
	}
	// Long after they refilled, adding one key sweeps the idle ones away.
	l.Allow("new", t0.Add(time.Minute))
	if l.Len() != 1 {
		t.Fatalf("%d buckets after the idle ones refilled, want 1", l.Len())
	}
}

func TestActiveBucketsSurviveASweep(t *testing.T) {
	l := ratelimit.New(1, 4, 0) // refills in 4 s, so sweeps every 4 s
	l.Allow("busy", t0)         // first sweep; busy has 3 tokens left
	for i := 0; i < 3; i++ {
		l.Allow("busy", t0.Add(3*time.Second)) // refilled to 4, then down to 1
	}
	l.Allow("late", t0.Add(4*time.Second)) // sweeps; busy holds 2 of 4
	for i := 0; i < 2; i++ {
		if ok, _ := l.Allow("busy", t0.Add(4*time.Second)); !ok {
			t.Fatalf("busy denied token %d of the 2 it holds", i+1)
		}
	}
	if ok, _ := l.Allow("busy", t0.Add(4*time.Second)); ok {
		t.Fatal("a sweep forgot a bucket that was not full")
	}
}

func TestMemoryIsCapped(t *testing.T) {
	l := ratelimit.New(1, 1, 100)
	for i := 0; i < 10_000; i++ {
		l.Allow(fmt.Sprint("addr", i), t0)
		if n := l.Len(); n > 100 {
			t.Fatalf("%d buckets, cap is 100", n)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	l := ratelimit.New(1, 100, 0)
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				ok, _ := l.Allow("shared", t0)
				l.Check("shared", t0)
				if ok {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if allowed != 100 {
		t.Fatalf("%d of 400 concurrent requests allowed, want exactly the burst of 100", allowed)
	}
}
