package customerd

import (
	"fmt"
	"time"
)

// The rules of an Idempotency-Key (extensions §5).
const (
	MaxIdempotencyKeyLen  = 255
	DefaultIdempotencyTTL = 24 * time.Hour
	IdempotencyKeyHeader  = "Idempotency-Key"
	idempotencyKeyFirst   = 0x21
	idempotencyKeyLast    = 0x7e
)

// ValidateIdempotencyKey checks a key: 1–255 characters, each from 0x21 to
// 0x7E (printable ASCII, no space).
func ValidateIdempotencyKey(k string) error {
	if k == "" {
		return fmt.Errorf("may not be empty")
	}
	if len(k) > MaxIdempotencyKeyLen {
		return fmt.Errorf("is %d characters long, at most %d are allowed", len(k), MaxIdempotencyKeyLen)
	}
	for i := 0; i < len(k); i++ {
		if k[i] < idempotencyKeyFirst || k[i] > idempotencyKeyLast {
			return fmt.Errorf("may contain printable ASCII characters only (0x21 to 0x7E), not %q", rune(k[i]))
		}
	}
	return nil
}

// Idempotency is a write made under an Idempotency-Key, as the service runs
// it: the claim on the key that the service took for it, and how the write's
// answer is rendered, so that the answer is stored in the write's own
// transaction.
type Idempotency struct {
	MerchantID  string
	KeyHash     []byte // the key's keyed hash: the key is never stored
	RequestHash []byte // the request's keyed hash, stored with its answer
	Token       []byte // the claim of this request, not of a later one
	LockedUntil time.Time
	// Render returns the body of the write's 200 answer for its result:
	// *Customer for a create or an update, the customer's id (a string)
	// for an erasure.
	Render func(result any) ([]byte, error)
	// Answer is the body Render returned, set once the write committed: the
	// caller answers with exactly these bytes.
	Answer []byte
}

// StoredAnswer is the answer a replay gives: the first request's.
type StoredAnswer struct {
	Status int
	Body   []byte
}

// IdempotentRecord is a key's record as stored.
type IdempotentRecord struct {
	MerchantID  string
	KeyHash     []byte
	RequestHash []byte // keyed hash of the request: method, path and its canonical body
	Token       []byte
	State       string    // IdempotencyInFlight, IdempotencyDone or IdempotencyErased
	LockedUntil time.Time // an in-flight claim older than this was abandoned (a crash)
	Expires     time.Time // the key is free again from then on
	CustomerID  string    // the customer the answer shows, erased with it
	Status      int
	KeyVersion  uint32 // the data-key version Answer is sealed under
	Answer      []byte // sealed
}

// The states of an IdempotentRecord.
const (
	IdempotencyInFlight = "in_flight"
	IdempotencyDone     = "done"
	IdempotencyErased   = "erased" // done, and the customer it showed is erased: its answer is gone
)

// LiveAt reports whether the record still holds its key at now: a claim
// until its LockedUntil, a record done (or erased) until it expires.
func (r IdempotentRecord) LiveAt(now time.Time) bool {
	if r.State == IdempotencyInFlight {
		return now.Before(r.LockedUntil)
	}
	return now.Before(r.Expires)
}
