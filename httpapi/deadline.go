package httpapi

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// deadlineContext behaves as
// context.WithDeadline(context.WithoutCancel(parent), deadline): it keeps
// the parent's values but neither its cancellation nor its deadline, and
// ends at its own deadline or when cancelled. A request's store calls run on
// it, so that a client that closes its connection (net/http then cancels the
// request's context) cannot abort a write it has sent, nor turn the answer
// into a server error.
//
// It defers that context's cost (a runtime timer, and the allocations of
// the two contexts) until something asks for Done. Most store calls never
// do: a SQLite lookup that meets no lock reads only Err, which
// deadlineContext answers from the clock. A call that may block (a
// PostgreSQL query, a wait for a pooled connection, a wait for a SQLite
// lock) asks for Done and from then on gets the real context, with the same
// deadline.
type deadlineContext struct {
	parent   valuesOnly
	deadline time.Time

	real atomic.Pointer[realDeadline] // set once, by materialize

	mu       sync.Mutex // serializes materialize and cancel
	canceled atomic.Bool
}

type realDeadline struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// withDetachedDeadline returns a context with parent's values that ends at
// deadline or when the returned cancel is called, whichever comes first;
// the end of parent does not end it.
func withDetachedDeadline(parent context.Context, deadline time.Time) (context.Context, context.CancelFunc) {
	c := &deadlineContext{parent: valuesOnly{parent}, deadline: deadline}
	return c, c.cancel
}

// materialize returns the real deadline context, creating it on first use.
func (c *deadlineContext) materialize() context.Context {
	if r := c.real.Load(); r != nil {
		return r.ctx
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if r := c.real.Load(); r != nil {
		return r.ctx
	}
	ctx, cancel := context.WithDeadline(&c.parent, c.deadline)
	if c.canceled.Load() {
		cancel()
	}
	c.real.Store(&realDeadline{ctx: ctx, cancel: cancel})
	return ctx
}

func (c *deadlineContext) cancel() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.canceled.Store(true)
	if r := c.real.Load(); r != nil {
		r.cancel()
	}
}

// Deadline reports c's own deadline; the parent's does not apply.
func (c *deadlineContext) Deadline() (time.Time, bool) { return c.deadline, true }

// Done returns the real context's channel, creating that context.
func (c *deadlineContext) Done() <-chan struct{} { return c.materialize().Done() }

// Err reports why c ended, or nil while it has not.
func (c *deadlineContext) Err() error {
	if r := c.real.Load(); r != nil {
		return r.ctx.Err()
	}
	if c.canceled.Load() {
		return context.Canceled
	}
	if !time.Now().Before(c.deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

// Value looks key up in the real context once it exists (so that the
// context package finds its cancellation state), else in the parent's
// values.
func (c *deadlineContext) Value(key any) any {
	if r := c.real.Load(); r != nil {
		return r.ctx.Value(key)
	}
	return c.parent.Value(key)
}

// valuesOnly is a context with the values of its parent and nothing else:
// it never ends and has no deadline. It is context.WithoutCancel(parent),
// without that function's allocation, as a field of deadlineContext.
type valuesOnly struct{ parent context.Context }

func (*valuesOnly) Deadline() (time.Time, bool) { return time.Time{}, false }
func (*valuesOnly) Done() <-chan struct{}       { return nil }
func (*valuesOnly) Err() error                  { return nil }

// Value returns the parent's value for key. A value that is itself a
// context may be the parent's cancellation state, which the context package
// keeps under a key of its own and which must stay hidden (context.Cause
// would report the parent's): such lookups go through
// context.WithoutCancel, which hides it.
func (v *valuesOnly) Value(key any) any {
	val := v.parent.Value(key)
	if _, isContext := val.(context.Context); isContext {
		return context.WithoutCancel(v.parent).Value(key)
	}
	return val
}
