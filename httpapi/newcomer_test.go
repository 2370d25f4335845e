package httpapi_test

import (
	"net/http"
	"testing"
)

// JSON sent without Content-Type: application/json (curl -d '{…}' labels it a
// form) keeps the contract's error, and its developer message says what to do.
func TestJSONSentAsAFormGetsAHintInTheDeveloperMessage(t *testing.T) {
	const hint = "; the body looks like JSON; send Content-Type: application/json"
	const json = `{"object_reference_id":"jon@example.com","mobile_number":"99887766"}`
	noContentType := func(r *http.Request) { r.Header.Del("Content-Type") }
	for _, tc := range []struct {
		name, body string
		opts       []reqOpt
		wantDev    string
	}{
		{name: "JSON labelled as a form, as curl -d sends it", body: json,
			wantDev: "object_reference_id is required; mobile_number is required" + hint},
		{name: "JSON without a Content-Type", body: json, opts: []reqOpt{noContentType},
			wantDev: "object_reference_id is required; mobile_number is required" + hint},
		{name: "a form without the mandatory fields: no hint", body: "first_name=Jon",
			wantDev: "object_reference_id is required; mobile_number is required"},
		{name: "JSON with its Content-Type: no hint", body: `{"object_reference_id":"jon@example.com"}`,
			opts: []reqOpt{header("Content-Type", "application/json")}, wantDev: "mobile_number is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestAPI(t)
			r := a.do("POST", "/customers", tc.body, append(tc.opts, breaksContract())...)
			wantStatus(t, r, 400)
			info, _ := r.json["error_info"].(map[string]any)
			if info["developer_message"] != tc.wantDev {
				t.Errorf("developer_message %q, want %q", info["developer_message"], tc.wantDev)
			}
			if info["code"] != "MISSING_MANDATORY_PARAMETER" || r.str("error_code") != "Invalid Request" {
				t.Errorf("not the contract's missing-field error: %s", r.body)
			}
		})
	}
}
