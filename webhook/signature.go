package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The headers of a delivery. HTTP header names are case-insensitive; these
// are the spellings the spec and docs use.
const (
	// SignatureHeader carries "t=<unix seconds>,v1=<hex HMAC-SHA256>" (see Sign).
	SignatureHeader = "customerd-signature"
	// EventIDHeader carries the event's id (evt_…), by which receivers
	// drop duplicate deliveries.
	EventIDHeader = "customerd-event-id"
	// AttemptHeader carries the attempt number, 1 for the first delivery.
	AttemptHeader = "customerd-delivery-attempt"
)

// DefaultTolerance is how far a signature's timestamp may be from the
// receiver's clock, either way, when Verify is given a tolerance of 0.
const DefaultTolerance = 5 * time.Minute

// secretPrefix starts every secret; it is part of the HMAC key.
const secretPrefix = "whsec_"

// The errors of Verify and VerifyAt, for use with errors.Is.
var (
	// ErrNoSignature means the header is empty, cannot be read, or lacks
	// a single decimal t or any v1.
	ErrNoSignature = errors.New("webhook: missing or malformed " + SignatureHeader + " header")
	// ErrTooOld means the signature matches, but its timestamp is further
	// from now than the tolerance (a replay, or a clock that is off).
	ErrTooOld = errors.New("webhook: signature timestamp outside the tolerance")
	// ErrMismatch means no v1 signature in the header matches the body
	// and secret.
	ErrMismatch = errors.New("webhook: no signature matches")
)

// NewSecret returns a new endpoint secret: "whsec_" followed by 32 bytes
// from crypto/rand in unpadded base64url (43 characters).
func NewSecret() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("webhook: new secret: %w", err)
	}
	return secretPrefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// Sign returns the SignatureHeader value for body sent at t:
// "t=<unix seconds>,v1=<hex>", where hex is the lowercase hex HMAC-SHA256 of
// "<unix seconds>.<body>" keyed with the whole secret string, "whsec_"
// included. This is Stripe's v1 scheme.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

// mac is the v1 signature of body at the timestamp as written in the header.
func mac(secret, ts string, body []byte) []byte {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Verify checks a SignatureHeader value against the raw request body, as a
// receiver does before trusting a delivery. See VerifyAt; Verify uses the
// current time.
func Verify(secret, header string, body []byte, tolerance time.Duration) error {
	return VerifyAt(secret, header, body, tolerance, time.Now())
}

// VerifyAt is Verify with the receiver's clock reading now.
//
// The header is a comma-separated list of key=value pairs in any order,
// spaces around them ignored. It needs exactly one t (unix seconds, decimal)
// and at least one v1; it passes when any v1 matches, as during a secret
// rotation a sender may sign with both secrets. Other keys (v0, future
// schemes) and pairs without "=" are ignored. The signature is computed over
// t exactly as written in the header and compared in constant time.
//
// Errors: ErrNoSignature when the header lacks t or v1 (or has two t),
// ErrMismatch when no signature matches (or the secret is empty: a receiver
// whose secret is not configured accepts nothing), and ErrTooOld when the
// signature matches but t is more than tolerance away from now, either way.
// A tolerance of 0 or less means DefaultTolerance (5 minutes); the time
// check cannot be turned off.
func VerifyAt(secret, header string, body []byte, tolerance time.Duration, now time.Time) error {
	ts, sigs, ok := parseHeader(header)
	if !ok {
		return ErrNoSignature
	}
	if secret == "" {
		return fmt.Errorf("%w: the secret is empty", ErrMismatch)
	}
	want := mac(secret, ts, body)
	matched := false
	for _, s := range sigs {
		got, err := hex.DecodeString(s)
		if err == nil && hmac.Equal(got, want) {
			matched = true
		}
	}
	if !matched {
		return ErrMismatch
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	if !withinTolerance(ts, now, tolerance) {
		return ErrTooOld
	}
	return nil
}

// parseHeader returns the header's t as written and its v1 values. ok is
// false without exactly one decimal t or without a v1.
func parseHeader(header string) (ts string, sigs []string, ok bool) {
	nt := 0
	for pair := range strings.SplitSeq(header, ",") {
		k, v, found := strings.Cut(pair, "=")
		if !found {
			continue
		}
		switch strings.TrimSpace(k) {
		case "t":
			ts = strings.TrimSpace(v)
			nt++
		case "v1":
			sigs = append(sigs, strings.TrimSpace(v))
		}
	}
	return ts, sigs, nt == 1 && isDecimal(ts) && len(sigs) > 0
}

// isDecimal reports whether s is one or more ASCII digits.
func isDecimal(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// withinTolerance reports whether the decimal timestamp ts is at most
// tolerance from now. A timestamp too large for int64, or beyond year 9999,
// is outside any tolerance.
func withinTolerance(ts string, now time.Time, tolerance time.Duration) bool {
	const maxUnix = 253402300799 // 9999-12-31T23:59:59Z
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sec > maxUnix {
		return false
	}
	// Sub saturates instead of overflowing, and Abs of the minimum
	// Duration is the maximum.
	return now.Sub(time.Unix(sec, 0)).Abs() <= tolerance
}
