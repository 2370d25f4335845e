package transfer

import (
	"testing"

	"customerd"
)

// jsonSeeds are lines of each kind: what an export writes, and what the
// fast path leaves to the decoder.
var jsonSeeds = []string{
	`{"id":"cst_om2l6ctlptxwxuzj","object":"customer","object_reference_id":"customer@gmail.com","mobile_number":"99887766","date_created":"2016-08-02T08:07:52+0000","last_updated":"2016-08-02T08:07:52+0000","email_address":"customer@gmail.com","first_name":"Jon","last_name":null,"mobile_country_code":"65"}`,
	` { "object_reference_id" : "r" , "mobile_number" : 99887766 , "first_name" : "José" } `,
	`{"object_reference_id":"r","mobile_number":"1","id":"","date_created":null,"extra":true,"more":false,"n":-1.5e+3}`,
	`{}`,
	`{"a":"\u00e9"}`,
	`{"object_reference_id":"a\"b","mobile_number":"1"}`,
	`{"object_reference_id":"r","object_reference_id":"s"}`,
	`{"juspay":{"token":"x"},"object_reference_id":"r","mobile_number":"1"}`,
	`{"object":"card","object_reference_id":"r"}`,
	`{"mobile_number":01}`,
	`{"mobile_number":1.}`,
	`{"mobile_number":1e}`,
	`{"a":1}{"b":2}`,
	`{"a":1,}`,
	`{"a" 1}`,
	`{"a":tru}`,
	"{\"a\":\"\xff\"}",
	"{\"a\":\"\t\"}",
	`[1]`,
	``,
}

// FuzzParseFlatAgreesWithTheDecoder: whatever line the fast path reads, it
// reads as encoding/json's decoder does.
func FuzzParseFlatAgreesWithTheDecoder(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		fast, ok := parseFlat(line)
		if !ok {
			return
		}
		slow, lerr := parseDecoded(line)
		if lerr != nil {
			t.Fatalf("%q: the fast path read it, the decoder says %v", line, lerr)
		}
		if fast != slow {
			t.Fatalf("%q:\nfast %+v\nslow %+v", line, fast, slow)
		}
	})
}

// The lines an export writes, and plain ones like them, take the fast
// path; escapes, nested values, repeated keys and bad JSON do not.
func TestParseFlatTakesPlainLinesOnly(t *testing.T) {
	for i, s := range jsonSeeds {
		_, ok := parseFlat([]byte(s))
		if want := i < 4; ok != want {
			t.Errorf("%q: fast path %v, want %v", s, ok, want)
		}
	}
	req, _ := parseFlat([]byte(jsonSeeds[2]))
	var want customerd.ImportRequest
	want.ObjectReferenceID, want.MobileNumber = customerd.Present("r"), customerd.Present("1")
	if req != want {
		t.Errorf("empty id and null date_created: %+v, want them absent", req)
	}
	req, _ = parseFlat([]byte(jsonSeeds[1]))
	if req.MobileNumber != customerd.Present("99887766") || req.FirstName != customerd.Present("José") {
		t.Errorf("a number and UTF-8: %+v", req)
	}
}

// BenchmarkParseJSONLine reads a line as an export writes it, on the fast
// path and with the decoder.
func BenchmarkParseJSONLine(b *testing.B) {
	line := []byte(jsonSeeds[0])
	b.Run("fast path", func(b *testing.B) {
		for b.Loop() {
			if _, lerr := ParseJSONLine(line); lerr != nil {
				b.Fatal(lerr)
			}
		}
	})
	b.Run("decoder", func(b *testing.B) {
		for b.Loop() {
			if _, lerr := parseDecoded(line); lerr != nil {
				b.Fatal(lerr)
			}
		}
	})
}
