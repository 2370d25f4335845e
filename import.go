package customerd

import (
	"errors"
	"fmt"
	"time"
)

// Wire names of the customer object's keys that a create request does not
// take but an import keeps (FieldLastUpdated is in event.go).
const (
	FieldID          = "id"
	FieldObject      = "object"
	FieldDateCreated = "date_created"
)

// TimestampLayout is the contract's timestamp format: UTC, whole seconds,
// "+0000" (customer-api.md §4).
const TimestampLayout = "2006-01-02T15:04:05+0000"

// ImportRequest is one customer of a bulk import: the fields of a create
// request, plus the id and timestamps a customer object carries when it
// comes from another system (a Juspay export, or customerd's own).
type ImportRequest struct {
	CreateRequest
	ID          Value // absent or empty: a fresh id is drawn
	DateCreated Value // absent or empty: last_updated when given, else now
	LastUpdated Value // absent or empty: date_created
}

// ImportedCustomer validates an imported customer with the field rules of
// NewCustomer, and keeps the id and timestamps the request gives. An id must
// have the shape of customerd's and Juspay's own, "cst_" followed by 16
// characters of [a-z0-9] (ValidateCustomerID); timestamps are in the
// contract's layout (ParseTimestamp), not after now, and last_updated is not
// before date_created. Every bad field is reported in one *Error with code
// EINVALID, in the order of the customer object.
func ImportedCustomer(merchantID string, req ImportRequest, now time.Time) (*Customer, error) {
	var v ValidationError
	now = Timestamp(now)
	if req.ID.Set && req.ID.Value != "" {
		if err := ValidateCustomerID(req.ID.Value); err != nil {
			v.invalid(FieldID, err.Error())
		}
	}
	c, err := NewCustomer(merchantID, req.CreateRequest, now)
	if err != nil {
		var e *Error
		if !errors.As(err, &e) || e.Code != EINVALID {
			return nil, err
		}
		v.fields = append(v.fields, e.Fields...)
	}
	created, okCreated := importTime(&v, FieldDateCreated, req.DateCreated, now)
	updated, okUpdated := importTime(&v, FieldLastUpdated, req.LastUpdated, now)
	if okCreated && okUpdated && !created.IsZero() && !updated.IsZero() && updated.Before(created) {
		v.invalid(FieldLastUpdated, "is before date_created")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	if req.ID.Set && req.ID.Value != "" {
		c.ID = req.ID.Value
	}
	switch {
	case !created.IsZero():
		c.DateCreated = created
	case !updated.IsZero():
		c.DateCreated = updated
	default:
		c.DateCreated = now
	}
	c.LastUpdated = c.DateCreated
	if !updated.IsZero() {
		c.LastUpdated = updated
	}
	return c, nil
}

// importTime reads one optional timestamp of an import: the zero time when
// it is absent or empty, and false when it is bad (recorded in v).
func importTime(v *ValidationError, field string, val Value, now time.Time) (time.Time, bool) {
	if !val.Set || val.Value == "" {
		return time.Time{}, true
	}
	t, err := ParseTimestamp(val.Value)
	if err != nil {
		v.invalid(field, err.Error())
		return time.Time{}, false
	}
	if t.After(now) {
		v.invalid(field, fmt.Sprintf("%s is in the future", val.Value))
		return time.Time{}, false
	}
	return t, true
}

// ValidateCustomerID checks the shape of a customer id: "cst_" followed by
// 16 characters of [a-z0-9], as customerd and Juspay make them. Only that
// shape is found by id (LooksLikeID) before a lookup falls back to the
// reference, so an id of any other shape could never be looked up.
func ValidateCustomerID(s string) error {
	if len(s) != 20 || s[:4] != "cst_" {
		return fmt.Errorf("must be \"cst_\" followed by 16 characters of a-z and 0-9")
	}
	for i := 4; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return fmt.Errorf("must be \"cst_\" followed by 16 characters of a-z and 0-9")
		}
	}
	return nil
}

// ParseTimestamp reads a timestamp in the contract's layout,
// "2016-08-02T08:07:52+0000". Another numeric offset ("+0530") is accepted
// and converted to UTC.
func ParseTimestamp(s string) (time.Time, error) {
	t, err := time.Parse("2006-01-02T15:04:05-0700", s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a timestamp like 2016-08-02T08:07:52+0000", s)
	}
	return t.UTC(), nil
}

// SameFields reports whether a and b hold the same values in every field of
// the contract but the id and the timestamps: an import finds a row that
// is already there this way.
func SameFields(a, b *Customer) bool {
	return a.ObjectReferenceID == b.ObjectReferenceID && a.MobileNumber == b.MobileNumber &&
		a.MobileCountryCode == b.MobileCountryCode && a.EmailAddress == b.EmailAddress &&
		a.FirstName == b.FirstName && a.LastName == b.LastName
}
