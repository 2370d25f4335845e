package ratelimit

import (
	"context"
	"sync"
	"time"
)

// Window allows every key at most limit failures in any window of time (a
// sliding window, not a bucket that refills: limit failures, then none until
// the oldest of them is a window old). A failure is known only after the
// attempt, so an attempt reserves its failure first (Reserve) and settles
// the reservation after (Fail or Release): attempts in flight count against
// the limit, and attempts made at once cannot exceed it. A nil *Window
// allows everything.
//
// Memory is bounded: a key with no failure in the window and no attempt in
// flight is forgotten, and at most maxKeys keys are kept. A key costs about
// 100 bytes plus 8 per failure it remembers.
type Window struct {
	limit   int
	window  time.Duration
	maxKeys int
	now     func() time.Time

	mu        sync.Mutex
	keys      map[string]*windowKey
	spare     []*windowKey // forgotten entries, for reuse: most attempts succeed
	nextSweep time.Time
}

// maxSpare bounds Window.spare.
const maxSpare = 64

type windowKey struct {
	failures []time.Time // within the window, oldest first
	pending  int         // reservations not yet settled
	// settled is closed, and cleared, when a reservation is settled while
	// an attempt waits for room; nil when none waits.
	settled chan struct{}
}

// NewWindow returns a Window of limit failures per window for every key,
// keeping at most maxKeys keys (DefaultMaxKeys when maxKeys <= 0), on the
// clock now (time.Now when nil). It returns nil, which allows everything,
// when limit or window is not positive.
func NewWindow(limit int, window time.Duration, maxKeys int, now func() time.Time) *Window {
	if limit <= 0 || window <= 0 {
		return nil
	}
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	if now == nil {
		now = time.Now
	}
	return &Window{limit: limit, window: window, maxKeys: maxKeys, now: now, keys: make(map[string]*windowKey)}
}

// Reservation is an attempt of one key in flight: settle it with Fail or
// Release, once.
type Reservation struct {
	w   *Window
	key string
	k   *windowKey
}

// Reserve reserves a failure of key for an attempt about to be made. When
// the key's failures fill the window it returns false with the time until
// the oldest of them leaves it. When only attempts in flight fill it, it
// waits for one of them to settle (attempts take microseconds to
// milliseconds), or for ctx to end, when it returns false with a wait of
// one second.
func (w *Window) Reserve(ctx context.Context, key string) (r Reservation, ok bool, retryAfter time.Duration) {
	if w == nil {
		return Reservation{}, true, 0
	}
	for {
		w.mu.Lock()
		now := w.now()
		k := w.keys[key]
		if k == nil {
			k = w.add(key, now)
		}
		w.prune(k, now)
		if len(k.failures) >= w.limit {
			wait := k.failures[0].Add(w.window).Sub(now)
			w.forgetIfIdle(key, k)
			w.mu.Unlock()
			return Reservation{}, false, wait
		}
		if len(k.failures)+k.pending < w.limit {
			k.pending++
			w.mu.Unlock()
			return Reservation{w: w, key: key, k: k}, true, 0
		}
		if k.settled == nil {
			k.settled = make(chan struct{})
		}
		settled := k.settled
		w.mu.Unlock()
		select {
		case <-settled:
		case <-ctx.Done():
			return Reservation{}, false, time.Second
		}
	}
}

// Check reports whether key may make an attempt now, reserving nothing and
// creating no entry, and if not, the time until it may: only its failures
// count, not attempts in flight.
func (w *Window) Check(key string) (ok bool, retryAfter time.Duration) {
	if w == nil {
		return true, 0
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	k := w.keys[key]
	if k == nil {
		return true, 0
	}
	now := w.now()
	w.prune(k, now)
	if len(k.failures) < w.limit {
		return true, 0
	}
	return false, k.failures[0].Add(w.window).Sub(now)
}

// Fail settles r as a failure, made now. It reports whether the key's
// failures now fill the window, and if so the time until the oldest of
// them leaves it: the moment its next attempt is refused.
func (r Reservation) Fail() (full bool, retryAfter time.Duration) {
	if r.w == nil {
		return false, 0
	}
	w := r.w
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now()
	r.settle()
	w.prune(r.k, now)
	r.k.failures = append(r.k.failures, now)
	if len(r.k.failures) < w.limit {
		return false, 0
	}
	return true, r.k.failures[0].Add(w.window).Sub(now)
}

// Release settles r as an attempt that did not fail: its reservation is
// given back.
func (r Reservation) Release() {
	if r.w == nil {
		return
	}
	r.w.mu.Lock()
	defer r.w.mu.Unlock()
	r.settle()
	r.w.forgetIfIdle(r.key, r.k)
}

// settle ends r's reservation and wakes the attempts waiting for room.
// w.mu is held.
func (r Reservation) settle() {
	r.k.pending--
	if r.k.settled != nil {
		close(r.k.settled)
		r.k.settled = nil
	}
}

// Len returns how many keys are held.
func (w *Window) Len() int {
	if w == nil {
		return 0
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.keys)
}

// prune drops the failures of k that have left the window. w.mu is held.
func (w *Window) prune(k *windowKey, now time.Time) {
	start := now.Add(-w.window)
	i := 0
	for i < len(k.failures) && !k.failures[i].After(start) {
		i++
	}
	if i > 0 {
		k.failures = append(k.failures[:0], k.failures[i:]...)
	}
}

// forgetIfIdle drops key when it holds nothing: no failure, nothing in
// flight. w.mu is held.
func (w *Window) forgetIfIdle(key string, k *windowKey) {
	if len(k.failures) == 0 && k.pending == 0 && w.keys[key] == k {
		delete(w.keys, key)
		if len(w.spare) < maxSpare && k.settled == nil {
			w.spare = append(w.spare, k)
		}
	}
}

// add makes an entry for key, first making room if the map is full. An
// entry dropped to make room while an attempt of it is in flight is settled
// harmlessly: the reservation holds the entry itself. w.mu is held.
func (w *Window) add(key string, now time.Time) *windowKey {
	if !now.Before(w.nextSweep) {
		w.sweep(now)
	}
	for k := range w.keys {
		if len(w.keys) < w.maxKeys {
			break
		}
		delete(w.keys, k) // arbitrary: map order is randomized
	}
	var k *windowKey
	if n := len(w.spare); n > 0 {
		k, w.spare = w.spare[n-1], w.spare[:n-1]
	} else {
		k = &windowKey{}
	}
	w.keys[key] = k
	return k
}

// sweep forgets every key whose failures have all left the window and
// which has nothing in flight, at most once per window (and at least once a
// minute when keys are added). w.mu is held.
func (w *Window) sweep(now time.Time) {
	for key, k := range w.keys {
		w.prune(k, now)
		w.forgetIfIdle(key, k)
	}
	w.nextSweep = now.Add(min(max(w.window, time.Second), time.Minute))
}
