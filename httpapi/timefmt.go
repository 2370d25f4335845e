package httpapi

import "time"

// Hand-written formatting of TimeLayout, twice in every customer's JSON:
// time.Time.AppendFormat interprets the layout on each call, at four times
// the cost (BenchmarkTimeFormat). RFC 3339 layouts have a fast path in the
// time package already.

// appendDateTime appends t as "2006-01-02T15:04:05" in t's location, or
// returns false (appending nothing) for a year outside 0000-9999.
func appendDateTime(b []byte, t time.Time) ([]byte, bool) {
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return b, false
	}
	hour, minute, sec := t.Clock()
	b = append(b, byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-')
	b = append2(b, int(month), '-')
	b = append2(b, day, 'T')
	b = append2(b, hour, ':')
	b = append2(b, minute, ':')
	return append(b, byte('0'+sec/10), byte('0'+sec%10)), true
}

// append2 appends the two digits of n (0-99) and then sep.
func append2(b []byte, n int, sep byte) []byte {
	return append(b, byte('0'+n/10), byte('0'+n%10), sep)
}

// appendTimeLayout appends t.UTC().AppendFormat(b, TimeLayout).
func appendTimeLayout(b []byte, t time.Time) []byte {
	t = t.UTC()
	if out, ok := appendDateTime(b, t); ok {
		return append(out, "+0000"...)
	}
	return t.AppendFormat(b, TimeLayout)
}
