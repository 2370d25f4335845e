package webhook

import (
	"math"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	const base = 30 * time.Second
	cases := []struct {
		name    string
		base    time.Duration
		attempt int
		jitter  float64
		want    time.Duration
	}{
		{"attempt 1 waits base (jitter 0.5 is factor 1)", base, 1, 0.5, 30 * time.Second},
		{"attempt 2 doubles", base, 2, 0.5, time.Minute},
		{"attempt 3 doubles again", base, 3, 0.5, 2 * time.Minute},
		{"attempt 7", base, 7, 0.5, 32 * time.Minute},
		{"attempt 8 reaches the 1 h cap", base, 8, 0.5, time.Hour},
		{"jitter 0 is -25%", base, 1, 0, 22500 * time.Millisecond},
		{"jitter 0.75 is +12.5%", base, 2, 0.75, 67500 * time.Millisecond},
		{"jitter just below 1 stays below +25%", base, 1, math.Nextafter(1, 0), 37500*time.Millisecond - 1},
		{"at the cap, jitter 0 is 45 m", base, 20, 0, 45 * time.Minute},
		{"at the cap, positive jitter is capped again", base, 20, 0.9, time.Hour},
		{"a huge attempt does not overflow", base, math.MaxInt, 0.5, time.Hour},
		{"a huge attempt with jitter 0", base, math.MaxInt, 0, 45 * time.Minute},
		{"attempt 0 counts as 1", base, 0, 0.5, 30 * time.Second},
		{"a negative attempt counts as 1", base, -7, 0.5, 30 * time.Second},
		{"a base above the cap is capped", 2 * time.Hour, 1, 0.5, time.Hour},
		{"the largest base", time.Duration(math.MaxInt64), 3, 0, 45 * time.Minute},
		{"base 0 gives 0", 0, 5, 0.5, 0},
		{"negative base gives 0", -time.Second, 5, 0.5, 0},
		{"negative jitter is clamped to 0", base, 1, -3, 22500 * time.Millisecond},
		{"NaN jitter is clamped to 0", base, 1, math.NaN(), 22500 * time.Millisecond},
		{"jitter 1 is clamped below 1", base, 1, 1, 37500*time.Millisecond - 1},
		{"jitter 7 is clamped below 1", base, 1, 7, 37500*time.Millisecond - 1},
		{"a 1 s base for tests", time.Second, 4, 0.5, 8 * time.Second},
	}
	for _, c := range cases {
		if got := Backoff(c.base, c.attempt, c.jitter); got != c.want {
			t.Errorf("%s: Backoff(%v, %d, %v) = %v, want %v", c.name, c.base, c.attempt, c.jitter, got, c.want)
		}
	}
}

func TestBackoffNeverShrinksAndStaysInItsBand(t *testing.T) {
	for _, j := range []float64{0, 0.25, 0.5, 0.999} {
		prev := time.Duration(0)
		for attempt := 1; attempt <= 200; attempt++ {
			d := Backoff(30*time.Second, attempt, j)
			if d < prev {
				t.Fatalf("jitter %v: attempt %d waits %v, less than attempt %d's %v", j, attempt, d, attempt-1, prev)
			}
			if d < 30*time.Second*3/4 || d > MaxBackoff {
				t.Fatalf("jitter %v: attempt %d waits %v, outside [22.5s, 1h]", j, attempt, d)
			}
			prev = d
		}
	}
}
