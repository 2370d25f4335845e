package httpapi_test

// What Juspay's .NET and PHP SDKs depend on (contract §2, §4, §7), checked
// through the real router and a real SQLite store, served over TLS exactly as
// "customerd serve --tls-cert" serves it, with HTTP/2 and with HTTP/1.1. The
// SDKs themselves cannot run here; these tests send what they send and read
// what they read.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"customerd/httpapi"
	"customerd/sqlite"
	"customerd/tlsconfig"
)

// sdkNow is the server's clock in these tests, so timestamps are exact.
var sdkNow = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

const sdkMerchant = "acme_sdk"

// sdkServer is customerd's router on a real store behind TLS.
type sdkServer struct {
	t      *testing.T
	base   string // https://127.0.0.1:port
	client *http.Client
	key    string // sdkMerchant's API key
}

// sdkStart serves httpapi.New over TLS on a free port. The client speaks
// HTTP/2 when http2 is set and HTTP/1.1 otherwise.
func sdkStart(t *testing.T, http2 bool) *sdkServer {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(dir, "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	sdkClock := func() time.Time { return sdkNow }
	svc := newService(t, store, sdkClock)
	t.Cleanup(func() { svc.Close() })
	key := mustMerchant(t, svc, sdkMerchant)

	certPEM, keyPEM, err := tlsconfig.SelfSigned([]string{"127.0.0.1"}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "c.crt"), filepath.Join(dir, "c.key")
	if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	certs, err := tlsconfig.NewReloader(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler:   httpapi.New(httpapi.Config{Service: svc, Now: sdkClock}),
		TLSConfig: tlsconfig.Server(certs.GetCertificate),
		ErrorLog:  log.New(io.Discard, "", 0),
	}
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(ln, "", "") }()

	block, _ := pem.Decode(certPEM)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: http2}
	if !http2 {
		tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
	}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("ServeTLS: %v", err)
		}
	})
	return &sdkServer{t: t, base: "https://" + ln.Addr().String(), client: &http.Client{Transport: tr}, key: key}
}

// sdkResponse is one response, its body decoded as a JSON object.
type sdkResponse struct {
	status int
	proto  string
	header http.Header
	raw    string
	body   map[string]any
}

// do sends a request whose path is sent byte for byte as given (clients
// differ in how they escape it). body is a form; auth is the API key, or ""
// for none.
func (s *sdkServer) do(method, rawPath, auth string, header map[string]string, form string) sdkResponse {
	s.t.Helper()
	return s.send(method, rawPath, auth, header, form, false)
}

// doBreaking is do for a request that breaks the contract on purpose: only
// its response is checked against the OpenAPI document.
func (s *sdkServer) doBreaking(method, rawPath, auth string, header map[string]string, form string) sdkResponse {
	s.t.Helper()
	return s.send(method, rawPath, auth, header, form, true)
}

func (s *sdkServer) send(method, rawPath, auth string, header map[string]string, form string, breaks bool) sdkResponse {
	s.t.Helper()
	var body io.Reader
	if form != "" {
		body = strings.NewReader(form)
	}
	req, err := http.NewRequest(method, s.base+"/", body)
	if err != nil {
		s.t.Fatal(err)
	}
	path, query, _ := strings.Cut(rawPath, "?")
	req.URL.Opaque = path // sent as is: no re-escaping by net/http
	req.URL.RawQuery = query
	if auth != "" {
		req.SetBasicAuth(auth, "")
	}
	if form != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if breaks {
		breaksContract()(req)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, rawPath, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	r := sdkResponse{status: resp.StatusCode, proto: resp.Proto, header: resp.Header, raw: string(raw)}
	if err := checkContract(s.t, exchange{req: req, reqBody: []byte(form), status: resp.StatusCode, header: resp.Header, body: raw}); err != nil {
		s.t.Fatalf("%s %s: %v", method, rawPath, err)
	}
	if err := json.Unmarshal(raw, &r.body); err != nil {
		s.t.Fatalf("%s %s: body is not a JSON object: %q", method, rawPath, raw)
	}
	return r
}

// create makes a customer and fails the test unless it succeeds.
func (s *sdkServer) create(ref, mobile string) sdkResponse {
	s.t.Helper()
	r := s.do("POST", "/customers", s.key, nil, url.Values{
		"object_reference_id": {ref}, "mobile_number": {mobile},
	}.Encode())
	if r.status != 200 {
		s.t.Fatalf("create %q: %d %s", ref, r.status, r.raw)
	}
	return r
}

func (r sdkResponse) str(key string) string {
	s, _ := r.body[key].(string)
	return s
}

// sdkBothProtocols runs fn against a server reached over HTTP/2 and over
// HTTP/1.1: .NET's HttpClient may use either; PHP's curl and Node use 1.1.
func sdkBothProtocols(t *testing.T, fn func(t *testing.T, s *sdkServer)) {
	for _, tc := range []struct {
		name  string
		http2 bool
		proto string
	}{{"HTTP/2", true, "HTTP/2.0"}, {"HTTP/1.1", false, "HTTP/1.1"}} {
		t.Run(tc.name, func(t *testing.T) {
			s := sdkStart(t, tc.http2)
			if r := s.do("GET", "/healthz", "", nil, ""); r.proto != tc.proto {
				t.Fatalf("client spoke %s, want %s", r.proto, tc.proto)
			}
			fn(t, s)
		})
	}
}

var sdkHexID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// .NET's JuspayResponse reads x-request-id, x-response-id and
// x-jp-merchant-id; its tests assert XMerchantId equals the merchant id.
func TestSDKResponseHeaders(t *testing.T) {
	sdkBothProtocols(t, func(t *testing.T, s *sdkServer) {
		created := s.create("headers@example.com", "99887766")
		id := created.str("id")
		other := "cdk_" + strings.Repeat("0", 40)

		responses := []struct {
			name          string
			resp          sdkResponse
			status        int
			authenticated bool
		}{
			{"create", created, 200, true},
			{"get by id", s.do("GET", "/customers/"+id, s.key, nil, ""), 200, true},
			{"get by reference", s.do("GET", "/customers/headers@example.com", s.key, nil, ""), 200, true},
			{"update", s.do("POST", "/customers/"+id, s.key, nil, "first_name=Jon"), 200, true},
			{"unknown customer", s.do("GET", "/customers/nobody", s.key, nil, ""), 404, true},
			{"invalid field", s.doBreaking("POST", "/customers/"+id, s.key, nil, "mobile_number=abc"), 400, true},
			{"unknown key", s.do("GET", "/customers/"+id, other, nil, ""), 401, false},
			{"no credentials", s.doBreaking("GET", "/customers/"+id, "", nil, ""), 401, false},
			{"unknown route", s.do("GET", "/v1/customers", s.key, nil, ""), 404, false},
			{"wrong method", s.do("PUT", "/customers/"+id, s.key, nil, ""), 405, false},
		}
		seen := map[string]string{}
		for _, r := range responses {
			if r.resp.status != r.status {
				t.Errorf("%s: status %d, want %d (%s)", r.name, r.resp.status, r.status, r.resp.raw)
			}
			if ct := r.resp.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("%s: Content-Type %q", r.name, ct)
			}
			respID := r.resp.header.Get("X-Response-Id")
			if !sdkHexID.MatchString(respID) {
				t.Errorf("%s: x-response-id %q, want 32 hex characters", r.name, respID)
			}
			if prev, dup := seen[respID]; dup {
				t.Errorf("%s: x-response-id %q repeats the one of %s", r.name, respID, prev)
			}
			seen[respID] = r.name
			reqID := r.resp.header.Get("X-Request-Id")
			if !sdkHexID.MatchString(reqID) || reqID == respID {
				t.Errorf("%s: x-request-id %q: want a new id of its own when none is sent", r.name, reqID)
			}
			mid, has := r.resp.header["X-Jp-Merchant-Id"]
			switch {
			case r.authenticated && (len(mid) != 1 || mid[0] != sdkMerchant):
				t.Errorf("%s: x-jp-merchant-id %q, want %q", r.name, mid, sdkMerchant)
			case !r.authenticated && has:
				t.Errorf("%s: x-jp-merchant-id %q on an unauthenticated response", r.name, mid)
			}
		}
	})
}

func TestSDKRequestIDEcho(t *testing.T) {
	s := sdkStart(t, true)
	for _, tc := range []struct {
		name, in string
		echoed   bool
	}{
		{"uuid is echoed", "3f2504e0-4f89-11d3-9a0c-0305e82c3301", true},
		{"token of letters, digits and -_.: is echoed", "req_1.2:A-b", true},
		{"128 characters are echoed", strings.Repeat("a", 128), true},
		{"129 characters are replaced", strings.Repeat("a", 129), false},
		{"a space is replaced", "two words", false},
		{"markup is replaced", "<script>", false},
		{"a quote is replaced", `a"b`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/customers/nobody", "/healthz", "/nowhere"} {
				r := s.do("GET", path, s.key, map[string]string{"X-Request-Id": tc.in}, "")
				got := r.header.Get("X-Request-Id")
				if tc.echoed && got != tc.in {
					t.Errorf("%s: x-request-id %q, want the inbound %q echoed", path, got, tc.in)
				}
				if !tc.echoed && (got == tc.in || !sdkHexID.MatchString(got)) {
					t.Errorf("%s: x-request-id %q, want a new id instead of %q", path, got, tc.in)
				}
				if rid := r.header.Get("X-Response-Id"); rid == got {
					t.Errorf("%s: x-response-id equals x-request-id", path)
				}
			}
		})
	}
}

// The .NET SDK's tests assert Response.juspay is null without the option,
// which holds only if the key is absent; with the option, .NET sends "True",
// PHP's http_build_query sends "1" and Node sends "true".
func TestSDKClientAuthTokenOption(t *testing.T) {
	sdkBothProtocols(t, func(t *testing.T, s *sdkServer) {
		tokenRE := regexp.MustCompile(`^tkn_[0-9a-f]{32}$`)
		wantExpiry := sdkNow.Add(15 * time.Minute).Format(httpapi.TimeLayout)
		for i, tc := range []struct {
			name, option string // option is the raw form pair, or ""
			token        bool
		}{
			{"absent", "", false},
			{".NET True", "options.get_client_auth_token=True", true},
			{"PHP 1", "options.get_client_auth_token=1", true},
			{"Node true", "options.get_client_auth_token=true", true},
			{".NET False", "options.get_client_auth_token=False", false},
			{"PHP 0", "options.get_client_auth_token=0", false},
			{"PHP false is empty", "options.get_client_auth_token=", false},
			{"PHP nested array syntax is an unknown field", "options%5Bget_client_auth_token%5D=1", false},
		} {
			ref := "token" + string(rune('a'+i)) + "@example.com"
			form := "object_reference_id=" + url.QueryEscape(ref) + "&mobile_number=99887766"
			if tc.option != "" {
				form += "&" + tc.option
			}
			created := s.do("POST", "/customers", s.key, nil, form)
			if created.status != 200 {
				t.Fatalf("create, option %s: %d %s", tc.name, created.status, created.raw)
			}
			got := s.do("GET", "/customers/"+ref+"?"+tc.option, s.key, nil, "")
			if got.status != 200 {
				t.Fatalf("get, option %s: %d %s", tc.name, got.status, got.raw)
			}
			for op, r := range map[string]sdkResponse{"create": created, "get": got} {
				j, has := r.body["juspay"]
				if !tc.token {
					if has || strings.Contains(r.raw, `"juspay"`) {
						t.Errorf("%s, option %s: juspay key present (%s); it must be absent, not null", op, tc.name, r.raw)
					}
					continue
				}
				jm, _ := j.(map[string]any)
				if tok, _ := jm["client_auth_token"].(string); !tokenRE.MatchString(tok) {
					t.Errorf("%s, option %s: client_auth_token %q", op, tc.name, tok)
				}
				if exp, _ := jm["client_auth_token_expiry"].(string); exp != wantExpiry {
					t.Errorf("%s, option %s: client_auth_token_expiry %q, want %q", op, tc.name, exp, wantExpiry)
				}
			}
			if tc.token && created.body["juspay"].(map[string]any)["client_auth_token"] == got.body["juspay"].(map[string]any)["client_auth_token"] {
				t.Errorf("option %s: get returned the token of create, want a fresh one", tc.name)
			}
		}

		// The option is ignored on update, as on Juspay.
		r := s.do("POST", "/customers/tokena@example.com", s.key, nil, "first_name=Jon&options.get_client_auth_token=True")
		if r.status != 200 || strings.Contains(r.raw, `"juspay"`) {
			t.Errorf("update with the option: %d %s; want 200 without juspay", r.status, r.raw)
		}
		// Something that is not a boolean is refused, not read as false.
		r = s.doBreaking("POST", "/customers", s.key, nil, "object_reference_id=tokenz&mobile_number=1&options.get_client_auth_token=yes")
		if r.status != 400 || r.str("error_code") != "Invalid Request" {
			t.Errorf("option yes: %d %s; want 400 Invalid Request", r.status, r.raw)
		}
	})
}

// sdkEscapeDataString is .NET's Uri.EscapeDataString (which the .NET SDK
// applies to the customer id) and PHP's rawurlencode: RFC 3986, everything
// but the unreserved characters is escaped, in upper-case hex.
func sdkEscapeDataString(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteString("%" + strings.ToUpper(string("0123456789abcdef"[c>>4])+string("0123456789abcdef"[c&15])))
	}
	return b.String()
}

// sdkURLEncode is PHP's urlencode: like rawurlencode, but a space becomes '+'
// and '~' is escaped.
func sdkURLEncode(s string) string {
	s = strings.ReplaceAll(sdkEscapeDataString(s), "~", "%7E")
	return strings.ReplaceAll(s, "%20", "+")
}

func TestSDKPathForms(t *testing.T) {
	if got := sdkEscapeDataString("jon+tag@example.com a/b~"); got != "jon%2Btag%40example.com%20a%2Fb~" {
		t.Fatalf("sdkEscapeDataString is wrong: %s", got)
	}
	sdkBothProtocols(t, func(t *testing.T, s *sdkServer) {
		ids := map[string]string{} // reference -> id
		for i, ref := range []string{"jon+tag@example.com", "a b", "x/y", "a+b", "~tilde"} {
			ids[ref] = s.create(ref, "9988776"+string(rune('0'+i))).str("id")
		}
		for _, tc := range []struct {
			name, segment string
			ref           string // the customer it must find; "" for none
			errorCode     string // when ref is ""
		}{
			{".NET/rawurlencode: '+' and '@' escaped", sdkEscapeDataString("jon+tag@example.com"), "jon+tag@example.com", ""},
			{"PHP urlencode: '+' and '@' escaped", sdkURLEncode("jon+tag@example.com"), "jon+tag@example.com", ""},
			{"unescaped, as the PHP and Node SDKs send it: raw '+' is a plus and raw '@' an at sign", "jon+tag@example.com", "jon+tag@example.com", ""},
			{"lower-case escapes", "jon%2btag%40example.com", "jon+tag@example.com", ""},
			{".NET/rawurlencode: space as %20", sdkEscapeDataString("a b"), "a b", ""},
			{"PHP urlencode: space as '+' names the customer a+b", sdkURLEncode("a b"), "a+b", ""},
			{".NET/rawurlencode: %2F stays inside the id", sdkEscapeDataString("x/y"), "x/y", ""},
			{"lower-case %2f stays inside the id", "x%2fy", "x/y", ""},
			{"PHP urlencode: %7E is '~'", sdkURLEncode("~tilde"), "~tilde", ""},
			{"unescaped '/' splits the path: no such route", "x/y", "", "not_found"},
			{"the id itself", ids["x/y"], "x/y", ""},
			{"a reference that does not exist", sdkEscapeDataString("nobody@example.com"), "", "object_not_found"},
		} {
			for _, method := range []string{"GET", "POST"} {
				r := s.do(method, "/customers/"+tc.segment, s.key, nil, "")
				if tc.ref == "" {
					if r.status != 404 || r.str("error_code") != tc.errorCode {
						t.Errorf("%s %s (%s): %d %s; want 404 %s", method, tc.segment, tc.name, r.status, r.raw, tc.errorCode)
					}
					continue
				}
				if r.status != 200 || r.str("id") != ids[tc.ref] || r.str("object_reference_id") != tc.ref {
					t.Errorf("%s %s (%s): %d %s; want customer %q (%s)", method, tc.segment, tc.name, r.status, r.raw, tc.ref, ids[tc.ref])
				}
			}
		}
	})
}

// What PHP's curl and .NET's HttpClient put on a request besides the body.
func TestSDKRequestShapes(t *testing.T) {
	s := sdkStart(t, false)
	id := s.create("shapes@example.com", "99887766").str("id")
	for _, tc := range []struct {
		name   string
		header map[string]string
		status int
	}{
		{"SDK headers are tolerated", map[string]string{"version": "2019-05-07", "User-Agent": "PHP_SDK/1.0",
			"X-User-Agent": "DOTNET_SDK", "x-routing-id": "r1", "x-customerid": "c1"}, 200},
		{"form Content-Type on a GET without body", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 200},
		{"x-merchantid naming the key's merchant", map[string]string{"x-merchantid": sdkMerchant}, 200},
		{"x-merchantid naming another merchant", map[string]string{"x-merchantid": "someone_else"}, 401},
	} {
		r := s.do("GET", "/customers/"+id, s.key, tc.header, "")
		if r.status != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.name, r.status, r.raw, tc.status)
		}
		if tc.status == 401 && (r.str("error_code") != "access_denied" || r.header.Get("X-Jp-Merchant-Id") != "") {
			t.Errorf("%s: %s with x-jp-merchant-id %q; want access_denied without it", tc.name, r.raw, r.header.Get("X-Jp-Merchant-Id"))
		}
	}
	// PHP's http_build_query encodes spaces as '+', .NET's FormUrlEncodedContent
	// as '+' too, and '@' as %40.
	r := s.do("POST", "/customers", s.key, nil, "object_reference_id=php+user%40example.com&mobile_number=99887766&first_name=Jon")
	if r.status != 200 || r.str("object_reference_id") != "php user@example.com" {
		t.Errorf("form with '+' for a space: %d %s", r.status, r.raw)
	}
}

// sdkContractOverTLS is set in the environment of the rerun below.
const sdkContractOverTLS = "CUSTOMERD_TEST_CONTRACT_OVER_TLS"

// sdkStartContractServer starts the contract suite's server: over plain
// HTTP, or, in the rerun of TestContractSuiteOverTLS, over TLS with
// customerd's TLS configuration, where every request must arrive as HTTP/2.
func sdkStartContractServer(srv *httptest.Server) {
	if os.Getenv(sdkContractOverTLS) == "" {
		srv.Start()
		return
	}
	srv.TLS = tlsconfig.Server(nil) // httptest supplies the certificate, and its client trusts it
	srv.EnableHTTP2 = true
	api := srv.Config.Handler
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || r.ProtoMajor != 2 {
			http.Error(w, "not HTTP/2 over TLS", http.StatusHTTPVersionNotSupported)
			return
		}
		api.ServeHTTP(w, r)
	})
	srv.StartTLS()
}

// TestContractSuiteOverTLS reruns every other test of this package, the
// black-box contract suite included, with its server behind TLS and HTTP/2.
func TestContractSuiteOverTLS(t *testing.T) {
	if os.Getenv(sdkContractOverTLS) != "" {
		t.Skip("this is the rerun")
	}
	if testing.Short() {
		t.Skip("reruns the package")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^Test", "-test.skip=^(TestContractSuiteOverTLS|TestSDK)", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), sdkContractOverTLS+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the contract suite fails over TLS: %v\n%s", err, out)
	}
	passed := strings.Count(string(out), "--- PASS: Test")
	if passed < 5 {
		t.Fatalf("the rerun over TLS passed only %d tests:\n%s", passed, out)
	}
	t.Log("tests passed over TLS with HTTP/2: " + strconv.Itoa(passed))
}
