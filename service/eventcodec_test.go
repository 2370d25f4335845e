package service

import (
	"encoding/json"
	"reflect"
	"testing"
)

func ptr[T any](v T) *T { return &v }

var codecCases = []struct {
	kept     keptData
	personal personalData
}{
	{kept: keptData{CountryCode: "+91", DateCreated: 1700000000, LastUpdated: 1700000000},
		personal: personalData{ObjectReferenceID: "ref@example.com", MobileNumber: "99887766"}},
	{kept: keptData{CountryCode: "", DateCreated: -1, LastUpdated: 1 << 40, Previous: []keptPrevious{
		{Field: "mobile_number"}, {Field: "mobile_country_code", Value: ptr("+1")}, {Field: "email_address"},
		{Field: "first_name"}, {Field: "last_updated", Unix: ptr(int64(1699999999))}}},
		personal: personalData{ObjectReferenceID: "r", MobileNumber: "1", EmailAddress: "é@example.com", FirstName: "Jon",
			LastName: "Snow", Previous: map[string]*string{"mobile_number": ptr("2"), "email_address": nil, "first_name": ptr("")}}},
}

func TestEventPartsRoundTrip(t *testing.T) {
	for i, c := range codecCases {
		k, err := decodeKept(encodeKept(c.kept))
		if err != nil || !reflect.DeepEqual(k, c.kept) {
			t.Errorf("case %d, kept: %+v, %v", i, k, err)
		}
		p, err := decodePersonal(encodePersonal(&c.personal))
		if err != nil || !reflect.DeepEqual(p, c.personal) {
			t.Errorf("case %d, personal: %+v, %v", i, p, err)
		}
	}
}

// Events stored before the binary form are JSON, and still read.
func TestEventPartsStoredAsJSONAreRead(t *testing.T) {
	for i, c := range codecCases {
		kj, _ := json.Marshal(c.kept)
		pj, _ := json.Marshal(c.personal)
		k, err := decodeKept(kj)
		if err != nil || !reflect.DeepEqual(k, c.kept) {
			t.Errorf("case %d, kept from %s: %+v, %v", i, kj, k, err)
		}
		p, err := decodePersonal(pj)
		if err != nil || !reflect.DeepEqual(p, c.personal) {
			t.Errorf("case %d, personal from %s: %+v, %v", i, pj, p, err)
		}
	}
}

func TestMalformedEventPartsAreErrors(t *testing.T) {
	c := codecCases[1]
	kept, personal := encodeKept(c.kept), encodePersonal(&c.personal)
	for n := range len(kept) {
		if _, err := decodeKept(kept[:n]); err == nil {
			t.Fatalf("kept cut to %d of %d bytes was accepted", n, len(kept))
		}
	}
	for n := range len(personal) {
		if _, err := decodePersonal(personal[:n]); err == nil {
			t.Fatalf("personal cut to %d of %d bytes was accepted", n, len(personal))
		}
	}
	if _, err := decodeKept(append(kept, 0)); err == nil {
		t.Fatal("a trailing byte was accepted")
	}
	if _, err := decodePersonal([]byte{0x02}); err == nil {
		t.Fatal("an unknown format was accepted")
	}
}

func FuzzEventParts(f *testing.F) {
	for _, c := range codecCases {
		f.Add(encodeKept(c.kept))
		f.Add(encodePersonal(&c.personal))
	}
	f.Add([]byte{eventFormatV1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		k, kerr := decodeKept(b)
		p, perr := decodePersonal(b)
		if len(b) == 0 || b[0] != eventFormatV1 {
			return // JSON, or an error: what matters is that nothing panicked
		}
		if err := kerr; err == nil {
			if again, err := decodeKept(encodeKept(k)); err != nil || !reflect.DeepEqual(again, k) {
				t.Fatalf("kept %+v did not survive a round trip: %+v, %v", k, again, err)
			}
		}
		if err := perr; err == nil {
			if again, err := decodePersonal(encodePersonal(&p)); err != nil || !reflect.DeepEqual(again, p) {
				t.Fatalf("personal %+v did not survive a round trip: %+v, %v", p, again, err)
			}
		}
	})
}
