package httpapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"customerd"
	"customerd/httpapi"
)

// testAPI is the real router on a real store (a SQLite file, or PostgreSQL
// in the rerun of TestContractSuiteOnPostgreSQL), with two merchants.
type testAPI struct {
	t     *testing.T
	srv   *httptest.Server
	store customerd.Store
	key1  string // merchant m1
	key2  string // merchant m2
	clock atomic.Int64
}

func newTestAPI(t *testing.T) *testAPI {
	t.Helper()
	return newTestAPIWith(t, nil)
}

// newTestAPIWith is newTestAPI with a Config that configure may change (set
// limits or a logger, wrap the store) before the server starts.
func newTestAPIWith(t *testing.T, configure func(*httpapi.Config)) *testAPI {
	t.Helper()
	store := openContractStore(t)
	a := &testAPI{t: t, store: store}
	a.clock.Store(time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC).Unix())
	a.key1 = mustMerchant(t, store, "m1")
	a.key2 = mustMerchant(t, store, "m2")
	cfg := httpapi.Config{
		Store: store,
		Now:   func() time.Time { return time.Unix(a.clock.Load(), 0) },
	}
	if configure != nil {
		configure(&cfg)
	}
	a.srv = httptest.NewUnstartedServer(httpapi.New(cfg))
	sdkStartContractServer(a.srv) // plain HTTP, or TLS when the suite is rerun over TLS
	t.Cleanup(func() {
		a.srv.Close()
		store.Close()
	})
	return a
}

func mustMerchant(t *testing.T, s customerd.Store, id string) string {
	t.Helper()
	key, err := customerd.CreateMerchant(context.Background(), s, id, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// advance moves the server's clock forward.
func (a *testAPI) advance(d time.Duration) { a.clock.Add(int64(d / time.Second)) }

// reqOpt changes an outgoing request.
type reqOpt func(r *http.Request)

// basicAuth sends "Basic base64(key:)", what curl -u key: sends.
func basicAuth(key string) reqOpt {
	return func(r *http.Request) {
		r.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(key+":")))
	}
}

func header(k, v string) reqOpt { return func(r *http.Request) { r.Header.Set(k, v) } }

func noAuth() reqOpt { return func(r *http.Request) { r.Header.Del("Authorization") } }

// response is a received response with its body decoded.
type response struct {
	status int
	header http.Header
	body   []byte
	json   map[string]any
}

// str returns a top-level JSON member as a string ("<nil>" for null, "<absent>" when missing).
func (r *response) str(key string) string {
	v, ok := r.json[key]
	if !ok {
		return "<absent>"
	}
	if v == nil {
		return "<nil>"
	}
	s, _ := v.(string)
	return s
}

// do sends a request as merchant m1 unless an option changes the auth. A
// non-empty form body is sent as application/x-www-form-urlencoded unless a
// Content-Type option is given.
func (a *testAPI) do(method, path, body string, opts ...reqOpt) *response {
	a.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, a.srv.URL+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	basicAuth(a.key1)(req)
	for _, o := range opts {
		o(req)
	}
	return a.send(req)
}

// send performs req, validates the request and the response against the
// OpenAPI document (contract_test.go), and checks what every response must
// carry.
func (a *testAPI) send(req *http.Request) *response {
	a.t.Helper()
	var reqBody []byte
	if req.Body != nil {
		var err error
		if reqBody, err = io.ReadAll(req.Body); err != nil {
			a.t.Fatal(err)
		}
		req.Body = io.NopCloser(bytes.NewReader(reqBody)) // ContentLength is kept: chunked stays chunked
	}
	res, err := a.srv.Client().Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	r := &response{status: res.StatusCode, header: res.Header, body: body}
	if err := checkContract(a.t, exchange{req: req, reqBody: reqBody, status: res.StatusCode, header: res.Header, body: body}); err != nil {
		a.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	if res.Header.Get("X-Request-Id") == "" || res.Header.Get("X-Response-Id") == "" {
		a.t.Fatalf("%s %s: missing x-request-id or x-response-id", req.Method, req.URL.Path)
	}
	if res.Header.Get("Content-Type") == "application/json" {
		if err := json.Unmarshal(body, &r.json); err != nil {
			a.t.Fatalf("%s %s: body is not a JSON object: %v: %s", req.Method, req.URL.Path, err, body)
		}
	}
	return r
}

// create makes a customer for m1 and returns it.
func (a *testAPI) create(form string) *response {
	a.t.Helper()
	r := a.do("POST", "/customers", form)
	if r.status != 200 {
		a.t.Fatalf("create %q: %d %s", form, r.status, r.body)
	}
	return r
}

// wantStatus fails unless r has the status.
func wantStatus(t *testing.T, r *response, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
}

// wantBody fails unless r's body is exactly the JSON want (ignoring
// whitespace and member order).
func wantBody(t *testing.T, r *response, want string) {
	t.Helper()
	var w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad expectation: %v", err)
	}
	gotJSON, _ := json.Marshal(r.json)
	wantJSON, _ := json.Marshal(w)
	if string(gotJSON) != string(wantJSON) {
		t.Fatalf("body\n got %s\nwant %s", gotJSON, wantJSON)
	}
}
