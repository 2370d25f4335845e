package httpapi

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"
)

// slogAccess is the access record as slog's JSON handler writes it: the
// record the server hands to other loggers, through that handler.
func slogAccess(a *accessRecord) []byte {
	var buf bytes.Buffer
	_ = slog.NewJSONHandler(&buf, nil).Handle(context.Background(), a.slogRecord())
	return buf.Bytes()
}

func TestJSONAccessRecordIsSlogs(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 15, 4, 5, 123456789, time.UTC)
	for _, a := range []accessRecord{
		{time: t0, requestID: "trace-42", merchantID: "sandbox", method: "GET", route: "/customers/{customer_id}", status: 200, bytes: 315, duration: 1234567 * time.Nanosecond},
		{time: t0.In(time.FixedZone("IST", 5*3600+1800)), requestID: "0123456789abcdef0123456789abcdef", method: "POST", route: "unmatched", status: 404, bytes: 97},
		{time: t0.Truncate(time.Second), merchantID: `quote" back\\ ctl` + "\x00\x1f\t\n\r", method: "ünï\u2028\u2029", route: "bad \xff\xfe utf8", status: 500, duration: 999 * time.Microsecond},
		{time: t0, duration: 73 * time.Hour},
		{time: t0, duration: time.Microsecond},
		{time: t0, duration: 999}, // under a microsecond: 0
	} {
		want := slogAccess(&a)
		if got := appendJSONAccess(nil, &a); !bytes.Equal(got, want) {
			t.Errorf("got  %s\nwant %s", got, want)
		}
	}
}

// Any strings and numbers give the same line as slog.
func FuzzJSONAccessRecord(f *testing.F) {
	f.Add("trace-42", "sandbox", "GET", "/customers/{customer_id}", 200, 315, int64(1234567))
	f.Add("\"\\\x00\u2028", "\xff", "", "ü", -1, 0, int64(-5))
	f.Fuzz(func(t *testing.T, requestID, merchantID, method, route string, status, n int, d int64) {
		a := accessRecord{time: time.Unix(0, d).UTC(), requestID: requestID, merchantID: merchantID,
			method: method, route: route, status: status, bytes: n, duration: time.Duration(d)}
		if a.time.Year() < 0 || a.time.Year() >= 10000 || a.durationMS() < 0 {
			t.Skip("a time outside RFC 3339, or a negative duration: never a request's")
		}
		if got, want := appendJSONAccess(nil, &a), slogAccess(&a); !bytes.Equal(got, want) {
			t.Fatalf("got  %s\nwant %s", got, want)
		}
	})
}
