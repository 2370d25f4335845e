package httpapi_test

import "testing"

// TestJSONStringsAreTakenAsSent: encoding/json turns invalid UTF-8 and
// lone surrogates into U+FFFD, so that distinct byte strings would collide
// into one reference. They are refused, naming the field, as the same bytes
// in a form are; what is valid is stored as sent, U+FFFD itself included.
func TestJSONStringsAreTakenAsSent(t *testing.T) {
	a := newTestAPI(t)
	jsonCT := header("Content-Type", "application/json")
	for _, tc := range []struct {
		name, body, field string
	}{
		{"invalid UTF-8 in the reference", "{\"object_reference_id\":\"\xff\xfe\",\"mobile_number\":\"1\"}", "object_reference_id"},
		{"a lone low surrogate", `{"object_reference_id":"\udfff","mobile_number":"1"}`, "object_reference_id"},
		{"a lone high surrogate", `{"object_reference_id":"a\ud800b","mobile_number":"1"}`, "object_reference_id"},
		{"a pair in the wrong order", `{"object_reference_id":"\udc00\ud800","mobile_number":"1"}`, "object_reference_id"},
		{"a lone surrogate in a name", `{"object_reference_id":"u1","mobile_number":"1","first_name":"\udfff"}`, "first_name"},
		{"invalid UTF-8 in the token option", "{\"object_reference_id\":\"u2\",\"mobile_number\":\"1\",\"options\":{\"get_client_auth_token\":\"tru\xff\"}}", "options.get_client_auth_token"},
		{"the form, for comparison", "", "object_reference_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r *response
			if tc.body == "" {
				r = a.do("POST", "/customers", "object_reference_id=%ff%fe&mobile_number=1", breaksContract())
			} else {
				r = a.do("POST", "/customers", tc.body, jsonCT, breaksContract())
			}
			wantStatus(t, r, 400)
			if r.str("error_message") != "Wrong value in "+tc.field {
				t.Fatalf("body %s, want Wrong value in %s", r.body, tc.field)
			}
		})
	}
	wantStatus(t, a.do("GET", "/customers/%EF%BF%BD%EF%BF%BD", ""), 404) // nothing was stored

	for _, tc := range []struct{ name, body, ref string }{
		{"a surrogate pair", `{"object_reference_id":"\ud83d\ude00","mobile_number":"1"}`, "\U0001F600"},
		{"U+FFFD escaped", `{"object_reference_id":"\ufffd","mobile_number":"1"}`, "\uFFFD"},
		{"U+FFFD as its bytes, beside an escape", `{"object_reference_id":"x\u0041�","mobile_number":"1"}`, "xA\uFFFD"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := a.do("POST", "/customers", tc.body, jsonCT)
			wantStatus(t, r, 200)
			if got := r.str("object_reference_id"); got != tc.ref {
				t.Fatalf("stored %q, want %q", got, tc.ref)
			}
		})
	}
}
