// Package logwriter batches log records into fewer write system calls.
//
// A server that logs one record per request pays one write(2) per request
// under its handler's lock. A Writer instead appends each record to a
// buffer and returns; one goroutine writes whatever has accumulated, in
// order. Its writes are at least MinGap apart: an idle server's record is
// written at once, while a busy server's records gather for up to MinGap
// and go out in one system call. Waking the goroutine for every record
// cost a busy server more than formatting the records did.
//
// Records accepted but not yet written are lost if the process is killed
// (kill -9, a power cut): at most what arrived in the last MinGap. Close
// writes everything that was accepted.
package logwriter

import (
	"io"
	"sync"
	"time"
)

// maxPending is how much may wait to be written before Write blocks (the
// destination is stuck: a full pipe, a slow terminal). Blocking keeps every
// record, as a direct write would, instead of dropping any.
const maxPending = 1 << 20

// MinGap is the least time between two writes to the destination. Records
// that arrive sooner after a write wait for the next one, unless
// flushPending bytes have gathered.
const MinGap = 5 * time.Millisecond

// flushPending is how much makes the goroutine write before MinGap is up.
const flushPending = 64 << 10

// Writer is an io.Writer that writes to an underlying writer from its own
// goroutine. Each Write must be one whole record (slog's handlers write
// each record with one call), so that records are never interleaved.
type Writer struct {
	dst io.Writer

	mu      sync.Mutex
	room    sync.Cond // signalled when pending shrinks or the writer closes
	pending []byte
	closed  bool
	err     error // the first error of dst, returned by later Writes

	wake chan struct{} // capacity 1: pending has data
	full chan struct{} // capacity 1: pending has reached flushPending
	stop chan struct{} // closed by Close: write what is pending without waiting
	done chan struct{} // closed when the goroutine has written everything and exited
}

// New starts a Writer that writes to dst.
func New(dst io.Writer) *Writer {
	w := &Writer{dst: dst, wake: make(chan struct{}, 1), full: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
	w.room.L = &w.mu
	go w.loop()
	return w
}

// Unwrap returns the underlying writer (to check whether it is a terminal,
// say).
func (w *Writer) Unwrap() io.Writer { return w.dst }

// Write queues p, which it copies, and returns at once unless maxPending
// bytes are already waiting. After Close, it writes p directly.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	for !w.closed && len(w.pending) > 0 && len(w.pending)+len(p) > maxPending {
		w.room.Wait()
	}
	if w.closed {
		w.mu.Unlock()
		<-w.done // after the last batch, in order
		return w.dst.Write(p)
	}
	if err := w.err; err != nil {
		w.mu.Unlock()
		return 0, err
	}
	w.pending = append(w.pending, p...)
	select {
	case w.wake <- struct{}{}:
	default: // already woken; the goroutine takes everything pending
	}
	if len(w.pending) >= flushPending {
		select {
		case w.full <- struct{}{}:
		default:
		}
	}
	w.mu.Unlock()
	return len(p), nil
}

func (w *Writer) loop() {
	defer close(w.done)
	var spare []byte
	var last time.Time // of the last write
	gap := time.NewTimer(0)
	<-gap.C
	for range w.wake {
		if wait := MinGap - time.Since(last); wait > 0 {
			gap.Reset(wait)
			select {
			case <-gap.C:
			case <-w.full:
				gap.Stop()
			case <-w.stop:
				gap.Stop()
			}
		}
		select { // a flush signal the batch below answers
		case <-w.full:
		default:
		}
		w.mu.Lock()
		batch := w.pending
		w.pending = spare[:0]
		w.room.Broadcast()
		w.mu.Unlock()
		if len(batch) > 0 {
			last = time.Now()
			if _, err := w.dst.Write(batch); err != nil {
				w.mu.Lock()
				if w.err == nil {
					w.err = err
				}
				w.mu.Unlock()
			}
		}
		if cap(batch) > 64<<10 {
			batch = nil // do not keep a burst's buffer forever
		}
		spare = batch
	}
}

// Close writes every record accepted so far and stops the goroutine; later
// Writes go straight to the underlying writer. It returns the first write
// error, if any.
func (w *Writer) Close() error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		// The wake-up for what is pending (if any) is already queued;
		// the loop takes it, writes the last batch and exits.
		close(w.wake)
		close(w.stop)
		w.room.Broadcast()
	}
	w.mu.Unlock()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}
