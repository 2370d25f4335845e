package httpapi_test

import (
	"strings"
	"testing"
)

// TestRepeatedFieldNamesAreEchoedOnlyWhenPlain: a field given twice is a
// 400 naming it, but a name that is not a plain field name (markup, quotes,
// spaces, control characters, a huge one) is not sent back.
func TestRepeatedFieldNamesAreEchoedOnlyWhenPlain(t *testing.T) {
	a := newTestAPI(t)
	jsonCT := header("Content-Type", "application/json")
	long := strings.Repeat("n", 65)
	for _, tc := range []struct {
		name, body string
		json       bool
		message    string
	}{
		{"known field, form", "mobile_number=1&mobile_number=2", false, "Wrong value in mobile_number"},
		{"plain unknown field, form", "object_reference_id=a&mobile_number=1&routing_id=x&routing_id=y", false, "Wrong value in routing_id"},
		{"PHP's nested option, form", "options[get_client_auth_token]=1&options[get_client_auth_token]=1", false, "Wrong value in options[get_client_auth_token]"},
		{"plain unknown field, JSON", `{"routing_id":"x","routing_id":"y"}`, true, "Wrong value in routing_id"},
		{"markup, form", "%3Cb%3Ex%3C%2Fb%3E=1&%3Cb%3Ex%3C%2Fb%3E=2", false, "Invalid request body"},
		{"markup, JSON", `{"<b>x</b>":1,"<b>x</b>":2}`, true, "Invalid request body"},
		{"a quote and a space, JSON", `{"a\" b":1,"a\" b":2}`, true, "Invalid request body"},
		{"a control character, form", "a%0Ab=1&a%0Ab=2", false, "Invalid request body"},
		{"65 characters, form", long + "=1&" + long + "=2", false, "Invalid request body"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := []reqOpt{breaksContract()}
			if tc.json {
				opts = append(opts, jsonCT)
			}
			r := a.do("POST", "/customers", tc.body, opts...)
			wantStatus(t, r, 400)
			if r.str("error_message") != tc.message || r.str("status") != "Invalid Request" {
				t.Fatalf("body %s, want error_message %q", r.body, tc.message)
			}
			for _, leak := range []string{"<b>", `\u003cb`, `a\" b`, long} {
				if strings.Contains(string(r.body), leak) {
					t.Fatalf("the body echoes the name %q: %s", leak, r.body)
				}
			}
		})
	}
}
