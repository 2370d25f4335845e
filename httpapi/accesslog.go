package httpapi

import (
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"
)

// accessRecord is the one log record of every request.
type accessRecord struct {
	time                                 time.Time
	requestID, merchantID, method, route string
	status, bytes                        int
	duration                             time.Duration
}

// durationMS is the record's duration_ms: milliseconds, to the microsecond.
func (a *accessRecord) durationMS() float64 { return float64(a.duration.Microseconds()) / 1000 }

// slogRecord is a as a slog record, for loggers other than the JSON fast
// path: the record Logger.LogAttrs would make, without the caller's program
// counter (a stack walk per request) that no handler here uses.
func (a *accessRecord) slogRecord() slog.Record {
	r := slog.NewRecord(a.time, slog.LevelInfo, "request", 0)
	r.AddAttrs(slog.String("request_id", a.requestID), slog.String("merchant_id", a.merchantID),
		slog.String("method", a.method), slog.String("route", a.route),
		slog.Int("status", a.status), slog.Int("bytes", a.bytes), slog.Float64("duration_ms", a.durationMS()))
	return r
}

var accessBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// writeJSONAccess writes a as one JSON line to w, byte for byte what
// slog.NewJSONHandler writes for the record "request" with the same
// attributes (a test compares it with slogRecord through that handler). It exists because slog encodes a
// float attribute with encoding/json, which made the access record cost
// several times more than the rest of its formatting.
func writeJSONAccess(w io.Writer, a *accessRecord) {
	bp := accessBufs.Get().(*[]byte)
	b := appendJSONAccess((*bp)[:0], a)
	_, _ = w.Write(b)
	*bp = b
	accessBufs.Put(bp)
}

func appendJSONAccess(b []byte, a *accessRecord) []byte {
	// appendString (encode.go) escapes as slog's JSON handler does:
	// encoding/json's rules without HTML escaping.
	b = append(b, `{"time":"`...)
	b = a.time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"INFO","msg":"request","request_id":`...)
	b = appendString(b, a.requestID)
	b = append(b, `,"merchant_id":`...)
	b = appendString(b, a.merchantID)
	b = append(b, `,"method":`...)
	b = appendString(b, a.method)
	b = append(b, `,"route":`...)
	b = appendString(b, a.route)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(a.status), 10)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, int64(a.bytes), 10)
	b = append(b, `,"duration_ms":`...)
	// encoding/json's format for floats between 1e-6 and 1e21, the only
	// ones a duration in milliseconds to the microsecond can be (or 0).
	b = strconv.AppendFloat(b, a.durationMS(), 'f', -1, 64)
	return append(b, "}\n"...)
}
