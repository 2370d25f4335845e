package customerd

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Wire names of the customer fields. Stores and the HTTP layer use these so
// that a field is named the same everywhere.
const (
	FieldObjectReferenceID = "object_reference_id"
	FieldMobileNumber      = "mobile_number"
	FieldMobileCountryCode = "mobile_country_code"
	FieldEmailAddress      = "email_address"
	FieldFirstName         = "first_name"
	FieldLastName          = "last_name"
)

// Limits from the contract (§5, §5.1).
const (
	MaxObjectReferenceIDLen  = 128
	MaxMobileNumberLen       = 16
	MaxMobileCountryCodeLen  = 4
	MaxEmailLen              = 128
	MaxEmailLocalLen         = 64
	MaxEmailLabelLen         = 63
	MaxNameLen               = 64
	DefaultMobileCountryCode = "91" // Juspay's default when create leaves it out
)

// ValidateObjectReferenceID checks the merchant's own customer reference:
// 1–128 characters of valid UTF-8 with no control characters.
func ValidateObjectReferenceID(s string) error {
	if s == "" {
		return fmt.Errorf("may not be empty")
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("must be valid UTF-8")
	}
	if n := utf8.RuneCountInString(s); n > MaxObjectReferenceIDLen {
		return fmt.Errorf("is %d characters long, at most %d are allowed", n, MaxObjectReferenceIDLen)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fmt.Errorf("may not contain control characters")
		}
	}
	return nil
}

// ValidateMobileNumber checks a mobile number: 1–16 ASCII digits.
func ValidateMobileNumber(s string) error {
	return validateDigits(s, MaxMobileNumberLen)
}

// NormalizeMobileCountryCode strips one leading '+' and checks that 1–4 ASCII
// digits remain. It returns the stored form.
func NormalizeMobileCountryCode(s string) (string, error) {
	d := strings.TrimPrefix(s, "+")
	if err := validateDigits(d, MaxMobileCountryCodeLen); err != nil {
		return "", err
	}
	return d, nil
}

func validateDigits(s string, max int) error {
	if s == "" {
		return fmt.Errorf("may not be empty")
	}
	if len(s) > max {
		return fmt.Errorf("has %d characters, at most %d digits are allowed", len(s), max)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return fmt.Errorf("may contain digits only")
		}
	}
	return nil
}

// emailLocalSpecials are the non-alphanumeric characters the seed allows in
// the local part of an email address.
const emailLocalSpecials = "!#$%&'*+-/=?^_.{|}~`"

func isASCIIAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// ValidateEmail checks an email address against the seed's rules (§5.1).
func ValidateEmail(s string) error {
	if s == "" {
		return fmt.Errorf("may not be empty")
	}
	if len(s) > MaxEmailLen {
		return fmt.Errorf("is longer than %d characters", MaxEmailLen)
	}
	at := strings.IndexByte(s, '@')
	if at < 0 || strings.IndexByte(s[at+1:], '@') >= 0 {
		return fmt.Errorf("must contain exactly one '@'")
	}
	local, domain := s[:at], s[at+1:]
	if local == "" {
		return fmt.Errorf("the part before '@' may not be empty")
	}
	if len(local) > MaxEmailLocalLen {
		return fmt.Errorf("the part before '@' is longer than %d characters", MaxEmailLocalLen)
	}
	for i := 0; i < len(local); i++ {
		c := local[i]
		if !isASCIIAlnum(c) && strings.IndexByte(emailLocalSpecials, c) < 0 {
			return fmt.Errorf("character %q is not allowed before '@'", rune(c))
		}
	}
	for _, c := range []byte{'_', '.'} {
		if local[0] == c {
			return fmt.Errorf("'%s' may not start with '%c'", s, c)
		}
		if local[len(local)-1] == c {
			return fmt.Errorf("'%s' may not end with '%c' before '@'", s, c)
		}
	}
	if strings.Contains(local, "..") {
		return fmt.Errorf("two dots in a row are not allowed")
	}
	labels := strings.Split(domain, ".")
	if len(labels) < 2 {
		return fmt.Errorf("the domain needs at least two labels")
	}
	for _, l := range labels {
		if l == "" {
			return fmt.Errorf("the domain has an empty label")
		}
		if len(l) > MaxEmailLabelLen {
			return fmt.Errorf("a domain label is longer than %d characters", MaxEmailLabelLen)
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Errorf("a domain label may not start or end with '-'")
		}
		for i := 0; i < len(l); i++ {
			if !isASCIIAlnum(l[i]) && l[i] != '-' {
				return fmt.Errorf("character %q is not allowed in the domain", rune(l[i]))
			}
		}
	}
	return nil
}

// nameSpecials are the non-alphanumeric characters allowed in names.
const nameSpecials = "().-_"

// ValidateName checks a first or last name: 1–64 characters, each an ASCII
// letter or digit or one of "( ) . - _". Spaces are not allowed.
func ValidateName(s string) error {
	if s == "" {
		return fmt.Errorf("may not be empty")
	}
	if len(s) > MaxNameLen {
		return fmt.Errorf("is longer than %d characters", MaxNameLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isASCIIAlnum(c) && strings.IndexByte(nameSpecials, c) < 0 {
			if c >= utf8.RuneSelf {
				return fmt.Errorf("only ASCII letters, digits and ( ) . - _ are allowed")
			}
			return fmt.Errorf("character %q is not allowed", rune(c))
		}
	}
	return nil
}
