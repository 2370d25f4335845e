package httpapi_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	bodyNotFound = `{"status":"invalid_request_error","error_code":"object_not_found",
	 "error_message":"Cannot find what you are looking for",
	 "error_info":{"user_message":"Cannot process your request as customer account not found.",
	  "developer_message":"Customer account not found.","code":"RESOURCE_NOT_FOUND","category":"USER_ERROR"}}`
	bodyUnique = `{"status":"invalid_request_error","error_code":"unique",
	 "error_message":"Customer with given object reference id already exist for your account.",
	 "error_info":{"user_message":"Already exists.",
	  "developer_message":"Customer account with given object reference already exists.",
	  "code":"ALREADY_EXISTS","category":"USER_ERROR"}}`
	bodyUnauthorized = `{"status":"error","error_code":"access_denied",
	 "error_info":{"user_message":"Unauthorized.",
	  "developer_message":"Invalid API Key. Please pass a valid and active api key.",
	  "code":"UNAUTHORIZED","category":"USER_ERROR"}}`
	bodyRouteNotFound = `{"status":"invalid_request_error","error_code":"not_found","error_message":"Resource not found",
	 "error_info":{"user_message":"Resource not found.","developer_message":"No route matches this path.",
	  "code":"RESOURCE_NOT_FOUND","category":"USER_ERROR"}}`
	bodyMethodNotAllowed = `{"status":"invalid_request_error","error_code":"method_not_allowed","error_message":"Method not allowed",
	 "error_info":{"user_message":"Method not allowed.","developer_message":"This route does not support this method; see the Allow header.",
	  "code":"INVALID_ACTION","category":"USER_ERROR"}}`
)

var (
	idPattern   = regexp.MustCompile(`^cst_[a-z0-9]{16}$`)
	timePattern = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000$`)
)

func TestCreateReturnsTheWholeCustomer(t *testing.T) {
	a := newTestAPI(t)
	r := a.create("object_reference_id=customer%40gmail.com&mobile_number=99887766&email_address=customer@gmail.com" +
		"&first_name=Jon&last_name=Snow&mobile_country_code=65")
	if !idPattern.MatchString(r.str("id")) {
		t.Fatalf("id %q", r.str("id"))
	}
	wantBody(t, r, fmt.Sprintf(`{"id":%q,"object":"customer","object_reference_id":"customer@gmail.com",
		"mobile_number":"99887766","date_created":"2026-03-04T05:06:07+0000","last_updated":"2026-03-04T05:06:07+0000",
		"email_address":"customer@gmail.com","first_name":"Jon","last_name":"Snow","mobile_country_code":"65"}`, r.str("id")))
	if r.header.Get("X-Jp-Merchant-Id") != "m1" {
		t.Fatalf("x-jp-merchant-id %q", r.header.Get("X-Jp-Merchant-Id"))
	}
}

func TestCreateDefaultsAndNulls(t *testing.T) {
	a := newTestAPI(t)
	r := a.create("object_reference_id=ref1&mobile_number=1")
	for _, k := range []string{"email_address", "first_name", "last_name"} {
		if r.str(k) != "<nil>" {
			t.Errorf("%s = %s, want null", k, r.str(k))
		}
	}
	if r.str("mobile_country_code") != "91" {
		t.Errorf("default mobile_country_code %q", r.str("mobile_country_code"))
	}
	if r.str("juspay") != "<absent>" {
		t.Errorf("juspay present without the option")
	}
	if !timePattern.MatchString(r.str("date_created")) {
		t.Errorf("date_created %q", r.str("date_created"))
	}
	r = a.create("object_reference_id=ref2&mobile_number=1&mobile_country_code=%2B65")
	if r.str("mobile_country_code") != "65" {
		t.Errorf("+65 stored as %q", r.str("mobile_country_code"))
	}
}

func TestCreateFormSpacesAndUnknownFields(t *testing.T) {
	a := newTestAPI(t)
	r := a.create("object_reference_id=order+42%20x&mobile_number=1&routing_id=abc&customer_id=zzz&get_client_auth_token=true")
	if r.str("object_reference_id") != "order 42 x" {
		t.Fatalf("reference %q", r.str("object_reference_id"))
	}
	if r.str("juspay") != "<absent>" {
		t.Fatal("a bare get_client_auth_token field is an unknown field, not the option")
	}
}

func TestCreateJSONBody(t *testing.T) {
	a := newTestAPI(t)
	r := a.do("POST", "/customers", `{"object_reference_id":"j1","mobile_number":99887766,"mobile_country_code":65,
		"first_name":"Jon","email_address":null,"extra":{"nested":[1,2]},"options":{"get_client_auth_token":true}}`,
		header("Content-Type", "application/json; charset=utf-8"))
	wantStatus(t, r, 200)
	if r.str("mobile_number") != "99887766" || r.str("mobile_country_code") != "65" || r.str("email_address") != "<nil>" {
		t.Fatalf("body %s", r.body)
	}
	juspay, _ := r.json["juspay"].(map[string]any)
	if tok, _ := juspay["client_auth_token"].(string); !regexp.MustCompile(`^tkn_[0-9a-f]{32}$`).MatchString(tok) {
		t.Fatalf("token %v", juspay)
	}
	if exp, _ := juspay["client_auth_token_expiry"].(string); exp != "2026-03-04T05:21:07+0000" {
		t.Fatalf("expiry %q, want 15 minutes after now", exp)
	}
	r = a.do("POST", "/customers", `{"object_reference_id":"j2","mobile_number":"1","options.get_client_auth_token":"True"}`,
		header("Content-Type", "application/json"))
	wantStatus(t, r, 200)
	if r.str("juspay") == "<absent>" {
		t.Fatal("flat options.get_client_auth_token ignored")
	}
}

func TestTokenOptionBooleans(t *testing.T) {
	a := newTestAPI(t)
	for i, tc := range []struct {
		value string
		want  bool
	}{{"true", true}, {"True", true}, {"TRUE", true}, {"1", true}, {"false", false}, {"False", false}, {"0", false}, {"", false}} {
		r := a.create(fmt.Sprintf("object_reference_id=b%d&mobile_number=1&options.get_client_auth_token=%s", i, tc.value))
		if got := r.str("juspay") != "<absent>"; got != tc.want {
			t.Errorf("option %q: juspay present = %v, want %v", tc.value, got, tc.want)
		}
	}
	r := a.do("POST", "/customers", "object_reference_id=bx&mobile_number=1&options.get_client_auth_token=yes", breaksContract())
	wantStatus(t, r, 400)
	if r.str("error_message") != "Wrong value in options.get_client_auth_token" {
		t.Fatalf("body %s", r.body)
	}
	if got := a.do("GET", "/customers/bx", ""); got.status != 404 {
		t.Fatalf("rejected create stored a customer: %s", got.body)
	}
}

func TestMissingMandatoryFields(t *testing.T) {
	a := newTestAPI(t)
	r := a.do("POST", "/customers", "mobile_number=1", breaksContract())
	wantStatus(t, r, 400)
	wantBody(t, r, `{"status":"Invalid Request","error_code":"Invalid Request",
		"error_message":"Mandatory fields are missing: object_reference_id",
		"error_info":{"user_message":"Invalid request params. Please verify your input.",
		 "developer_message":"object_reference_id is required","code":"MISSING_MANDATORY_PARAMETER","category":"USER_ERROR",
		 "fields":[{"field_name":"object_reference_id","reason":"Field required but not passed."}]}}`)
	r = a.do("POST", "/customers", "first_name=Jon", breaksContract())
	wantStatus(t, r, 400)
	if r.str("error_message") != "Mandatory fields are missing: object_reference_id, mobile_number" {
		t.Fatalf("message %q", r.str("error_message"))
	}
}

func TestInvalidEmailHasTheContractBody(t *testing.T) {
	a := newTestAPI(t)
	r := a.do("POST", "/customers", "object_reference_id=r&mobile_number=1&email_address=_jon%40example.com", breaksContract())
	wantStatus(t, r, 400)
	wantBody(t, r, `{"status":"Invalid Request","error_code":"Invalid Request",
		"error_message":"Wrong value in email_address",
		"error_info":{"user_message":"Invalid request params. Please verify your input.",
		 "developer_message":"email_address: '_jon@example.com' may not start with '_'",
		 "code":"INVALID_INPUT","category":"USER_ERROR",
		 "fields":[{"field_name":"email_address","reason":"Invalid value."}]}}`)
}

func TestSeveralBadFieldsAreAllReported(t *testing.T) {
	a := newTestAPI(t)
	r := a.do("POST", "/customers", "object_reference_id=&mobile_number=12a&first_name=Jon+Snow&mobile_country_code=12345", breaksContract())
	wantStatus(t, r, 400)
	if r.str("error_message") != "Wrong value in object_reference_id" {
		t.Fatalf("message %q", r.str("error_message"))
	}
	info := r.json["error_info"].(map[string]any)
	if info["code"] != "INVALID_INPUT" {
		t.Fatalf("code %v", info["code"])
	}
	var names []string
	for _, f := range info["fields"].([]any) {
		names = append(names, f.(map[string]any)["field_name"].(string))
	}
	if got := strings.Join(names, ","); got != "object_reference_id,mobile_number,mobile_country_code,first_name" {
		t.Fatalf("fields %s", got)
	}
}

func TestDuplicateReference(t *testing.T) {
	a := newTestAPI(t)
	first := a.create("object_reference_id=dup&mobile_number=1")
	r := a.do("POST", "/customers", "object_reference_id=dup&mobile_number=2")
	wantStatus(t, r, 400)
	wantBody(t, r, bodyUnique)
	other := a.do("POST", "/customers", "object_reference_id=dup&mobile_number=3", basicAuth(a.key2))
	wantStatus(t, other, 200)
	if got := a.do("GET", "/customers/dup", ""); got.str("id") != first.str("id") || got.str("mobile_number") != "1" {
		t.Fatalf("duplicate changed the first customer: %s", got.body)
	}
}

func TestRacingCreatesOneWins(t *testing.T) {
	a := newTestAPI(t)
	const n = 16
	statuses := make([]*response, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = a.do("POST", "/customers", fmt.Sprintf("object_reference_id=race&mobile_number=%d", i+1))
		}()
	}
	wg.Wait()
	ok, unique := 0, 0
	for _, r := range statuses {
		switch {
		case r.status == 200:
			ok++
		case r.status == 400 && r.str("error_code") == "unique":
			unique++
		default:
			t.Errorf("unexpected %d %s", r.status, r.body)
		}
	}
	if ok != 1 || unique != n-1 {
		t.Fatalf("%d created, %d unique errors", ok, unique)
	}
}

func TestGetByIDAndReference(t *testing.T) {
	a := newTestAPI(t)
	c := a.create("object_reference_id=customer%40gmail.com&mobile_number=99887766")
	id := c.str("id")
	for _, path := range []string{"/customers/" + id, "/customers/customer@gmail.com", "/customers/customer%40gmail.com"} {
		r := a.do("GET", path, "")
		wantStatus(t, r, 200)
		if string(r.body) != string(c.body) {
			t.Fatalf("GET %s\n got %s\nwant %s", path, r.body, c.body)
		}
	}
	// GET with a form Content-Type and no body, as some SDKs send it.
	r := a.do("GET", "/customers/"+id, "", header("Content-Type", "application/x-www-form-urlencoded"))
	wantStatus(t, r, 200)
}

func TestPathSegmentDecoding(t *testing.T) {
	a := newTestAPI(t)
	a.create("object_reference_id=a%2Bb&mobile_number=1")     // "a+b"
	a.create("object_reference_id=a+b&mobile_number=2")       // "a b"
	a.create("object_reference_id=x%2Fy&mobile_number=3")     // "x/y"
	a.create("object_reference_id=%C3%BCber&mobile_number=4") // "über"
	for path, mobile := range map[string]string{
		"/customers/a+b":       "1", // '+' in a path is a plus sign
		"/customers/a%2Bb":     "1",
		"/customers/a%20b":     "2",
		"/customers/x%2Fy":     "3", // %2F stays inside the segment
		"/customers/%C3%BCber": "4",
	} {
		r := a.do("GET", path, "")
		wantStatus(t, r, 200)
		if r.str("mobile_number") != mobile {
			t.Errorf("GET %s found mobile %s, want %s", path, r.str("mobile_number"), mobile)
		}
	}
	wantBody(t, a.do("GET", "/customers/x/y", ""), bodyRouteNotFound)
}

func TestNotFound(t *testing.T) {
	a := newTestAPI(t)
	c := a.create("object_reference_id=mine&mobile_number=1")
	for _, tc := range []struct{ name, path string }{
		{"unknown id", "/customers/cst_aaaaaaaaaaaaaaaa"},
		{"unknown reference", "/customers/nobody"},
		{"reference with different case", "/customers/MINE"},
	} {
		r := a.do("GET", tc.path, "")
		wantStatus(t, r, 404)
		wantBody(t, r, bodyNotFound)
	}
	// Another merchant's customer is indistinguishable from a missing one.
	for _, path := range []string{"/customers/" + c.str("id"), "/customers/mine"} {
		r := a.do("GET", path, "", basicAuth(a.key2))
		wantStatus(t, r, 404)
		wantBody(t, r, bodyNotFound)
		r = a.do("POST", path, "first_name=Eve", basicAuth(a.key2))
		wantStatus(t, r, 404)
		wantBody(t, r, bodyNotFound)
	}
	if r := a.do("GET", "/customers/mine", ""); r.str("first_name") != "<nil>" {
		t.Fatalf("another merchant changed the customer: %s", r.body)
	}
}

func TestUnknownRoutesAndMethods(t *testing.T) {
	a := newTestAPI(t)
	for _, path := range []string{"/", "/v1/customers", "/customers/", "/customers/a/b", "/customer", "/customers/x/"} {
		r := a.do("GET", path, "")
		wantStatus(t, r, 404)
		wantBody(t, r, bodyRouteNotFound)
	}
	for _, tc := range []struct{ method, path, allow string }{
		{"PUT", "/customers", "GET, POST"},
		{"DELETE", "/customers", "GET, POST"},
		{"PUT", "/customers/x", "GET, POST, DELETE"},
		{"POST", "/customers/x/events", "GET"},
		{"DELETE", "/events", "GET"},
		{"POST", "/events/evt_0123456789abcdef", "GET"},
		{"POST", "/healthz", "GET"},
	} {
		r := a.do(tc.method, tc.path, "")
		wantStatus(t, r, 405)
		wantBody(t, r, bodyMethodNotAllowed)
		if r.header.Get("Allow") != tc.allow {
			t.Errorf("%s %s: Allow %q, want %q", tc.method, tc.path, r.header.Get("Allow"), tc.allow)
		}
	}
}

func TestAuthentication(t *testing.T) {
	a := newTestAPI(t)
	a.create("object_reference_id=r&mobile_number=1")
	revoked, err := a.svc.CreateAPIKey(context.Background(), "m1")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.svc.RevokeAPIKey(context.Background(), revoked); err != nil {
		t.Fatal(err)
	}
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, tc := range []struct {
		name string
		opts []reqOpt
	}{
		{"no Authorization header", []reqOpt{noAuth()}},
		{"not Basic", []reqOpt{header("Authorization", "Bearer "+a.key1)}},
		{"not base64", []reqOpt{header("Authorization", "Basic ***")}},
		{"empty username", []reqOpt{header("Authorization", "Basic "+b64(":"+a.key1))}},
		{"unknown key", []reqOpt{basicAuth("cdk_0000000000000000000000000000000000000000")}},
		{"key of another format", []reqOpt{basicAuth("ABCDEF0123456789ABCDEF0123456789")}},
		{"truncated key", []reqOpt{basicAuth(a.key1[:len(a.key1)-1])}},
		{"revoked key", []reqOpt{basicAuth(revoked)}},
		{"x-merchantid names another merchant", []reqOpt{header("x-merchantid", "m2")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := a.do("GET", "/customers/r", "", append(tc.opts, breaksContract())...)
			wantStatus(t, r, 401)
			wantBody(t, r, bodyUnauthorized)
			if r.header.Get("WWW-Authenticate") != `Basic realm="customerd"` {
				t.Fatalf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
			}
			if r.header.Get("X-Jp-Merchant-Id") != "" {
				t.Fatal("x-jp-merchant-id on a 401")
			}
		})
	}
	for _, tc := range []struct {
		name string
		opts []reqOpt
	}{
		{"key with colon and empty password", nil},
		{"key without colon (Node SDK)", []reqOpt{header("Authorization", "Basic "+b64(a.key1))}},
		{"key with a password, ignored", []reqOpt{header("Authorization", "Basic "+b64(a.key1+":secret"))}},
		{"lower-case scheme", []reqOpt{header("Authorization", "basic "+b64(a.key1+":"))}},
		{"x-merchantid matches", []reqOpt{header("x-merchantid", "m1")}},
		{"tolerated SDK headers", []reqOpt{header("version", "2023-06-30"), header("x-routing-id", "r"), header("x-customerid", "c"), header("X-User-Agent", "sdk")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := a.do("GET", "/customers/r", "", tc.opts...)
			wantStatus(t, r, 200)
		})
	}
}

func TestMediaTypeAndSize(t *testing.T) {
	a := newTestAPI(t)
	r := a.do("POST", "/customers", "object_reference_id=r&mobile_number=1", header("Content-Type", "text/plain"), breaksContract())
	wantStatus(t, r, 415)
	if r.str("status") != "Invalid Request" || r.str("error_code") != "Invalid Request" ||
		r.json["error_info"].(map[string]any)["code"] != "INVALID_INPUT" {
		t.Fatalf("415 body %s", r.body)
	}
	big := "object_reference_id=r&mobile_number=1&pad=" + strings.Repeat("x", 64<<10)
	r = a.do("POST", "/customers", big)
	wantStatus(t, r, 413)
	if r.str("error_code") != "Invalid Request" {
		t.Fatalf("413 body %s", r.body)
	}
	// A body with no Content-Type is read as a form.
	req, _ := http.NewRequest("POST", a.srv.URL+"/customers", strings.NewReader("object_reference_id=plain&mobile_number=1"))
	basicAuth(a.key1)(req)
	wantStatus(t, a.send(req), 200)
	// Nothing from the rejected requests was stored.
	wantStatus(t, a.do("GET", "/customers/r", ""), 404)
}

func TestChunkedBody(t *testing.T) {
	a := newTestAPI(t)
	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte("object_reference_id=chunk%20ed&"))
		pw.Write([]byte("mobile_number=1"))
		pw.Close()
	}()
	req, _ := http.NewRequest("POST", a.srv.URL+"/customers", pr)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	basicAuth(a.key1)(req)
	r := a.send(req)
	wantStatus(t, r, 200)
	if r.str("object_reference_id") != "chunk ed" {
		t.Fatalf("reference %q", r.str("object_reference_id"))
	}
}

func TestMalformedBodies(t *testing.T) {
	a := newTestAPI(t)
	jsonCT := header("Content-Type", "application/json")
	for _, tc := range []struct {
		name, body string
		opts       []reqOpt
		message    string
	}{
		{"json: not an object", `["a"]`, []reqOpt{jsonCT}, "Invalid request body"},
		{"json: truncated", `{"object_reference_id":"a"`, []reqOpt{jsonCT}, "Invalid request body"},
		{"json: trailing data", `{"object_reference_id":"a","mobile_number":"1"} {}`, []reqOpt{jsonCT}, "Invalid request body"},
		{"json: empty body", ``, []reqOpt{jsonCT}, "Invalid request body"},
		{"json: repeated key", `{"object_reference_id":"a","mobile_number":"1","mobile_number":"2"}`, []reqOpt{jsonCT}, "Wrong value in mobile_number"},
		{"json: object as a field value", `{"object_reference_id":{"a":1},"mobile_number":"1"}`, []reqOpt{jsonCT}, "Wrong value in object_reference_id"},
		{"json: flat and nested option together", `{"object_reference_id":"a","mobile_number":"1","options.get_client_auth_token":true,"options":{"get_client_auth_token":true}}`, []reqOpt{jsonCT}, "Wrong value in options.get_client_auth_token"},
		{"json: fractional digits", `{"object_reference_id":"a","mobile_number":1.5}`, []reqOpt{jsonCT}, "Wrong value in mobile_number"},
		{"form: repeated field", "object_reference_id=a&mobile_number=1&mobile_number=2", nil, "Wrong value in mobile_number"},
		{"form: bad percent-escape", "object_reference_id=%zz&mobile_number=1", nil, "Invalid request body"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := a.do("POST", "/customers", tc.body, append(tc.opts, breaksContract())...)
			if tc.body == "" {
				req, _ := http.NewRequest("POST", a.srv.URL+"/customers", nil)
				req.Header.Set("Content-Type", "application/json")
				basicAuth(a.key1)(req)
				breaksContract()(req)
				r = a.send(req)
			}
			wantStatus(t, r, 400)
			if r.str("status") != "Invalid Request" || r.str("error_message") != tc.message {
				t.Fatalf("body %s", r.body)
			}
		})
	}
	wantStatus(t, a.do("GET", "/customers/a", ""), 404)
}

func TestOrderOfChecks(t *testing.T) {
	a := newTestAPI(t)
	// 401 before 415.
	r := a.do("POST", "/customers", "x", header("Content-Type", "text/plain"), basicAuth("bad"), breaksContract())
	wantStatus(t, r, 401)
	// 415 before 400.
	r = a.do("POST", "/customers", "{", header("Content-Type", "text/plain"), breaksContract())
	wantStatus(t, r, 415)
	// 400 before 404.
	r = a.do("POST", "/customers/nobody", "email_address=bad", breaksContract())
	wantStatus(t, r, 400)
	// 404 for a valid update of nobody.
	r = a.do("POST", "/customers/nobody", "first_name=Jon")
	wantStatus(t, r, 404)
	wantBody(t, r, bodyNotFound)
}

func TestUpdateIsPartial(t *testing.T) {
	a := newTestAPI(t)
	c := a.create("object_reference_id=jon%40example.com&mobile_number=99887766&email_address=jon@example.com&first_name=Jon&last_name=Snow")
	a.advance(90 * time.Second)
	r := a.do("POST", "/customers/"+c.str("id"), "mobile_number=12345&last_name=&object_reference_id=changed&id=cst_xxxxxxxxxxxxxxxx&options.get_client_auth_token=true")
	wantStatus(t, r, 200)
	wantBody(t, r, fmt.Sprintf(`{"id":%q,"object":"customer","object_reference_id":"jon@example.com",
		"mobile_number":"12345","date_created":"2026-03-04T05:06:07+0000","last_updated":"2026-03-04T05:07:37+0000",
		"email_address":"jon@example.com","first_name":"Jon","last_name":null,"mobile_country_code":"91"}`, c.str("id")))
	// By reference, JSON, with null clearing a field.
	a.advance(time.Second)
	r = a.do("POST", "/customers/jon@example.com", `{"email_address":null,"mobile_country_code":"+44"}`, header("Content-Type", "application/json"))
	wantStatus(t, r, 200)
	if r.str("email_address") != "<nil>" || r.str("mobile_country_code") != "44" || r.str("first_name") != "Jon" ||
		r.str("last_updated") != "2026-03-04T05:07:38+0000" {
		t.Fatalf("body %s", r.body)
	}
	if got := a.do("GET", "/customers/jon@example.com", ""); string(got.body) != string(r.body) {
		t.Fatalf("stored %s, returned %s", got.body, r.body)
	}
}

func TestUpdateWithNoUpdatableFieldChangesNothing(t *testing.T) {
	a := newTestAPI(t)
	c := a.create("object_reference_id=r&mobile_number=1")
	a.advance(time.Hour)
	for _, body := range []string{"", "routing_id=x", "object_reference_id=other"} {
		r := a.do("POST", "/customers/r", body)
		wantStatus(t, r, 200)
		if string(r.body) != string(c.body) {
			t.Fatalf("body %q: got %s, want unchanged %s", body, r.body, c.body)
		}
	}
}

func TestUpdateRejectedForOneBadFieldAppliesNothing(t *testing.T) {
	a := newTestAPI(t)
	c := a.create("object_reference_id=r&mobile_number=1&first_name=Jon")
	a.advance(time.Minute)
	for _, body := range []string{
		"first_name=Arya&last_name=Stark&email_address=bad",
		"first_name=Arya&mobile_number=",
		"first_name=Arya&mobile_country_code=",
		"first_name=Arya&mobile_country_code=12345",
		"first_name=Arya&first_name=Sansa",
	} {
		r := a.do("POST", "/customers/r", body, breaksContract())
		wantStatus(t, r, 400)
		if got := a.do("GET", "/customers/r", ""); string(got.body) != string(c.body) {
			t.Fatalf("after rejected %q: %s", body, got.body)
		}
	}
}

func TestConcurrentUpdatesOfDifferentFields(t *testing.T) {
	a := newTestAPI(t)
	a.create("object_reference_id=r&mobile_number=1")
	fields := []string{"first_name=F%d", "last_name=L%d", "mobile_number=9%d", "email_address=e%d@example.com", "mobile_country_code=%d"}
	const rounds = 15
	var wg sync.WaitGroup
	for _, f := range fields {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1; i <= rounds; i++ {
				if r := a.do("POST", "/customers/r", fmt.Sprintf(f, i)); r.status != 200 {
					t.Errorf("update %s: %d %s", f, r.status, r.body)
				}
			}
		}()
	}
	wg.Wait()
	r := a.do("GET", "/customers/r", "")
	for k, want := range map[string]string{"first_name": "F15", "last_name": "L15", "mobile_number": "915",
		"email_address": "e15@example.com", "mobile_country_code": "15"} {
		if r.str(k) != want {
			t.Errorf("%s = %q, want %q (an update was undone)", k, r.str(k), want)
		}
	}
}

func TestGetWithTokenOption(t *testing.T) {
	a := newTestAPI(t)
	c := a.create("object_reference_id=r&mobile_number=1")
	r := a.do("GET", "/customers/r?options.get_client_auth_token=true", "")
	wantStatus(t, r, 200)
	j, ok := r.json["juspay"].(map[string]any)
	if !ok || !strings.HasPrefix(j["client_auth_token"].(string), "tkn_") {
		t.Fatalf("body %s", r.body)
	}
	r2 := a.do("GET", "/customers/r?options.get_client_auth_token=true", "")
	if r2.json["juspay"].(map[string]any)["client_auth_token"] == j["client_auth_token"] {
		t.Fatal("two gets returned the same token")
	}
	if r := a.do("GET", "/customers/r?options.get_client_auth_token=false", ""); string(r.body) != string(c.body) {
		t.Fatalf("false option: %s", r.body)
	}
	wantStatus(t, a.do("GET", "/customers/r?options.get_client_auth_token=maybe", "", breaksContract()), 400)
}

func TestRequestAndResponseIDs(t *testing.T) {
	a := newTestAPI(t)
	r := a.do("GET", "/customers/nobody", "", header("X-Request-Id", "req-123_abc.def"))
	if r.header.Get("X-Request-Id") != "req-123_abc.def" {
		t.Fatalf("x-request-id %q, want the echo", r.header.Get("X-Request-Id"))
	}
	r2 := a.do("GET", "/customers/nobody", "", header("X-Request-Id", "bad id with spaces"))
	if got := r2.header.Get("X-Request-Id"); got == "bad id with spaces" || len(got) != 32 {
		t.Fatalf("insane x-request-id echoed or not replaced: %q", got)
	}
	if r.header.Get("X-Response-Id") == r2.header.Get("X-Response-Id") {
		t.Fatal("x-response-id repeated")
	}
	if r.header.Get("X-Jp-Merchant-Id") != "m1" {
		t.Fatal("x-jp-merchant-id missing on an authenticated 404")
	}
}

func TestHealthz(t *testing.T) {
	a := newTestAPI(t)
	r := a.do("GET", "/healthz", "", noAuth())
	wantStatus(t, r, 200)
	wantBody(t, r, `{"status":"ok"}`)
}
