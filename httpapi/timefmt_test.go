package httpapi

import (
	"math/rand/v2"
	"testing"
	"time"
)

// appendTimeLayout writes exactly what time.Time.AppendFormat writes, for
// any instant and location.
func TestTimeLayoutMatchesAppendFormat(t *testing.T) {
	kolkata := time.FixedZone("IST", 5*3600+1800)
	times := []time.Time{
		{},
		time.Unix(0, 0),
		time.Date(2026, 11, 30, 23, 59, 59, 999999999, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 120000000, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 1, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 6, 1, 12, 0, 0, 500, kolkata),
		time.Now(),
		time.Now().UTC(),
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		sec := rng.Int64N(1<<37) - 1<<36 // years about -200 to 4100
		ns := rng.Int64N(1e9)
		if rng.IntN(4) == 0 {
			ns = ns / 1e6 * 1e6 // trailing zeros
		}
		tm := time.Unix(sec, ns)
		if rng.IntN(2) == 0 {
			tm = tm.UTC()
		} else if rng.IntN(2) == 0 {
			tm = tm.In(kolkata)
		}
		times = append(times, tm)
	}
	for _, tm := range times {
		if got, want := string(appendTimeLayout([]byte("x"), tm)), "x"+tm.UTC().Format(TimeLayout); got != want {
			t.Fatalf("appendTimeLayout(%v) = %q, want %q", tm, got, want)
		}
	}
}

func BenchmarkTimeFormat(b *testing.B) {
	tm := time.Now().UTC()
	buf := make([]byte, 0, 64)
	b.Run("TimeLayout/AppendFormat", func(b *testing.B) {
		for b.Loop() {
			buf = tm.AppendFormat(buf[:0], TimeLayout)
		}
	})
	b.Run("TimeLayout/hand", func(b *testing.B) {
		for b.Loop() {
			buf = appendTimeLayout(buf[:0], tm)
		}
	})
}
