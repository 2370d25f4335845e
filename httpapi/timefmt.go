package httpapi

import "time"

// appendTimeLayout appends t.UTC().AppendFormat(b, TimeLayout), twice in
// every customer's JSON, written by hand: AppendFormat interprets the
// layout on each call, at four times the cost (BenchmarkTimeFormat).
func appendTimeLayout(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, TimeLayout)
	}
	hour, minute, sec := t.Clock()
	b = append(b, byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-')
	b = append2(b, int(month), '-')
	b = append2(b, day, 'T')
	b = append2(b, hour, ':')
	b = append2(b, minute, ':')
	b = append2(b, sec, '+')
	return append(b, "0000"...)
}

// append2 appends the two digits of n (0-99) and then sep.
func append2(b []byte, n int, sep byte) []byte {
	return append(b, byte('0'+n/10), byte('0'+n%10), sep)
}
