// Package ratelimit keeps limits per key in memory: a token bucket per key
// (Limiter, for the rate of an API key), and a sliding window of failures
// per key (Window, for the failed authentications of a client address).
// Memory is bounded: a bucket that has refilled, or a window with no
// failure left in it, is forgotten, and the number of keys is capped.
//
// Limits are per process. A deployment of N nodes behind a load balancer
// allows up to N times the configured rate in total.
package ratelimit

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// DefaultMaxKeys caps the buckets of one Limiter. A bucket costs about 200
// bytes, so the cap bounds a Limiter to about 20 MB.
const DefaultMaxKeys = 100_000

// Limiter holds a token bucket per key. Every key may take r tokens a second
// on average and up to b at once. A nil *Limiter allows everything.
type Limiter struct {
	limit   rate.Limit
	burst   int
	maxKeys int
	refill  time.Duration // how long an empty bucket takes to fill up

	mu        sync.Mutex
	buckets   map[string]*rate.Limiter
	nextSweep time.Time
}

// New returns a Limiter that gives every key r tokens per second and bursts
// of up to b, keeping at most maxKeys buckets (DefaultMaxKeys when
// maxKeys <= 0). It returns nil, which allows everything, when r or b is not
// positive.
func New(r float64, b int, maxKeys int) *Limiter {
	if !(r > 0) || b <= 0 || math.IsInf(r, 0) {
		return nil
	}
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	return &Limiter{
		limit:   rate.Limit(r),
		burst:   b,
		maxKeys: maxKeys,
		refill:  time.Duration(float64(b) / r * float64(time.Second)),
		buckets: make(map[string]*rate.Limiter),
	}
}

// Allow takes a token from key's bucket. When the bucket is empty it takes
// nothing and returns false with the time until a token will be available.
func (l *Limiter) Allow(key string, now time.Time) (ok bool, retryAfter time.Duration) {
	if l == nil {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		b = l.add(key, now)
	}
	if b.AllowN(now, 1) {
		return true, 0
	}
	return false, l.wait(b, now)
}

// Check reports whether key's bucket holds a token, without taking it, and
// if not, the time until it will. Checking a key that has no bucket creates
// none: only Allow spends memory.
func (l *Limiter) Check(key string, now time.Time) (ok bool, retryAfter time.Duration) {
	if l == nil {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil || b.TokensAt(now) >= 1 {
		return true, 0
	}
	return false, l.wait(b, now)
}

// Len returns how many buckets are held.
func (l *Limiter) Len() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// wait is how long until b holds one token.
func (l *Limiter) wait(b *rate.Limiter, now time.Time) time.Duration {
	missing := 1 - b.TokensAt(now)
	if missing <= 0 {
		return 0
	}
	return time.Duration(math.Ceil(missing / float64(l.limit) * float64(time.Second)))
}

// add makes a bucket for key, first making room if the map is full.
func (l *Limiter) add(key string, now time.Time) *rate.Limiter {
	if !now.Before(l.nextSweep) {
		l.sweep(now)
	}
	for k := range l.buckets {
		if len(l.buckets) < l.maxKeys {
			break
		}
		// Still full of active buckets: drop arbitrary ones (map order is
		// randomized), at O(1) per insert, rather than sweep on every insert.
		delete(l.buckets, k)
	}
	b := rate.NewLimiter(l.limit, l.burst)
	l.buckets[key] = b
	return b
}

// sweep forgets every bucket that has refilled. It runs at most once per
// refill period (and at least once a minute when keys are added), so its cost
// is spread over many calls.
func (l *Limiter) sweep(now time.Time) {
	for k, b := range l.buckets {
		if b.TokensAt(now) >= float64(l.burst) {
			delete(l.buckets, k)
		}
	}
	l.nextSweep = now.Add(min(max(l.refill, time.Second), time.Minute))
}
