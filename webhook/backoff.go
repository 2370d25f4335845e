package webhook

import "time"

// MaxBackoff is the longest wait between two attempts.
const MaxBackoff = time.Hour

// Backoff is the wait after failed attempt number attempt (1 for the first)
// before the next: base·2^(attempt-1), at most MaxBackoff, times a jitter
// factor 0.75 + 0.5·jitter, so ±25% for jitter drawn uniformly from [0, 1),
// and again at most MaxBackoff. The caller draws jitter (math/rand/v2's
// Float64), which keeps Backoff deterministic for tests; a jitter outside
// [0, 1) is clamped into it. An attempt below 1 counts as 1; a base of 0 or
// less gives 0. With base 30 s the waits are about 30 s, 1 m, 2 m, 4 m, 8 m,
// 16 m, 32 m, then 1 h (between 45 m and 1 h) from the 8th attempt on.
func Backoff(base time.Duration, attempt int, jitter float64) time.Duration {
	if base <= 0 {
		return 0
	}
	d := min(base, MaxBackoff)
	for i := 1; i < attempt && d < MaxBackoff; i++ {
		d *= 2 // d < MaxBackoff, so no overflow
	}
	d = min(d, MaxBackoff)
	if !(jitter >= 0) { // negative or NaN
		jitter = 0
	}
	// d·(0.75 + 0.5·jitter), in integers where float rounding could
	// otherwise reach the excluded +25%.
	span := d / 2
	off := time.Duration(float64(span) * jitter)
	if off >= span {
		off = max(span-1, 0)
	}
	return min(d-d/4+off, MaxBackoff)
}
