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
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"customerd"
	"customerd/fieldcrypt"
	"customerd/httpapi"
	"customerd/service"
)

// testAPI is the real router on the real service, over a real store (a
// SQLite file, or PostgreSQL in the rerun of TestContractSuiteOnPostgreSQL),
// with two merchants.
type testAPI struct {
	t     *testing.T
	srv   *httptest.Server
	svc   *service.Service
	key1  string // merchant m1
	key2  string // merchant m2
	clock atomic.Int64
	queue *recordingQueue // the deliveries the service scheduled
}

// recordingQueue is a service.DeliveryQueue that records what it is given:
// the HTTP layer's tests look at what was scheduled, package delivery's at
// what is delivered.
type recordingQueue struct {
	mu  sync.Mutex
	got []customerd.Delivery
}

func (q *recordingQueue) Schedule(_ context.Context, _ customerd.StoreTx, ds []customerd.Delivery) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.got = append(q.got, ds...)
	return nil
}

func (q *recordingQueue) scheduled() []customerd.Delivery {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]customerd.Delivery(nil), q.got...)
}

func newTestAPI(t *testing.T) *testAPI {
	t.Helper()
	return newTestAPIWith(t, nil)
}

// newTestAPIWith is newTestAPI with a Config that configure may change (set
// limits or a logger) before the server starts.
func newTestAPIWith(t *testing.T, configure func(*httpapi.Config)) *testAPI {
	t.Helper()
	return newTestAPIWithStore(t, configure, nil)
}

// newTestAPIWithStore is newTestAPIWith with the store under the service
// wrapped by wrap, when it is not nil.
func newTestAPIWithStore(t *testing.T, configure func(*httpapi.Config), wrap func(customerd.Store) customerd.Store) *testAPI {
	t.Helper()
	store := openContractStore(t)
	if wrap != nil {
		store = wrap(store)
	}
	a := &testAPI{t: t}
	a.clock.Store(time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC).Unix())
	now := func() time.Time { return time.Unix(a.clock.Load(), 0) }
	a.queue = &recordingQueue{}
	a.svc = newServiceWith(t, service.Config{Store: store, Now: now, Deliveries: a.queue})
	a.key1 = mustMerchant(t, a.svc, "m1")
	a.key2 = mustMerchant(t, a.svc, "m2")
	cfg := httpapi.Config{Service: a.svc, Now: now}
	if configure != nil {
		configure(&cfg)
	}
	a.srv = httptest.NewUnstartedServer(httpapi.New(cfg))
	sdkStartContractServer(a.srv) // plain HTTP, or TLS when the suite is rerun over TLS
	t.Cleanup(func() {
		a.srv.Close()
		a.svc.Close()
	})
	return a
}

// testVault is the master key of every service of this test process: a
// database opened twice is opened with the same key.
var testVault = sync.OnceValue(func() *fieldcrypt.Vault {
	k, err := fieldcrypt.GenerateMasterKey()
	if err != nil {
		panic(err)
	}
	return fieldcrypt.NewVault(k)
})

// newService is the service over store, on the clock now (nil: time.Now).
func newService(t testing.TB, store customerd.Store, now func() time.Time) *service.Service {
	t.Helper()
	return newServiceWith(t, service.Config{Store: store, Now: now})
}

// newServiceWith is newService with more of the service's Config; its
// Vault is the test process's.
func newServiceWith(t testing.TB, cfg service.Config) *service.Service {
	t.Helper()
	cfg.Vault = testVault()
	svc, err := service.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func mustMerchant(t testing.TB, svc *service.Service, id string) string {
	t.Helper()
	key, err := svc.CreateMerchant(context.Background(), id)
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
