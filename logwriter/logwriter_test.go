package logwriter_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"customerd/logwriter"
)

// syncBuffer is a destination that records each write call.
type syncBuffer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
	delay  time.Duration
	err    error
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	time.Sleep(b.delay)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.writes++
	if b.err != nil {
		return 0, b.err
	}
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Every record of concurrent writers arrives whole, each writer's in the
// order it wrote them, and busy writers share write calls.
func TestConcurrentRecordsArriveWholeAndInOrder(t *testing.T) {
	dst := &syncBuffer{delay: 200 * time.Microsecond}
	w := logwriter.New(dst)
	const writers, records = 8, 500
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range records {
				line := fmt.Sprintf("{\"writer\":%d,\"seq\":%d,\"pad\":%q}\n", g, i, strings.Repeat("x", i%50))
				if n, err := w.Write([]byte(line)); err != nil || n != len(line) {
					t.Errorf("write: %d, %v", n, err)
				}
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	next := make([]int, writers)
	lines := strings.Split(strings.TrimSuffix(dst.String(), "\n"), "\n")
	if len(lines) != writers*records {
		t.Fatalf("%d lines, want %d", len(lines), writers*records)
	}
	for _, l := range lines {
		var g, i int
		var pad string
		if _, err := fmt.Sscanf(l, "{\"writer\":%d,\"seq\":%d,\"pad\":%q}", &g, &i, &pad); err != nil {
			t.Fatalf("a broken record %q: %v", l, err)
		}
		if i != next[g] || pad != strings.Repeat("x", i%50) {
			t.Fatalf("writer %d: record %d arrived when %d was due", g, i, next[g])
		}
		next[g]++
	}
	if dst.writes >= writers*records {
		t.Errorf("%d write calls for %d records: nothing was batched", dst.writes, writers*records)
	}
}

// A record written on an idle writer reaches the destination without
// waiting for more records or for Close.
func TestIdleRecordIsWrittenPromptly(t *testing.T) {
	dst := &syncBuffer{}
	w := logwriter.New(dst)
	defer w.Close()
	w.Write([]byte("one\n"))
	deadline := time.Now().Add(5 * time.Second)
	for dst.String() != "one\n" {
		if time.Now().After(deadline) {
			t.Fatal("the record was not written within 5 s")
		}
		time.Sleep(time.Millisecond)
	}
}

// A burst of records goes out in a few writes: after one write the next
// waits for MinGap, gathering what arrives meanwhile.
func TestBurstIsWrittenAtMostOncePerGap(t *testing.T) {
	dst := &syncBuffer{}
	w := logwriter.New(dst)
	start := time.Now()
	const records = 2000
	for i := range records {
		fmt.Fprintf(w, "{\"seq\":%d}\n", i)
		if i%100 == 0 {
			time.Sleep(100 * time.Microsecond) // let the goroutine run
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	if got := strings.Count(dst.String(), "\n"); got != records {
		t.Fatalf("%d records written, want %d", got, records)
	}
	// The first write, one per MinGap since, and Close's.
	if limit := 2 + int(elapsed/logwriter.MinGap); dst.writes > limit {
		t.Fatalf("%d writes in %v, want at most %d", dst.writes, elapsed, limit)
	}
}

func TestWritesAfterCloseGoDirectly(t *testing.T) {
	dst := &syncBuffer{}
	w := logwriter.New(dst)
	w.Write([]byte("before\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil { // twice is harmless
		t.Fatal(err)
	}
	w.Write([]byte("after\n"))
	if got := dst.String(); got != "before\nafter\n" {
		t.Fatalf("got %q", got)
	}
}

// A destination that has failed makes later writes fail, and Close
// reports it.
func TestDestinationErrorIsReported(t *testing.T) {
	boom := errors.New("disk full")
	dst := &syncBuffer{err: boom}
	w := logwriter.New(dst)
	w.Write([]byte("lost\n"))
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := w.Write([]byte("x\n")); errors.Is(err, boom) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the destination's error never reached Write")
		}
		time.Sleep(time.Millisecond)
	}
	if err := w.Close(); !errors.Is(err, boom) {
		t.Fatalf("Close: %v", err)
	}
}

// A destination slower than the writers makes them wait instead of
// dropping records or growing without bound.
func TestSlowDestinationKeepsEveryRecord(t *testing.T) {
	dst := &syncBuffer{delay: 2 * time.Millisecond}
	w := logwriter.New(dst)
	record := []byte(strings.Repeat("y", 64<<10-1) + "\n") // 64 KiB: 16 fill the buffer
	for range 64 {
		if _, err := w.Write(record); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := len(dst.String()); got != 64*len(record) {
		t.Fatalf("%d bytes written, want %d", got, 64*len(record))
	}
}
