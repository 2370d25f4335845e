package customerd

import (
	"crypto/rand"
	"encoding/hex"
	"time"
)

// Customer is a merchant's customer. Optional fields that were never set (or
// were cleared) hold the empty string; the wire format shows them as null.
type Customer struct {
	ID                string // "cst_" + 16 characters of [a-z0-9]
	MerchantID        string
	ObjectReferenceID string
	MobileNumber      string
	MobileCountryCode string
	EmailAddress      string
	FirstName         string
	LastName          string
	DateCreated       time.Time // UTC, whole seconds
	LastUpdated       time.Time // UTC, whole seconds
}

// Value is a request field that may be absent. Set distinguishes an absent
// field from one sent empty.
type Value struct {
	Set   bool
	Value string
}

// Present returns a Value that is set to s.
func Present(s string) Value { return Value{Set: true, Value: s} }

// CreateRequest holds the fields of a create call as the client sent them.
type CreateRequest struct {
	ObjectReferenceID Value
	MobileNumber      Value
	MobileCountryCode Value
	EmailAddress      Value
	FirstName         Value
	LastName          Value
}

// NewCustomer validates req and returns the customer it describes, with a
// fresh id and both timestamps set to now. Every bad field is reported in one
// *Error with code EINVALID. An empty optional name or email is stored as
// unset; an absent mobile_country_code defaults to "91".
func NewCustomer(merchantID string, req CreateRequest, now time.Time) (*Customer, error) {
	var v ValidationError
	c := &Customer{MerchantID: merchantID, MobileCountryCode: DefaultMobileCountryCode}

	required := func(field string, val Value, check func(string) error, dst *string) {
		switch {
		case !val.Set:
			v.missing(field)
		case val.Value == "":
			v.invalid(field, "may not be empty")
		default:
			if err := check(val.Value); err != nil {
				v.invalid(field, err.Error())
				return
			}
			*dst = val.Value
		}
	}
	required(FieldObjectReferenceID, req.ObjectReferenceID, ValidateObjectReferenceID, &c.ObjectReferenceID)
	required(FieldMobileNumber, req.MobileNumber, ValidateMobileNumber, &c.MobileNumber)
	if req.MobileCountryCode.Set {
		if cc, err := NormalizeMobileCountryCode(req.MobileCountryCode.Value); err != nil {
			v.invalid(FieldMobileCountryCode, err.Error())
		} else {
			c.MobileCountryCode = cc
		}
	}
	optional(&v, FieldEmailAddress, req.EmailAddress, ValidateEmail, &c.EmailAddress)
	optional(&v, FieldFirstName, req.FirstName, ValidateName, &c.FirstName)
	optional(&v, FieldLastName, req.LastName, ValidateName, &c.LastName)
	if err := v.Err(); err != nil {
		return nil, err
	}
	id, err := NewCustomerID()
	if err != nil {
		return nil, err
	}
	c.ID = id
	c.DateCreated = Timestamp(now)
	c.LastUpdated = c.DateCreated
	return c, nil
}

// optional validates a field that may be absent or empty (empty means unset).
func optional(v *ValidationError, field string, val Value, check func(string) error, dst *string) {
	if !val.Set || val.Value == "" {
		return
	}
	if err := check(val.Value); err != nil {
		v.invalid(field, err.Error())
		return
	}
	*dst = val.Value
}

// Patch is a validated partial update. Only fields with Set change; an empty
// Value of an optional field clears it.
type Patch struct {
	MobileNumber      Value
	MobileCountryCode Value
	EmailAddress      Value
	FirstName         Value
	LastName          Value
}

// UpdateRequest holds the updatable fields of an update call as sent.
type UpdateRequest = Patch

// NewPatch validates an update request. mobile_number and mobile_country_code
// may not be emptied; email and names are cleared by an empty value.
func NewPatch(req UpdateRequest) (Patch, error) {
	var v ValidationError
	p := Patch{}
	if req.MobileNumber.Set {
		if err := ValidateMobileNumber(req.MobileNumber.Value); err != nil {
			v.invalid(FieldMobileNumber, err.Error())
		}
		p.MobileNumber = req.MobileNumber
	}
	if req.MobileCountryCode.Set {
		cc, err := NormalizeMobileCountryCode(req.MobileCountryCode.Value)
		if err != nil {
			v.invalid(FieldMobileCountryCode, err.Error())
		}
		p.MobileCountryCode = Present(cc)
	}
	clearable := func(field string, val Value, check func(string) error, dst *Value) {
		if !val.Set {
			return
		}
		if val.Value != "" {
			if err := check(val.Value); err != nil {
				v.invalid(field, err.Error())
			}
		}
		*dst = val
	}
	clearable(FieldEmailAddress, req.EmailAddress, ValidateEmail, &p.EmailAddress)
	clearable(FieldFirstName, req.FirstName, ValidateName, &p.FirstName)
	clearable(FieldLastName, req.LastName, ValidateName, &p.LastName)
	if err := v.Err(); err != nil {
		return Patch{}, err
	}
	return p, nil
}

// CustomerSearch is a list request of a merchant's customers as the client
// sent it (extensions §1): the paging, and the exact-match filters in clear,
// each "" for no filter. Erased customers are never listed.
type CustomerSearch struct {
	Page
	ObjectReferenceID string
	MobileNumber      string
	EmailAddress      string
}

// Validate checks each filter that is set with the rule of its field, so
// that a value no customer can have is a mistake rather than an empty list:
// an *Error with code EINVALID naming every bad filter, in field order.
func (q CustomerSearch) Validate() error {
	var v ValidationError
	for _, f := range [...]struct {
		field, value string
		check        func(string) error
	}{
		{FieldObjectReferenceID, q.ObjectReferenceID, ValidateObjectReferenceID},
		{FieldMobileNumber, q.MobileNumber, ValidateMobileNumber},
		{FieldEmailAddress, q.EmailAddress, ValidateEmail},
	} {
		if f.value == "" {
			continue
		}
		if err := f.check(f.value); err != nil {
			v.invalid(f.field, err.Error())
		}
	}
	return v.Err()
}

// FieldChange is one column an update writes.
type FieldChange struct {
	Field string // wire name, one of the Field* constants
	Value string // "" clears an optional field
}

// Changes lists the fields the patch sets, in a fixed order. Stores write
// exactly these columns, so concurrent updates of different fields never
// undo each other.
func (p Patch) Changes() []FieldChange {
	var out []FieldChange
	add := func(field string, v Value) {
		if v.Set {
			out = append(out, FieldChange{Field: field, Value: v.Value})
		}
	}
	add(FieldMobileNumber, p.MobileNumber)
	add(FieldMobileCountryCode, p.MobileCountryCode)
	add(FieldEmailAddress, p.EmailAddress)
	add(FieldFirstName, p.FirstName)
	add(FieldLastName, p.LastName)
	return out
}

// IsEmpty reports whether the patch changes nothing. An empty update returns
// the customer unchanged, without moving last_updated.
func (p Patch) IsEmpty() bool {
	return !p.MobileNumber.Set && !p.MobileCountryCode.Set && !p.EmailAddress.Set &&
		!p.FirstName.Set && !p.LastName.Set
}

// Apply returns c with the patch applied and LastUpdated moved to now (never
// backwards). Stores that read-modify-write under a row lock use it.
func (p Patch) Apply(c Customer, now time.Time) Customer {
	for _, ch := range p.Changes() {
		switch ch.Field {
		case FieldMobileNumber:
			c.MobileNumber = ch.Value
		case FieldMobileCountryCode:
			c.MobileCountryCode = ch.Value
		case FieldEmailAddress:
			c.EmailAddress = ch.Value
		case FieldFirstName:
			c.FirstName = ch.Value
		case FieldLastName:
			c.LastName = ch.Value
		}
	}
	if t := Timestamp(now); t.After(c.LastUpdated) {
		c.LastUpdated = t
	}
	return c
}

// Timestamp truncates t to whole seconds in UTC, the precision of the wire format.
func Timestamp(t time.Time) time.Time { return t.UTC().Truncate(time.Second) }

const idAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// LooksLikeID reports whether s has the shape of a generated customer id, so
// that a lookup by id can be skipped for what can only be a reference.
func LooksLikeID(s string) bool { return len(s) == 20 && s[:4] == "cst_" }

// NewCustomerID returns "cst_" followed by 16 characters of [a-z0-9] drawn
// uniformly from crypto/rand.
func NewCustomerID() (string, error) { return newID("cst_") }

// newID returns prefix followed by 16 characters of [a-z0-9] drawn
// uniformly from crypto/rand: the shape of every id customerd makes.
func newID(prefix string) (string, error) {
	const n = 16
	out := make([]byte, len(prefix), len(prefix)+n)
	copy(out, prefix)
	var buf [32]byte
	for len(out) < len(prefix)+n {
		if _, err := rand.Read(buf[:]); err != nil {
			return "", err
		}
		for _, b := range buf {
			// 252 = 7*36: reject the tail so every character is equally likely.
			if b < 252 && len(out) < len(prefix)+n {
				out = append(out, idAlphabet[b%36])
			}
		}
	}
	return string(out), nil
}

// ClientAuthToken is the short-lived token returned with the
// options.get_client_auth_token option.
type ClientAuthToken struct {
	Token   string    // "tkn_" + 32 lowercase hex characters
	Expires time.Time // 15 minutes after issue
}

// ClientAuthTokenTTL is how long a client auth token is valid.
const ClientAuthTokenTTL = 15 * time.Minute

// NewClientAuthToken returns a fresh token from crypto/rand.
func NewClientAuthToken(now time.Time) (ClientAuthToken, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return ClientAuthToken{}, err
	}
	return ClientAuthToken{Token: "tkn_" + hex.EncodeToString(b[:]), Expires: Timestamp(now).Add(ClientAuthTokenTTL)}, nil
}
