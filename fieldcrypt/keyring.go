package fieldcrypt

import (
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"customerd"
)

// Keyring is one merchant's unwrapped keys: every data-key version it has and
// its index key. It is immutable and safe for concurrent use.
type Keyring struct {
	merchantID string
	data       map[uint32]cipher.AEAD
	active     uint32
	index      []byte
}

// versionLen is the size of the data-key version that prefixes a sealed value.
const versionLen = 4

// Overhead is how many bytes sealing adds to a value: the version, the
// 96-bit nonce and the 128-bit tag.
const Overhead = versionLen + 12 + 16

// Active returns the newest data-key version, the one Seal uses.
func (r *Keyring) Active() uint32 { return r.active }

// Has reports whether the keyring holds data-key version v.
func (r *Keyring) Has(v uint32) bool { _, ok := r.data[v]; return ok }

func fieldAAD(merchantID, customerID, field string, version uint32) []byte {
	return appendFieldAAD(nil, merchantID, customerID, field, version)
}

func appendFieldAAD(b []byte, merchantID, customerID, field string, version uint32) []byte {
	b = appendField(b, "customerd field v1")
	b = appendField(b, merchantID)
	b = appendField(b, customerID)
	b = appendField(b, field)
	return binary.BigEndian.AppendUint32(b, version)
}

// Seal encrypts one field of one customer under the active data key. The
// result is version || nonce || ciphertext || tag.
func (r *Keyring) Seal(customerID, field, plaintext string) ([]byte, error) {
	prefix := binary.BigEndian.AppendUint32(nil, r.active)
	return seal(r.data[r.active], prefix, []byte(plaintext), fieldAAD(r.merchantID, customerID, field, r.active))
}

// VersionOf returns the data-key version a sealed value names.
func VersionOf(sealed []byte) (uint32, error) {
	if len(sealed) < Overhead {
		return 0, ErrOpen
	}
	return binary.BigEndian.Uint32(sealed), nil
}

// Open decrypts a value that Seal made for this customer and field. It
// returns ErrUnknownVersion when the keyring lacks the value's data-key
// version and ErrOpen when authentication fails.
func (r *Keyring) Open(customerID, field string, sealed []byte) (string, error) {
	pt, _, err := r.openAppend(nil, nil, customerID, field, sealed)
	if err != nil {
		return "", err
	}
	return string(pt), nil
}

// openAppend decrypts sealed like Open, appending the plaintext to dst. The
// associated data is built in aad[:0], which is returned for reuse.
func (r *Keyring) openAppend(dst, aad []byte, customerID, field string, sealed []byte) ([]byte, []byte, error) {
	v, err := VersionOf(sealed)
	if err != nil {
		return dst, aad, fmt.Errorf("%s of %s: %w", field, customerID, err)
	}
	aead, ok := r.data[v]
	if !ok {
		return dst, aad, fmt.Errorf("%s of %s: v%d: %w", field, customerID, v, ErrUnknownVersion)
	}
	body := sealed[versionLen:]
	n := aead.NonceSize()
	aad = appendFieldAAD(aad[:0], r.merchantID, customerID, field, v)
	out, err := aead.Open(dst, body[:n], body[n:], aad)
	if err != nil {
		return dst, aad, fmt.Errorf("%s of %s: %w", field, customerID, ErrOpen)
	}
	return out, aad, nil
}

// BlindIndex returns the keyed hash of one field's value under which the
// value is looked up: object_reference_id (also kept unique with it),
// mobile_number and email_address. The field's name is hashed first, as
// domain separation, so that equal values of two fields have different
// indexes. Equal values of one field of one merchant have equal indexes;
// without the index key nothing about a value can be learnt from its index
// beyond equality.
func (r *Keyring) BlindIndex(field, value string) []byte {
	m := hmac.New(sha256.New, r.index)
	// One write of field || 0 || value: the reference's index, the first
	// there was, is HMAC(key, "object_reference_id\x00" || ref).
	b := make([]byte, 0, 64+len(value))
	b = append(append(append(b, field...), 0), value...)
	m.Write(b)
	out := m.Sum(b[:0])
	return out[:len(out):len(out)]
}

// IndexOptional is BlindIndex for an optional field: an empty value (the
// field unset) has no index, nil, stored as NULL.
func (r *Keyring) IndexOptional(field, value string) []byte {
	if value == "" {
		return nil
	}
	return r.BlindIndex(field, value)
}

// KeyedHash is BlindIndex for what is compared but never looked up by
// field: an Idempotency-Key and the request it was used for, each under a
// domain name no field and no other use of the key shares.
func (r *Keyring) KeyedHash(domain string, value []byte) []byte {
	return r.BlindIndex(domain, string(value))
}

// SealField seals one field value; an empty value (an unset optional field)
// is nil, stored as NULL.
func (r *Keyring) SealField(customerID, field, value string) ([]byte, error) {
	if value == "" {
		return nil, nil
	}
	return r.Seal(customerID, field, value)
}

// SealCustomer returns the stored form of c: every personal field sealed
// under the active data key, and the blind indexes of its reference, mobile
// number and email address (none when it has no email address).
func (r *Keyring) SealCustomer(c *customerd.Customer) (customerd.SealedCustomer, error) {
	if c.MerchantID != r.merchantID {
		return customerd.SealedCustomer{}, fmt.Errorf("fieldcrypt: customer of merchant %q sealed with the keys of %q", c.MerchantID, r.merchantID)
	}
	s := customerd.SealedCustomer{ID: c.ID, MerchantID: c.MerchantID, KeyVersion: r.active,
		RefIndex:          r.BlindIndex(customerd.FieldObjectReferenceID, c.ObjectReferenceID),
		MobileIndex:       r.BlindIndex(customerd.FieldMobileNumber, c.MobileNumber),
		EmailIndex:        r.IndexOptional(customerd.FieldEmailAddress, c.EmailAddress),
		MobileCountryCode: c.MobileCountryCode, DateCreated: c.DateCreated, LastUpdated: c.LastUpdated}
	var err error
	for _, f := range []struct {
		name  string
		value string
		dst   *[]byte
	}{
		{customerd.FieldObjectReferenceID, c.ObjectReferenceID, &s.ObjectReferenceID},
		{customerd.FieldMobileNumber, c.MobileNumber, &s.MobileNumber},
		{customerd.FieldEmailAddress, c.EmailAddress, &s.EmailAddress},
		{customerd.FieldFirstName, c.FirstName, &s.FirstName},
		{customerd.FieldLastName, c.LastName, &s.LastName},
	} {
		if *f.dst, err = r.SealField(c.ID, f.name, f.value); err != nil {
			return customerd.SealedCustomer{}, err
		}
	}
	return s, nil
}

// OpenCustomer decrypts a stored customer. NULL (nil) optional fields open
// to "".
func (r *Keyring) OpenCustomer(s *customerd.SealedCustomer) (*customerd.Customer, error) {
	if s.MerchantID != r.merchantID {
		return nil, fmt.Errorf("fieldcrypt: customer of merchant %q opened with the keys of %q", s.MerchantID, r.merchantID)
	}
	c := &customerd.Customer{ID: s.ID, MerchantID: s.MerchantID, MobileCountryCode: s.MobileCountryCode,
		DateCreated: s.DateCreated, LastUpdated: s.LastUpdated}
	fields := [...]struct {
		name     string
		sealed   []byte
		dst      *string
		required bool
	}{
		{customerd.FieldObjectReferenceID, s.ObjectReferenceID, &c.ObjectReferenceID, true},
		{customerd.FieldMobileNumber, s.MobileNumber, &c.MobileNumber, true},
		{customerd.FieldEmailAddress, s.EmailAddress, &c.EmailAddress, false},
		{customerd.FieldFirstName, s.FirstName, &c.FirstName, false},
		{customerd.FieldLastName, s.LastName, &c.LastName, false},
	}
	// Every plaintext goes into one buffer that becomes one string, and one
	// buffer holds each field's associated data in turn: a read allocates
	// twice per customer instead of several times per field.
	size := 0
	for _, f := range fields {
		size += len(f.sealed)
	}
	// One allocation serves both: capped slices of it, so that neither
	// can grow into the other.
	scratch := make([]byte, size+64+len(r.merchantID)+len(c.ID))
	pt := scratch[:0:size]
	aad := scratch[size:size]
	var ends [len(fields)]int
	for i, f := range fields {
		if f.sealed == nil && !f.required {
			ends[i] = len(pt)
			continue
		}
		var err error
		if pt, aad, err = r.openAppend(pt, aad, c.ID, f.name, f.sealed); err != nil {
			return nil, err
		}
		ends[i] = len(pt)
	}
	all := string(pt)
	start := 0
	for i, f := range fields {
		*f.dst = all[start:ends[i]]
		start = ends[i]
	}
	return c, nil
}
