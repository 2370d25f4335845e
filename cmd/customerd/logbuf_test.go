package main

import (
	"strings"
	"testing"
	"time"
)

func TestLogBufferKeepsOrderAndFlushes(t *testing.T) {
	out := &syncBuffer{}
	b := newLogBuffer(out, time.Hour)
	b.Write([]byte("access 1\n"))
	b.Write([]byte("access 2\n"))
	if got := out.String(); got != "" {
		t.Fatalf("access records written before a flush: %q", got)
	}
	b.Direct().Write([]byte("listening\n"))
	if got, want := out.String(), "access 1\naccess 2\nlistening\n"; got != want {
		t.Fatalf("after a direct record: %q, want %q", got, want)
	}
	b.Write([]byte("access 3\n"))
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); !strings.HasSuffix(got, "listening\naccess 3\n") {
		t.Fatalf("Close lost a record: %q", got)
	}
	b.Write([]byte("late\n"))
	if got := out.String(); !strings.HasSuffix(got, "late\n") {
		t.Fatalf("a write after Close was held: %q", got)
	}
}

func TestLogBufferFlushesByItself(t *testing.T) {
	out := &syncBuffer{}
	b := newLogBuffer(out, 10*time.Millisecond)
	defer b.Close()
	b.Write([]byte("access 1\n"))
	deadline := time.Now().Add(5 * time.Second)
	for out.String() == "" {
		if time.Now().After(deadline) {
			t.Fatal("a buffered record was never written")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// A full buffer is written without waiting.
	slow := newLogBuffer(out, time.Hour)
	defer slow.Close()
	line := strings.Repeat("x", 1023) + "\n"
	for range maxBufferedLog/len(line) + 1 {
		slow.Write([]byte(line))
	}
	if n := strings.Count(out.String(), line); n < maxBufferedLog/len(line) {
		t.Fatalf("%d records written once the buffer filled, want at least %d", n, maxBufferedLog/len(line))
	}
}
