// Package customerd is the domain of the customer server: the customer record,
// the field rules of the wire contract, the update semantics, API keys and the
// error kinds. It imports no database and no HTTP package; the stores and the
// HTTP layer both build on it.
package customerd

import (
	"errors"
	"strings"
)

// Error codes. The HTTP layer maps each to a status and a Juspay error shape
// in one place.
const (
	EINVALID      = "invalid"      // a field value or the request is malformed
	ECONFLICT     = "conflict"     // a unique value (object_reference_id) already exists
	ENOTFOUND     = "not_found"    // the customer does not exist for this merchant
	EUNAUTHORIZED = "unauthorized" // the API key is missing, unknown or revoked
	ERATELIMIT    = "rate_limited" // the caller exceeded a rate limit
	EUNAVAILABLE  = "unavailable"  // the database cannot be reached
	EINTERNAL     = "internal"     // anything else: a fault of the server

	// The Idempotency-Key of a request (extensions §5):
	EKEYREUSED = "idempotency_key_reused" // the key was used for another request
	EKEYINUSE  = "idempotency_key_in_use" // a request with the key is still running
)

// FieldError describes one bad field of a request.
type FieldError struct {
	Field   string // wire name, e.g. "email_address"
	Missing bool   // true when a required field was absent
	Detail  string // developer-facing explanation (may quote the value sent)
}

// Error is the error type every package of customerd returns for conditions a
// caller can act on. Any other error is treated as EINTERNAL.
type Error struct {
	Code    string
	Message string
	Fields  []FieldError // set for EINVALID caused by field rules
}

// Error implements the error interface.
func (e *Error) Error() string {
	if e.Message != "" {
		return e.Code + ": " + e.Message
	}
	return e.Code
}

// Errorf-free constructor for the common case.
func newError(code, msg string) *Error { return &Error{Code: code, Message: msg} }

// ErrNotFound is returned by stores when a customer, merchant or key is absent.
var ErrNotFound = newError(ENOTFOUND, "not found")

// ErrConflict is returned by stores when a unique value already exists.
var ErrConflict = newError(ECONFLICT, "already exists")

// ErrUnauthorized is returned when an API key does not authenticate.
var ErrUnauthorized = newError(EUNAUTHORIZED, "invalid API key")

// Unavailable wraps a database connectivity failure so that callers answer
// 503 instead of 500.
func Unavailable(cause error) error {
	return &unavailableError{cause: cause}
}

type unavailableError struct{ cause error }

func (e *unavailableError) Error() string { return "database unavailable: " + e.cause.Error() }
func (e *unavailableError) Unwrap() error { return e.cause }

// ErrorCode returns the code of err: the Code of an *Error in its chain,
// EUNAVAILABLE for errors made by Unavailable, and EINTERNAL otherwise.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var ue *unavailableError
	if errors.As(err, &ue) {
		return EUNAVAILABLE
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ValidationError collects the field errors of one request, in field order.
type ValidationError struct{ fields []FieldError }

func (v *ValidationError) missing(field string) {
	v.fields = append(v.fields, FieldError{Field: field, Missing: true, Detail: field + " is required"})
}

func (v *ValidationError) invalid(field, detail string) {
	v.fields = append(v.fields, FieldError{Field: field, Detail: field + ": " + detail})
}

// Err returns nil when no field failed, or an *Error with code EINVALID
// listing every bad field.
func (v *ValidationError) Err() error {
	if len(v.fields) == 0 {
		return nil
	}
	details := make([]string, len(v.fields))
	for i, f := range v.fields {
		details[i] = f.Detail
	}
	return &Error{Code: EINVALID, Message: strings.Join(details, "; "), Fields: v.fields}
}
