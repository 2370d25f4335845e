package customerd

import (
	"strings"
	"testing"
)

type ruleCase struct {
	name  string
	input string
	ok    bool
}

func runRules(t *testing.T, check func(string) error, cases []ruleCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := check(tc.input)
			if tc.ok && err != nil {
				t.Fatalf("%q rejected: %v", tc.input, err)
			}
			if !tc.ok && err == nil {
				t.Fatalf("%q accepted", tc.input)
			}
		})
	}
}

func TestEmailRules(t *testing.T) {
	cases := []ruleCase{
		{"email: plain address", "customer@gmail.com", true},
		{"email: letters and digits in both parts", "Jon99@Example9.co", true},
		{"email: subdomains", "a@mail.eu.example.com", true},
		{"email: hyphen inside a domain label", "a@my-mail.example.com", true},
		{"email: digit-only labels", "a@123.456", true},
		{"email: at most 128 characters", strings.Repeat("a", 64) + "@" + strings.Repeat("b", 59) + ".com", true},
		{"email: longer than 128 characters", strings.Repeat("a", 64) + "@" + strings.Repeat("b", 60) + ".com", false},
		{"email: local part of 64 characters", strings.Repeat("l", 64) + "@example.com", true},
		{"email: local part of 65 characters", strings.Repeat("l", 65) + "@example.com", false},
		{"email: empty", "", false},
		{"email: no @", "customer.gmail.com", false},
		{"email: two @", "a@b@example.com", false},
		{"email: empty local part", "@example.com", false},
		{"email: empty domain", "jon@", false},
		{"email: domain needs two labels", "jon@localhost", false},
		{"email: domain may not start with a dot", "jon@.example.com", false},
		{"email: domain may not end with a dot", "jon@example.com.", false},
		{"email: empty label in the domain", "jon@example..com", false},
		{"email: label may not start with a hyphen", "jon@-example.com", false},
		{"email: label may not end with a hyphen", "jon@example-.com", false},
		{"email: label of 63 characters", "jon@" + strings.Repeat("d", 63) + ".com", true},
		{"email: label of 64 characters", "jon@" + strings.Repeat("d", 64) + ".com", false},
		{"email: underscore not allowed in the domain", "jon@ex_ample.com", false},
		{"email: space not allowed", "jon snow@example.com", false},
		{"email: non-ASCII letter not allowed", "jön@example.com", false},
		{"email: non-ASCII domain not allowed", "jon@exämple.com", false},
		{"email: underscore may not start the local part", "_jon@example.com", false},
		{"email: underscore may not end the local part", "jon_@example.com", false},
		{"email: dot may not start the local part", ".jon@example.com", false},
		{"email: dot may not end the local part", "jon.@example.com", false},
		{"email: underscore inside the local part", "jon_snow@example.com", true},
		{"email: dot inside the local part", "jon.snow@example.com", true},
		{"email: two dots in a row", "jon..snow@example.com", false},
		{"email: parenthesis not allowed", "jon(x)@example.com", false},
		{"email: comma not allowed", "jon,x@example.com", false},
		{"email: double quote not allowed", `"jon"@example.com`, false},
		{"email: backslash not allowed", `jon\x@example.com`, false},
		{"email: square bracket not allowed", "jon[x]@example.com", false},
		{"email: colon and semicolon not allowed", "jo:n;@example.com", false},
		{"email: angle brackets not allowed", "<jon>@example.com", false},
		{"email: control character not allowed", "jon\x00@example.com", false},
	}
	// Every special character the seed allows, alone inside the local part.
	for _, c := range "!#$%&'*+-/=?^_.{|}~`" {
		cases = append(cases, ruleCase{"email: allowed special " + string(c) + " inside the local part", "a" + string(c) + "b@example.com", true})
	}
	for _, c := range "!#$%&'*+-/=?^{|}~`" {
		cases = append(cases, ruleCase{"email: allowed special " + string(c) + " may start the local part", string(c) + "b@example.com", true})
	}
	runRules(t, ValidateEmail, cases)
}

func TestNameRules(t *testing.T) {
	cases := []ruleCase{
		{"name: letters", "Jon", true},
		{"name: digits", "Jon2", true},
		{"name: every allowed special", "a().-_b", true},
		{"name: special characters alone", "(.)-_", true},
		{"name: 64 characters", strings.Repeat("n", 64), true},
		{"name: 65 characters", strings.Repeat("n", 65), false},
		{"name: empty", "", false},
		{"name: space not allowed", "Jon Snow", false},
		{"name: apostrophe not allowed", "O'Brien", false},
		{"name: comma not allowed", "Snow,Jon", false},
		{"name: at sign not allowed", "jon@", false},
		{"name: slash not allowed", "a/b", false},
		{"name: plus not allowed", "a+b", false},
		{"name: non-ASCII letter not allowed", "Jörg", false},
		{"name: tab not allowed", "a\tb", false},
		{"name: newline not allowed", "a\nb", false},
	}
	runRules(t, ValidateName, cases)
}

func TestMobileRules(t *testing.T) {
	runRules(t, ValidateMobileNumber, []ruleCase{
		{"mobile_number: digits", "99887766", true},
		{"mobile_number: one digit", "9", true},
		{"mobile_number: 16 digits", strings.Repeat("9", 16), true},
		{"mobile_number: 17 digits", strings.Repeat("9", 17), false},
		{"mobile_number: empty", "", false},
		{"mobile_number: plus sign not allowed", "+99887766", false},
		{"mobile_number: space not allowed", "9988 7766", false},
		{"mobile_number: hyphen not allowed", "9988-7766", false},
		{"mobile_number: letter not allowed", "99887766a", false},
		{"mobile_number: non-ASCII digit not allowed", "٩٩٨", false},
		{"mobile_number: decimal point not allowed", "9.5", false},
	})
	norm := func(s string) error { _, err := NormalizeMobileCountryCode(s); return err }
	runRules(t, norm, []ruleCase{
		{"mobile_country_code: digits", "65", true},
		{"mobile_country_code: four digits", "1234", true},
		{"mobile_country_code: five digits", "12345", false},
		{"mobile_country_code: leading plus is stripped", "+91", true},
		{"mobile_country_code: two pluses", "++91", false},
		{"mobile_country_code: plus alone", "+", false},
		{"mobile_country_code: empty", "", false},
		{"mobile_country_code: letter", "9a", false},
		{"mobile_country_code: trailing plus", "91+", false},
	})
	if got, _ := NormalizeMobileCountryCode("+65"); got != "65" {
		t.Errorf("+65 normalized to %q, want 65", got)
	}
}

func TestObjectReferenceRules(t *testing.T) {
	runRules(t, ValidateObjectReferenceID, []ruleCase{
		{"object_reference_id: an email", "customer@gmail.com", true},
		{"object_reference_id: spaces and punctuation", "order 42 / a+b %2F", true},
		{"object_reference_id: unicode", "ünïcødé-客户", true},
		{"object_reference_id: 128 characters", strings.Repeat("r", 128), true},
		{"object_reference_id: 128 multi-byte characters", strings.Repeat("é", 128), true},
		{"object_reference_id: 129 characters", strings.Repeat("r", 129), false},
		{"object_reference_id: empty", "", false},
		{"object_reference_id: newline not allowed", "a\nb", false},
		{"object_reference_id: NUL not allowed", "a\x00b", false},
		{"object_reference_id: DEL not allowed", "a\x7fb", false},
		{"object_reference_id: C1 control not allowed", "a\u0085b", false},
		{"object_reference_id: invalid UTF-8 not allowed", "a\xffb", false},
	})
}

func TestNewCustomer(t *testing.T) {
	now := mustTime("2026-01-02T03:04:05.9Z")
	c, err := NewCustomer("m", CreateRequest{
		ObjectReferenceID: Present("ref"), MobileNumber: Present("1"),
		MobileCountryCode: Present("+65"), EmailAddress: Present(""), FirstName: Present("Jon"),
	}, now)
	if err != nil {
		t.Fatal(err)
	}
	if c.MobileCountryCode != "65" || c.EmailAddress != "" || c.FirstName != "Jon" || c.LastName != "" {
		t.Fatalf("customer %+v", c)
	}
	if !c.DateCreated.Equal(Timestamp(now)) || c.DateCreated.Nanosecond() != 0 || c.LastUpdated != c.DateCreated {
		t.Fatalf("timestamps %v %v", c.DateCreated, c.LastUpdated)
	}
	if len(c.ID) != 20 || !strings.HasPrefix(c.ID, "cst_") || strings.Trim(c.ID[4:], idAlphabet) != "" {
		t.Fatalf("id %q", c.ID)
	}
	d, _ := NewCustomer("m", CreateRequest{ObjectReferenceID: Present("r"), MobileNumber: Present("1")}, now)
	if d.MobileCountryCode != "91" {
		t.Fatalf("default country code %q", d.MobileCountryCode)
	}
}

func TestNewCustomerReportsEveryBadField(t *testing.T) {
	_, err := NewCustomer("m", CreateRequest{
		MobileNumber: Present(""), EmailAddress: Present("bad"), LastName: Present("a b"),
	}, mustTime("2026-01-01T00:00:00Z"))
	e, ok := err.(*Error)
	if !ok || e.Code != EINVALID {
		t.Fatalf("err = %v", err)
	}
	var got []string
	for _, f := range e.Fields {
		got = append(got, f.Field)
	}
	want := "object_reference_id,mobile_number,email_address,last_name"
	if strings.Join(got, ",") != want {
		t.Fatalf("fields %v, want %s", got, want)
	}
	if !e.Fields[0].Missing || e.Fields[1].Missing {
		t.Fatalf("missing flags %+v", e.Fields)
	}
}

func TestNewPatch(t *testing.T) {
	p, err := NewPatch(UpdateRequest{EmailAddress: Present(""), MobileCountryCode: Present("+1")})
	if err != nil {
		t.Fatal(err)
	}
	ch := p.Changes()
	if len(ch) != 2 || ch[0] != (FieldChange{FieldMobileCountryCode, "1"}) || ch[1] != (FieldChange{FieldEmailAddress, ""}) {
		t.Fatalf("changes %+v", ch)
	}
	for name, req := range map[string]UpdateRequest{
		"update: empty mobile_number is rejected":       {MobileNumber: Present("")},
		"update: empty mobile_country_code is rejected": {MobileCountryCode: Present("")},
		"update: bad first_name is rejected":            {FirstName: Present("J S")},
	} {
		if _, err := NewPatch(req); ErrorCode(err) != EINVALID {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	if p, _ := NewPatch(UpdateRequest{}); !p.IsEmpty() {
		t.Error("empty request gives a non-empty patch")
	}
}

func TestNewCustomerIDIsUniform(t *testing.T) {
	seen := map[string]bool{}
	counts := map[rune]int{}
	for range 2000 {
		id, err := NewCustomerID()
		if err != nil {
			t.Fatal(err)
		}
		if seen[id] {
			t.Fatalf("duplicate id %s", id)
		}
		seen[id] = true
		for _, r := range id[4:] {
			counts[r]++
		}
	}
	if len(counts) != 36 {
		t.Fatalf("only %d distinct characters used", len(counts))
	}
}
