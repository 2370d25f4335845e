package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"customerd"
)

// The fuzz targets check the parsers that see raw client input. The property
// is the contract's: no input panics, and every input either decodes or
// yields a contract error, a *customerd.Error of code EINVALID that the wire
// layer turns into a 400 with a JSON body.

// wantContractError fails unless err is an EINVALID *customerd.Error whose
// wire form is a 400 with a JSON body.
func wantContractError(t *testing.T, err error) {
	t.Helper()
	var de *customerd.Error
	if !errors.As(err, &de) || de.Code != customerd.EINVALID {
		t.Fatalf("not a contract error: %#v", err)
	}
	// error_message and field_name echo only names that pass the
	// field-name rule, never arbitrary input.
	for _, f := range de.Fields {
		if safeName(f.Field) != f.Field {
			t.Fatalf("error names the field %q, which is not a plain field name", f.Field)
		}
	}
	e := errorFor(err)
	if e.httpStatus != 400 {
		t.Fatalf("error %v answers %d, want 400", err, e.httpStatus)
	}
	if body := e.appendJSON(nil, "req"); !json.Valid(body) {
		t.Fatalf("error body is not JSON: %s", body)
	}
}

// checkParams runs decoded params through the rest of the pipeline that
// does not need a database: the boolean option, create and update rules.
func checkParams(t *testing.T, p params) {
	t.Helper()
	if _, err := parseBool(p, optionClientAuthToken); err != nil {
		wantContractError(t, err)
	}
	_, err := customerd.NewCustomer("m", customerd.CreateRequest{
		ObjectReferenceID: p.value(customerd.FieldObjectReferenceID),
		MobileNumber:      p.value(customerd.FieldMobileNumber),
		MobileCountryCode: p.value(customerd.FieldMobileCountryCode),
		EmailAddress:      p.value(customerd.FieldEmailAddress),
		FirstName:         p.value(customerd.FieldFirstName),
		LastName:          p.value(customerd.FieldLastName),
	}, time.Unix(0, 0))
	if err != nil {
		wantContractError(t, err)
	}
	_, err = customerd.NewPatch(customerd.UpdateRequest{
		MobileNumber:      p.value(customerd.FieldMobileNumber),
		MobileCountryCode: p.value(customerd.FieldMobileCountryCode),
		EmailAddress:      p.value(customerd.FieldEmailAddress),
		FirstName:         p.value(customerd.FieldFirstName),
		LastName:          p.value(customerd.FieldLastName),
	})
	if err != nil {
		wantContractError(t, err)
	}
}

func FuzzFormBody(f *testing.F) {
	for _, s := range []string{
		"",
		"object_reference_id=customer%40gmail.com&mobile_number=99887766&email_address=customer@gmail.com&first_name=Jon&last_name=Snow&mobile_country_code=65",
		"object_reference_id=a+b&mobile_number=1&options.get_client_auth_token=True",
		"object_reference_id=chunk%20ed&mobile_number=1&routing_id=x&customer_id=y",
		"mobile_number=1&mobile_number=2",
		"object_reference_id=%zz",
		"%zz=1",
		"&&&=&a&=b",
		"email_address=_jon@example.com&first_name=J%C3%B6n&last_name=undefined",
		"mobile_country_code=%2B65&options.get_client_auth_token=maybe",
		"object_reference_id=%00%1f%7f&mobile_number=%EF%BC%91",
		"%3Cb%3Ex%3C%2Fb%3E=1&%3Cb%3Ex%3C%2Fb%3E=2", "routing_id=1&routing_id=2",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		p, err := parseForm(body)
		if err != nil {
			wantContractError(t, err)
			return
		}
		// What decoded re-encodes to a body that decodes the same.
		var b strings.Builder
		for k, v := range p {
			b.WriteString(url.QueryEscape(k) + "=" + url.QueryEscape(v) + "&")
		}
		again, err := parseForm(b.String())
		if err != nil || !reflect.DeepEqual(again, p) {
			t.Fatalf("re-encoded %q decodes to %v, %v; first %v", b.String(), again, err, p)
		}
		checkParams(t, p)
	})
}

func FuzzJSONBody(f *testing.F) {
	for _, s := range []string{
		`{"object_reference_id":"customer@gmail.com","mobile_number":99887766,"email_address":"customer@gmail.com","first_name":"Jon","last_name":"Snow","mobile_country_code":"65"}`,
		`{"object_reference_id":"a","mobile_number":"1","options":{"get_client_auth_token":true}}`,
		`{"object_reference_id":"a","mobile_number":"1","options.get_client_auth_token":"true"}`,
		`{"object_reference_id":"a","mobile_number":1.5e3,"email_address":null,"extra":{"x":[1,2,{"y":null}]}}`,
		`{"mobile_number":"1","mobile_number":"2"}`,
		`{"object_reference_id":{"a":1}}`,
		`{"options":{"get_client_auth_token":true},"options.get_client_auth_token":false}`,
		`{"options":{"options":{"x":1}},"options":1}`,
		`["a"]`, `{`, `{"a":1} {}`, ``, `null`, `{"a":"\ud800"}`, `{"\u0000":"\u2028"}`,
		"{\"object_reference_id\":\"\xff\xfe\",\"mobile_number\":1}", `{"a":"\udfff","b":"\ud83d\ude00","c":"\ufffd"}`,
		"{\"\xff\":1,\"\xfe\":2}", `{"a":"\udc00\ud800","b":"\ud800\u0041"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := parseJSON(body)
		if err != nil {
			wantContractError(t, err)
			return
		}
		lower := bytes.ToLower(body)
		valid := params{}
		for k, v := range p {
			// Nothing is replaced: a U+FFFD is one the body sent, and
			// invalid UTF-8 comes from invalid UTF-8 or a lone surrogate.
			if strings.Contains(k+v, "\uFFFD") &&
				!bytes.Contains(body, []byte(string(utf8.RuneError))) && !bytes.Contains(lower, []byte(`\ufffd`)) {
				t.Fatalf("%q: %q=%q has a U+FFFD the body did not send", body, k, v)
			}
			if !utf8.ValidString(k) || !utf8.ValidString(v) {
				if utf8.Valid(body) && !bytes.Contains(lower, []byte(`\ud`)) {
					t.Fatalf("%q: %q=%q is invalid UTF-8, from a body of valid UTF-8 without surrogate escapes", body, k, v)
				}
				continue
			}
			valid[k] = v
		}
		// A flat object of the decoded strings that are valid UTF-8 (JSON
		// can carry no other) decodes the same.
		flat, err := json.Marshal(map[string]string(valid))
		if err != nil {
			t.Fatal(err)
		}
		again, err := parseJSON(flat)
		if err != nil || !reflect.DeepEqual(again, valid) {
			t.Fatalf("re-encoded %s decodes to %v, %v; first %v", flat, again, err, valid)
		}
		checkParams(t, p)
	})
}

func FuzzBasicAuth(f *testing.F) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, s := range []string{
		"Basic " + b64("cdk_0123456789abcdef0123456789abcdef01234567:"),
		"Basic " + b64("cdk_0123456789abcdef0123456789abcdef01234567"),
		"basic " + b64("key:password:with:colons"),
		"Basic " + strings.TrimRight(b64("ab"), "="),
		"Basic  " + b64("spaced:") + " ",
		"Bearer token", "Basic", "Basic ", "Basic ***", "Basic " + b64(":only-password"), "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		if user, ok := basicUsername(header); ok {
			if user == "" || strings.Contains(user, ":") {
				t.Fatalf("basicUsername(%q) = %q", header, user)
			}
		}
		// Any username without a colon survives both encodings the SDKs use.
		user := header
		if user == "" || strings.Contains(user, ":") {
			return
		}
		for _, h := range []string{"Basic " + b64(user+":"), "Basic " + b64(user), "Basic " + b64(user+":pw")} {
			if got, ok := basicUsername(h); !ok || got != user {
				t.Fatalf("basicUsername(%q) = %q, %v; want %q", h, got, ok, user)
			}
		}
	})
}

func FuzzCustomerPath(f *testing.F) {
	for _, s := range []string{
		"/customers", "/customers/", "/customers/cst_om2l6ctlptxwxuzj", "/customers/customer%40gmail.com",
		"/customers/customer@gmail.com", "/customers/a%2Fb", "/customers/a+b", "/customers/a/b", "/customers/%zz",
		"/customers/%00", "/healthz", "/customers//", "/customers/%E2%80%A8?options.get_client_auth_token=true",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return // net/http answers 400 before the handler runs
		}
		rt, id, ok := match(u)
		if !ok {
			return // the contract's 404 not_found
		}
		if rt != routeCustomer {
			if id != "" {
				t.Fatalf("%q: route %s with id %q", target, rt.pattern, id)
			}
			return
		}
		if id == "" {
			t.Fatalf("%q: empty customer id", target)
		}
		// The id, escaped the way a client escapes it, leads back to itself.
		u2, err := url.ParseRequestURI("/customers/" + url.PathEscape(id))
		if err != nil {
			t.Fatal(err)
		}
		if rt2, id2, ok := match(u2); !ok || rt2 != routeCustomer || id2 != id {
			t.Fatalf("id %q escaped as %q matches %q, %v", id, u2.EscapedPath(), id2, ok)
		}
	})
}

func FuzzJSONString(f *testing.F) {
	for _, s := range []string{
		"", "plain", `quote " and \ backslash`, "\x00\x1f\x7f", "\u2028\u2029", "héllo 日本", "\xff\xfe", "\xed\xa0\x80",
		"a\tb\nc\rd", "</script>&",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := string([]rune(s)) // each invalid byte becomes U+FFFD, as encoding/json does
		b := appendString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil || got != want {
			t.Fatalf("appendString(%q) = %s, decodes to %q, %v", s, b, got, err)
		}
		// The encoders built on it produce JSON that encoding/json reads back.
		c := &customerd.Customer{ID: s, ObjectReferenceID: s, MobileNumber: s, MobileCountryCode: s,
			EmailAddress: s, FirstName: s, LastName: s}
		var obj map[string]any
		if err := json.Unmarshal(appendCustomer(nil, c, &customerd.ClientAuthToken{Token: s}), &obj); err != nil {
			t.Fatalf("customer JSON with %q: %v", s, err)
		}
		if s != "" && obj["email_address"] != want {
			t.Fatalf("email_address %q, want %q", obj["email_address"], want)
		}
		e := invalidError(&customerd.Error{Code: customerd.EINVALID, Message: s,
			Fields: []customerd.FieldError{{Field: s, Detail: s}}})
		if err := json.Unmarshal(e.appendJSON(nil, s), &obj); err != nil {
			t.Fatalf("error JSON with %q: %v", s, err)
		}
		if info, _ := obj["error_info"].(map[string]any); info["developer_message"] != want {
			t.Fatalf("developer_message %q, want %q", info["developer_message"], want)
		}
	})
}

func FuzzForwardedFor(f *testing.F) {
	for _, s := range [][2]string{
		{"10.0.0.1:5000", "198.51.100.1"},
		{"10.0.0.1:5000", "1.1.1.1, 2.2.2.2 ,198.51.100.1, 10.0.0.2"},
		{"10.0.0.1:5000", "[2001:db8::1]:4711, garbage"},
		{"[fd00::1]:80", "::ffff:203.0.113.7"},
		{"203.0.113.7:1", "10.0.0.9"},
		{"@", ""},
		{"10.0.0.1:5000", ",,, ,"},
	} {
		f.Add(s[0], s[1])
	}
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	f.Fuzz(func(t *testing.T, remote, xff string) {
		r := &http.Request{RemoteAddr: remote, Header: http.Header{"X-Forwarded-For": {xff}}}
		got := clientAddr(r, trusted)
		peer := parseHop(remote)
		switch {
		case !peer.IsValid():
			if got.IsValid() {
				t.Fatalf("unparseable peer %q gave client %v", remote, got)
			}
		case !isTrusted(peer, trusted):
			if got != peer {
				t.Fatalf("untrusted peer %v: client %v taken from X-Forwarded-For %q", peer, got, xff)
			}
		case got != peer:
			// Believed from the header: it must be one of its hops.
			found := false
			for _, hop := range strings.Split(xff, ",") {
				found = found || parseHop(strings.TrimSpace(hop)) == got
			}
			if !found {
				t.Fatalf("client %v is neither the peer nor a hop of %q", got, xff)
			}
		}
		if k := clientKey(got); k == "" {
			t.Fatal("empty rate-limit key")
		}
	})
}
