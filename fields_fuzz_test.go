package customerd_test

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"customerd"
)

// The field validators decide what the server stores. Their fuzz targets
// check that every input is either accepted, and then really satisfies the
// rules of the contract (§5.1), or rejected with an EINVALID *Error that
// names only known fields.

var wireFields = map[string]bool{
	customerd.FieldObjectReferenceID: true, customerd.FieldMobileNumber: true,
	customerd.FieldMobileCountryCode: true, customerd.FieldEmailAddress: true,
	customerd.FieldFirstName: true, customerd.FieldLastName: true,
}

func wantFieldError(t *testing.T, err error) {
	t.Helper()
	var e *customerd.Error
	if !errors.As(err, &e) || e.Code != customerd.EINVALID || len(e.Fields) == 0 {
		t.Fatalf("not a field error: %#v", err)
	}
	for _, f := range e.Fields {
		if !wireFields[f.Field] {
			t.Fatalf("error names unknown field %q", f.Field)
		}
	}
}

func isDigits(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// checkAccepted fails unless every stored value obeys the contract's rules,
// checked here independently of the validators.
func checkAccepted(t *testing.T, ref, mobile, cc, email, first, last string) {
	t.Helper()
	if ref != "" {
		if !utf8.ValidString(ref) || utf8.RuneCountInString(ref) > 128 ||
			strings.IndexFunc(ref, unicode.IsControl) >= 0 {
			t.Fatalf("accepted object_reference_id %q", ref)
		}
	}
	if mobile != "" && !isDigits(mobile, 16) {
		t.Fatalf("accepted mobile_number %q", mobile)
	}
	if cc != "" && !isDigits(cc, 4) {
		t.Fatalf("stored mobile_country_code %q", cc)
	}
	if email != "" {
		local, domain, _ := strings.Cut(email, "@")
		if len(email) > 128 || strings.Count(email, "@") != 1 || local == "" || len(local) > 64 ||
			strings.Contains(local, "..") || strings.Count(domain, ".") < 1 ||
			strings.IndexFunc(email, func(r rune) bool { return r >= utf8.RuneSelf || unicode.IsSpace(r) }) >= 0 {
			t.Fatalf("accepted email_address %q", email)
		}
	}
	for _, n := range []string{first, last} {
		if n == "" {
			continue
		}
		if len(n) > 64 || strings.IndexFunc(n, func(r rune) bool {
			return !(r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("().-_", r)))
		}) >= 0 {
			t.Fatalf("accepted name %q", n)
		}
	}
}

// value is a field as sent: absent when the mask bit is clear.
func value(mask uint8, bit int, s string) customerd.Value {
	return customerd.Value{Set: mask&(1<<bit) != 0, Value: s}
}

func FuzzCustomerFields(f *testing.F) {
	f.Add(uint8(0xff), "customer@gmail.com", "99887766", "+65", "customer@gmail.com", "Jon", "Snow")
	f.Add(uint8(0x03), "r", "1", "", "", "", "")
	f.Add(uint8(0xff), "", "", "", "", "", "")
	f.Add(uint8(0xff), "a\x00b", "12a", "++1", "_jon@example.com", "Jon Snow", "Sn\xffow")
	f.Add(uint8(0xff), strings.Repeat("é", 129), "12345678901234567", "12345", "a..b@example.com", "(J.-_)", strings.Repeat("x", 65))
	f.Add(uint8(0xff), "ref", "1", "91", "jon@-example.com", "Jön", "O'Neil")
	f.Add(uint8(0xff), "ref", "1", "91", "a!#$%&'*+-/=?^_.{|}~`b@x-y.example", "a", "b")
	f.Fuzz(func(t *testing.T, mask uint8, ref, mobile, cc, email, first, last string) {
		c, err := customerd.NewCustomer("m", customerd.CreateRequest{
			ObjectReferenceID: value(mask, 0, ref), MobileNumber: value(mask, 1, mobile),
			MobileCountryCode: value(mask, 2, cc), EmailAddress: value(mask, 3, email),
			FirstName: value(mask, 4, first), LastName: value(mask, 5, last),
		}, time.Unix(1e9, 0))
		if err != nil {
			wantFieldError(t, err)
			return
		}
		if c.ObjectReferenceID != ref || c.MobileNumber != mobile || c.ObjectReferenceID == "" || c.MobileNumber == "" {
			t.Fatalf("required fields changed or empty: %+v", c)
		}
		checkAccepted(t, c.ObjectReferenceID, c.MobileNumber, c.MobileCountryCode, c.EmailAddress, c.FirstName, c.LastName)
		if c.MobileCountryCode == "" {
			t.Fatal("no mobile_country_code stored")
		}
	})
}

func FuzzPatchFields(f *testing.F) {
	f.Add(uint8(0xff), "99887700", "+91", "", "Jon", "")
	f.Add(uint8(0x00), "", "", "", "", "")
	f.Add(uint8(0xff), "", "", "bad", "", "Snow!")
	f.Add(uint8(0x1f), "0", "+", "x@y.z", "_", "-")
	f.Fuzz(func(t *testing.T, mask uint8, mobile, cc, email, first, last string) {
		p, err := customerd.NewPatch(customerd.UpdateRequest{
			MobileNumber: value(mask, 0, mobile), MobileCountryCode: value(mask, 1, cc),
			EmailAddress: value(mask, 2, email), FirstName: value(mask, 3, first), LastName: value(mask, 4, last),
		})
		if err != nil {
			wantFieldError(t, err)
			return
		}
		if p.MobileNumber.Set && p.MobileNumber.Value == "" || p.MobileCountryCode.Set && p.MobileCountryCode.Value == "" {
			t.Fatalf("patch empties a required field: %+v", p)
		}
		checkAccepted(t, "", p.MobileNumber.Value, p.MobileCountryCode.Value, p.EmailAddress.Value, p.FirstName.Value, p.LastName.Value)
		if p.IsEmpty() != (len(p.Changes()) == 0) {
			t.Fatalf("IsEmpty %v with changes %v", p.IsEmpty(), p.Changes())
		}
	})
}
