package httpapi

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// deadlineContext behaves as context.WithDeadline(parent, deadline) but
// defers that context's cost (a runtime timer, and registration with the
// parent so that its cancellation propagates) until something asks for Done.
// Most store calls never do: a SQLite lookup that meets no lock reads only
// Err, which deadlineContext answers from the parent and the clock. A call
// that may block (a PostgreSQL query, a wait for a pooled connection, a
// wait for a SQLite lock) asks for Done and from then on gets the real
// context, with the same deadline.
type deadlineContext struct {
	parent   context.Context
	deadline time.Time

	real atomic.Pointer[realDeadline] // set once, by materialize

	mu       sync.Mutex // serializes materialize and cancel
	canceled atomic.Bool
}

type realDeadline struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// withLazyDeadline returns a context that ends at deadline, when parent
// ends, or when the returned cancel is called, whichever comes first.
func withLazyDeadline(parent context.Context, deadline time.Time) (context.Context, context.CancelFunc) {
	c := &deadlineContext{parent: parent, deadline: deadline}
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
	ctx, cancel := context.WithDeadline(c.parent, c.deadline)
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

// Deadline reports the earlier of the parent's deadline and c's own.
func (c *deadlineContext) Deadline() (time.Time, bool) {
	if d, ok := c.parent.Deadline(); ok && d.Before(c.deadline) {
		return d, true
	}
	return c.deadline, true
}

// Done returns the real context's channel, creating that context.
func (c *deadlineContext) Done() <-chan struct{} { return c.materialize().Done() }

// Err reports why c ended, or nil while it has not.
func (c *deadlineContext) Err() error {
	if r := c.real.Load(); r != nil {
		return r.ctx.Err()
	}
	if err := c.parent.Err(); err != nil {
		return err
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
// context package finds its cancellation state), else in the parent.
func (c *deadlineContext) Value(key any) any {
	if r := c.real.Load(); r != nil {
		return r.ctx.Value(key)
	}
	return c.parent.Value(key)
}
