package main

import (
	"io"
	"sync"
	"time"
)

// logBuffer batches the access log's records into fewer write(2) calls.
// Under load one record per request is written; issuing a system call for
// each under the log handler's lock cost a measurable share of the server's
// CPU. Records written through the buffer itself (the access log) are held
// for at most flushDelay or until maxBufferedLog bytes are pending; records
// written through Direct (every other record, and the first-run text) flush
// the pending records and themselves at once, so operational records appear
// immediately and the order of all records is kept. Close flushes whatever is
// pending: a clean shutdown loses no record.
type logBuffer struct {
	out   io.Writer
	delay time.Duration

	mu     sync.Mutex
	buf    []byte
	timer  *time.Timer
	armed  bool
	closed bool
}

// maxBufferedLog is how many bytes of records are held before they are
// written without waiting for the timer.
const maxBufferedLog = 32 << 10

// accessLogFlushDelay is the longest an access record waits in the buffer.
const accessLogFlushDelay = 50 * time.Millisecond

func newLogBuffer(out io.Writer, delay time.Duration) *logBuffer {
	b := &logBuffer{out: out, delay: delay, buf: make([]byte, 0, maxBufferedLog)}
	b.timer = time.AfterFunc(time.Hour, b.timedFlush)
	b.timer.Stop()
	return b
}

// Write buffers p (one whole record, as slog's handlers write them).
func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return b.out.Write(p)
	}
	if len(b.buf)+len(p) > maxBufferedLog {
		if err := b.flushLocked(); err != nil {
			return 0, err
		}
		if len(p) > maxBufferedLog {
			return b.out.Write(p)
		}
	}
	b.buf = append(b.buf, p...)
	if !b.armed {
		b.armed = true
		b.timer.Reset(b.delay)
	}
	return len(p), nil
}

// Direct returns a writer whose writes are not held: each writes the pending
// records, then itself.
func (b *logBuffer) Direct() io.Writer { return directWriter{b} }

type directWriter struct{ b *logBuffer }

func (d directWriter) Write(p []byte) (int, error) {
	d.b.mu.Lock()
	defer d.b.mu.Unlock()
	if err := d.b.flushLocked(); err != nil {
		return 0, err
	}
	return d.b.out.Write(p)
}

func (b *logBuffer) timedFlush() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.armed = false
	_ = b.flushLocked()
}

// flushLocked writes the pending records; b.mu is held.
func (b *logBuffer) flushLocked() error {
	if len(b.buf) == 0 {
		return nil
	}
	_, err := b.out.Write(b.buf)
	b.buf = b.buf[:0]
	return err
}

// Close writes the pending records; later writes go straight through.
func (b *logBuffer) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	b.timer.Stop()
	b.armed = false
	return b.flushLocked()
}
