package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"customerd"
	"customerd/httpapi"
	"customerd/internal/syncbuf"
)

const bodyRateLimited = `{"status":"error","error_code":"too_many_requests",
	 "error_message":"Too many requests. Please retry after some time.",
	 "error_info":{"user_message":"Too many requests.",
	  "developer_message":"Rate limit exceeded; retry after the Retry-After delay.",
	  "code":"RATE_LIMITED","category":"USER_ERROR"}}`

// hookStore is the real store with a hook that runs before every call with
// the call's context, its method name and its main argument.
type hookStore struct {
	customerd.Store
	before func(ctx context.Context, method, arg string)
}

func (h hookStore) FindCustomer(ctx context.Context, merchantID, id string) (customerd.SealedCustomer, error) {
	h.before(ctx, "FindCustomer", id)
	return h.Store.FindCustomer(ctx, merchantID, id)
}

func (h hookStore) FindCustomerByRef(ctx context.Context, merchantID string, refIndex []byte) (customerd.SealedCustomer, error) {
	h.before(ctx, "FindCustomerByRef", merchantID)
	return h.Store.FindCustomerByRef(ctx, merchantID, refIndex)
}

func (h hookStore) FindAPIKey(ctx context.Context, prefix string) (*customerd.APIKey, error) {
	h.before(ctx, "FindAPIKey", prefix)
	return h.Store.FindAPIKey(ctx, prefix)
}

func (h hookStore) ListWrappedKeys(ctx context.Context, merchantID string) ([]customerd.WrappedKey, error) {
	h.before(ctx, "ListWrappedKeys", merchantID)
	return h.Store.ListWrappedKeys(ctx, merchantID)
}

func (h hookStore) Write(ctx context.Context, fn func(context.Context, customerd.StoreTx) error) error {
	h.before(ctx, "Write", "")
	return h.Store.Write(ctx, fn)
}

func (h hookStore) Ping(ctx context.Context) error {
	h.before(ctx, "Ping", "")
	return h.Store.Ping(ctx)
}

// logBuffer collects the server's JSON logs.
type logBuffer struct{ syncbuf.Buffer }

// records returns the log lines decoded.
func (b *logBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, line)
		}
		out = append(out, rec)
	}
	return out
}

func jsonLogger(b *logBuffer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func TestPerKeyRateLimit(t *testing.T) {
	a := newTestAPIWith(t, func(c *httpapi.Config) { c.RateLimit, c.RateBurst = 2, 3 })
	for i := 0; i < 3; i++ {
		wantStatus(t, a.do("GET", "/customers/nobody", ""), 404)
	}
	r := a.do("GET", "/customers/nobody", "")
	wantStatus(t, r, 429)
	wantBody(t, r, bodyRateLimited)
	if got := r.header.Get("Retry-After"); got != "1" {
		t.Fatalf("Retry-After %q, want 1 (a token every 0.5 s, rounded up)", got)
	}
	if r.header.Get("X-Jp-Merchant-Id") != "m1" {
		t.Fatalf("a 429 for an authenticated key should name its merchant, got %q", r.header.Get("X-Jp-Merchant-Id"))
	}
	// Writes are limited too, and the limit is per key: m2 is not affected.
	wantStatus(t, a.do("POST", "/customers", "object_reference_id=r&mobile_number=1"), 429)
	wantStatus(t, a.do("GET", "/customers/nobody", "", basicAuth(a.key2)), 404)
	// The bucket refills at the configured rate.
	a.advance(time.Second)
	wantStatus(t, a.do("GET", "/customers/nobody", ""), 404)
	wantStatus(t, a.do("GET", "/customers/nobody", ""), 404)
	wantStatus(t, a.do("GET", "/customers/nobody", ""), 429)
}

func TestRateLimitsAreOffByDefault(t *testing.T) {
	a := newTestAPI(t)
	for i := 0; i < 200; i++ {
		wantStatus(t, a.do("GET", "/customers/nobody", ""), 404)
	}
	for i := 0; i < 200; i++ {
		wantStatus(t, a.do("GET", "/customers/nobody", "", basicAuth("cdk_0000000000000000000000000000000000000000")), 401)
	}
}

func TestBadKeysFromOneAddressMeet429BeforeTheKeyLookup(t *testing.T) {
	var lookups atomic.Int64
	var logs logBuffer
	a := newTestAPIWithStore(t, func(c *httpapi.Config) {
		c.Logger = jsonLogger(&logs)
		c.AuthFailures = 20 // in any minute
	}, func(s customerd.Store) customerd.Store {
		return hookStore{Store: s, before: func(_ context.Context, method, _ string) {
			if method == "FindAPIKey" {
				lookups.Add(1)
			}
		}}
	})
	// Keys of distinct prefixes, so that each is looked up.
	bad := func(i int) reqOpt { return basicAuth(fmt.Sprintf("cdk_%012x%028d", i, 0)) }
	for i := 0; i < 20; i++ {
		wantStatus(t, a.do("GET", "/customers/x", "", bad(i)), 401)
	}
	for i := 20; i < 300; i++ {
		r := a.do("GET", "/customers/x", "", bad(i))
		wantStatus(t, r, 429)
		wantBody(t, r, bodyRateLimited)
		if got := r.header.Get("Retry-After"); got != "60" {
			t.Fatalf("Retry-After %q, want 60: the failures leave the window a minute after they were made", got)
		}
	}
	if n := lookups.Load(); n != 20 {
		t.Fatalf("%d key lookups for 300 bad keys, want 20: a blocked address must not reach the database", n)
	}
	// The block is logged once, with the address, not once per request.
	blocked := 0
	for _, rec := range logs.records(t) {
		if strings.Contains(rec["msg"].(string), "client blocked") {
			blocked++
			if rec["client"] != "127.0.0.1" || rec["level"] != "WARN" {
				t.Errorf("block log: %v", rec)
			}
		}
	}
	if blocked != 1 {
		t.Fatalf("block logged %d times for one address", blocked)
	}
	// The limit is on the address: while it is blocked, even a good key
	// from it is turned away (the key is not looked at), and so is a
	// request without credentials.
	wantStatus(t, a.do("GET", "/customers/x", ""), 429)
	wantStatus(t, a.do("GET", "/customers/x", "", noAuth(), breaksContract()), 429)
	// A sliding window, not a refilling bucket: nothing comes back until
	// the failures are a minute old.
	a.advance(59 * time.Second)
	if r := a.do("GET", "/customers/x", ""); r.status != 429 || r.header.Get("Retry-After") != "1" {
		t.Fatalf("59 s after 20 failures: %d, Retry-After %q; want 429 and 1", r.status, r.header.Get("Retry-After"))
	}
	a.advance(time.Second)
	wantStatus(t, a.do("GET", "/customers/x", ""), 404)
	// A key of another format is a failed guess too.
	for i := 0; i < 20; i++ {
		wantStatus(t, a.do("GET", "/customers/x", "", basicAuth("ABCDEF0123456789ABCDEF0123456789")), 401)
	}
	wantStatus(t, a.do("GET", "/customers/x", ""), 429)
	// A request with no credentials presents no key: it is answered 401 and
	// not counted against the address.
	a.advance(time.Minute)
	for i := 0; i < 25; i++ {
		wantStatus(t, a.do("GET", "/customers/x", "", noAuth(), breaksContract()), 401)
	}
	wantStatus(t, a.do("GET", "/customers/x", ""), 404)
	// Successes cost nothing.
	for i := 0; i < 50; i++ {
		wantStatus(t, a.do("GET", "/customers/x", ""), 404)
	}
	// Routes that need no key are never limited.
	for i := 0; i < 25; i++ {
		a.do("GET", "/customers/x", "", bad(i))
	}
	wantStatus(t, a.do("GET", "/healthz", ""), 200)
}

// TestAuthFailureLimitHoldsForBadKeysSentAtOnce sends bad keys from one
// address all at once, whose lookups overlap: no more of them are looked
// up, or answered 401, than the limit.
func TestAuthFailureLimitHoldsForBadKeysSentAtOnce(t *testing.T) {
	var lookups atomic.Int64
	a := newTestAPIWithStore(t, func(c *httpapi.Config) { c.AuthFailures = 20 },
		func(s customerd.Store) customerd.Store {
			return hookStore{Store: s, before: func(_ context.Context, method, _ string) {
				if method == "FindAPIKey" {
					lookups.Add(1)
					time.Sleep(20 * time.Millisecond) // a slow database: the lookups overlap
				}
			}}
		})
	var wg sync.WaitGroup
	var mu sync.Mutex
	counts := map[int]int{}
	for i := range 100 {
		wg.Go(func() {
			r := a.do("GET", "/customers/x", "", basicAuth(fmt.Sprintf("cdk_%012x%028d", i, 0)))
			mu.Lock()
			counts[r.status]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if counts[401] != 20 || counts[429] != 80 || lookups.Load() != 20 {
		t.Fatalf("100 bad keys at once: %v with %d lookups; want 20 × 401 and 20 lookups, then 429", counts, lookups.Load())
	}
	// Good keys sent at once wait for the attempts in flight, and are never
	// refused for them: more of them than the limit all get their answer.
	a.advance(time.Minute)
	for i := range 60 {
		wg.Go(func() {
			if r := a.do("GET", "/customers/x", ""); r.status != 404 {
				t.Errorf("good key %d sent at once with others: %d", i, r.status)
			}
		})
	}
	wg.Wait()
}

// TestAuthFailureLimitIsASlidingWindow paces bad keys from one address at
// one a second for two minutes: no minute holds more failures than the
// limit, where a bucket refilling at limit per minute let twice as many
// into the first.
func TestAuthFailureLimitIsASlidingWindow(t *testing.T) {
	a := newTestAPIWith(t, func(c *httpapi.Config) { c.AuthFailures = 20 })
	var failures []int // seconds since the start
	for s := range 120 {
		if r := a.do("GET", "/customers/x", "", basicAuth(fmt.Sprintf("cdk_%012x%028d", s, 0))); r.status == 401 {
			failures = append(failures, s)
		}
		a.advance(time.Second)
	}
	for i := range failures {
		inMinute := 0
		for _, f := range failures[i:] {
			if f < failures[i]+60 {
				inMinute++
			}
		}
		if inMinute > 20 {
			t.Fatalf("%d failures in the minute from second %d, want at most 20: %v", inMinute, failures[i], failures)
		}
	}
	// And it is no stricter than its promise: 20 in the first minute, 20
	// again in the second.
	if len(failures) != 40 {
		t.Fatalf("%d failures in two minutes at one attempt a second, want 40: %v", len(failures), failures)
	}
}

func TestAuthFailuresAreCountedPerClientBehindTrustedProxies(t *testing.T) {
	a := newTestAPIWith(t, func(c *httpapi.Config) {
		c.AuthFailures = 3
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	})
	bad := basicAuth("cdk_0000000000000000000000000000000000000000")
	from := func(xff string) reqOpt { return header("X-Forwarded-For", xff) }
	for i := 0; i < 3; i++ {
		wantStatus(t, a.do("GET", "/customers/x", "", bad, from("203.0.113.5")), 401)
	}
	wantStatus(t, a.do("GET", "/customers/x", "", bad, from("203.0.113.5")), 429)
	// A client cannot escape by prepending addresses: only the hop the
	// trusted proxy saw counts.
	wantStatus(t, a.do("GET", "/customers/x", "", from("198.51.100.1, 203.0.113.5")), 429)
	// Another client behind the same proxy has its own allowance.
	wantStatus(t, a.do("GET", "/customers/x", "", from("203.0.113.6")), 404)
	// Chained trusted proxies are skipped.
	wantStatus(t, a.do("GET", "/customers/x", "", from("203.0.113.5, 127.0.0.9")), 429)
}

func TestForwardedForIsIgnoredFromUntrustedPeers(t *testing.T) {
	a := newTestAPIWith(t, func(c *httpapi.Config) { c.AuthFailures = 3 })
	bad := basicAuth("cdk_0000000000000000000000000000000000000000")
	for i := 0; i < 3; i++ {
		xff := header("X-Forwarded-For", "203.0.113."+string(rune('1'+i)))
		wantStatus(t, a.do("GET", "/customers/x", "", bad, xff), 401)
	}
	// Three different claimed addresses, one real peer: it is blocked.
	wantStatus(t, a.do("GET", "/customers/x", "", header("X-Forwarded-For", "203.0.113.9")), 429)
}

func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	a := newTestAPI(t)
	c := a.create("object_reference_id=r&mobile_number=1")
	for _, r := range []*response{
		c,
		a.do("GET", "/customers/r", ""),
		a.do("POST", "/customers/r", "first_name=Jon"),
		a.do("GET", "/customers/nobody", ""),
		a.do("GET", "/customers/r", "", noAuth(), breaksContract()),
		a.do("POST", "/customers", "email_address=bad", breaksContract()),
		a.do("PUT", "/customers/r", ""),
		a.do("GET", "/nowhere", ""),
		a.do("GET", "/healthz", ""),
	} {
		if got := r.header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%d %s: X-Content-Type-Options %q", r.status, r.body, got)
		}
		if got := r.header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("%d %s: Cache-Control %q", r.status, r.body, got)
		}
	}
}

func TestWrongKeyAndUnknownKeyAreIndistinguishable(t *testing.T) {
	a := newTestAPI(t)
	// Same prefix as m1's key, so the lookup finds m1's key and the hash
	// comparison fails; versus a key whose prefix matches nothing.
	last := a.key1[len(a.key1)-1]
	flip := byte('0')
	if last == '0' {
		flip = '1'
	}
	wrongForExisting := a.key1[:len(a.key1)-1] + string(flip)
	unknown := "cdk_ffffffffffff" + a.key1[16:]
	revoked, err := a.svc.CreateAPIKey(context.Background(), "m1")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.svc.RevokeAPIKey(context.Background(), revoked); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		opts []reqOpt
	}{
		{"wrong key of an existing merchant", []reqOpt{basicAuth(wrongForExisting)}},
		{"key of no merchant", []reqOpt{basicAuth(unknown)}},
		{"revoked key of an existing merchant", []reqOpt{basicAuth(revoked)}},
		{"wrong key, x-merchantid of an existing merchant", []reqOpt{basicAuth(wrongForExisting), header("x-merchantid", "m1")}},
		{"unknown key, x-merchantid of no merchant", []reqOpt{basicAuth(unknown), header("x-merchantid", "nosuch")}},
	}
	var first *response
	for _, tc := range cases {
		r := a.do("GET", "/customers/x", "", tc.opts...)
		wantStatus(t, r, 401)
		for _, h := range []string{"X-Request-Id", "X-Response-Id", "Date"} {
			r.header.Del(h)
		}
		if first == nil {
			first = r
			continue
		}
		if !bytes.Equal(r.body, first.body) {
			t.Errorf("%s: body\n%s\ndiffers from %s:\n%s", tc.name, r.body, cases[0].name, first.body)
		}
		gotH, _ := json.Marshal(r.header)
		wantH, _ := json.Marshal(first.header)
		if !bytes.Equal(gotH, wantH) {
			t.Errorf("%s: headers %s differ from %s: %s", tc.name, gotH, cases[0].name, wantH)
		}
	}
}

func TestEveryStoreCallHasADeadline(t *testing.T) {
	var mu sync.Mutex
	var calls, unbounded []string
	a := newTestAPIWithStore(t, nil, func(s customerd.Store) customerd.Store {
		return hookStore{Store: s, before: func(ctx context.Context, method, _ string) {
			mu.Lock()
			defer mu.Unlock()
			calls = append(calls, method)
			if d, ok := ctx.Deadline(); !ok || time.Until(d) > 30*time.Second {
				unbounded = append(unbounded, method)
			}
		}}
	})
	mu.Lock()
	calls, unbounded = nil, nil // what creating the test's merchants called
	mu.Unlock()
	c := a.create("object_reference_id=r&mobile_number=1")
	a.do("GET", "/customers/"+c.str("id")+"?options.get_client_auth_token=true", "")
	a.do("POST", "/customers/r", "first_name=Jon")
	a.do("POST", "/customers/r", "")
	a.do("GET", "/customers/nobody", "", basicAuth("cdk_0000000000000000000000000000000000000000"))
	a.do("GET", "/healthz", "")
	mu.Lock()
	defer mu.Unlock()
	for _, want := range []string{"FindAPIKey", "Write", "FindCustomer", "FindCustomerByRef"} {
		if !strings.Contains(strings.Join(calls, " "), want) {
			t.Errorf("the workout made no %s call; calls: %v", want, calls)
		}
	}
	if len(unbounded) > 0 {
		t.Fatalf("store calls without a request deadline (at most the 30 s write timeout): %v", unbounded)
	}
}

func TestHandlerPanicIsA500AndTheServerKeepsServing(t *testing.T) {
	var logs logBuffer
	a := newTestAPIWithStore(t, func(c *httpapi.Config) {
		c.Logger = jsonLogger(&logs)
	}, func(s customerd.Store) customerd.Store {
		return hookStore{Store: s, before: func(_ context.Context, method, arg string) {
			if method == "FindCustomer" && arg == "cst_boomboomboomboom" {
				panic("store exploded")
			}
		}}
	})
	r := a.do("GET", "/customers/cst_boomboomboomboom", "", header("X-Request-Id", "req-panic-1"))
	wantStatus(t, r, 500)
	wantBody(t, r, `{"status":"error","error_code":"internal_error",
		"error_message":"Something went wrong. Please retry or contact support with the request id.",
		"error_info":{"user_message":"Something went wrong.","developer_message":"Internal server error.",
		 "code":"INTERNAL_ERROR","category":"SERVER_ERROR"},
		"request_id":"req-panic-1"}`)
	if r.header.Get("X-Request-Id") != "req-panic-1" {
		t.Fatalf("x-request-id %q", r.header.Get("X-Request-Id"))
	}
	for _, leak := range []string{"store exploded", "goroutine", ".go:"} {
		if strings.Contains(string(r.body), leak) {
			t.Fatalf("500 body leaks %q: %s", leak, r.body)
		}
	}
	var found bool
	for _, rec := range logs.records(t) {
		if rec["msg"] != "panic while serving request" {
			continue
		}
		found = true
		stack, _ := rec["stack"].(string)
		if rec["request_id"] != "req-panic-1" || rec["panic"] != "store exploded" ||
			!strings.Contains(stack, "hookStore.FindCustomer") {
			t.Fatalf("panic log lacks the request id, the panic or its stack: %v", rec)
		}
		if rec["level"] != "ERROR" {
			t.Fatalf("panic logged at %v", rec["level"])
		}
	}
	if !found {
		t.Fatalf("panic not logged:\n%s", logs.String())
	}
	// The server is still up, on the same connection pool.
	a.create("object_reference_id=after&mobile_number=1")
	wantStatus(t, a.do("GET", "/customers/after", ""), 200)
}

// TestLogsCarryNoKeyAndNoPersonalData runs every kind of request, with
// distinctive personal values, and greps the logs for them.
func TestLogsCarryNoKeyAndNoPersonalData(t *testing.T) {
	var logs logBuffer
	a := newTestAPIWith(t, func(c *httpapi.Config) {
		c.Logger = jsonLogger(&logs)
		c.RateLimit, c.RateBurst = 1000, 1000
		c.AuthFailures = 5
	})
	pii := []string{
		"ref.secret.7781@example.org", "ref-json-5512", "aurelio.pii@example.com", "xan.tippe@example.net",
		"_leading.underscore@example.com", "Aurelio", "Quintavalle", "Xanthippe", "98765432109", "91234567",
		"4455667788", "BadName!x", "74747474747474747",
	}
	c := a.create("object_reference_id=ref.secret.7781%40example.org&mobile_number=98765432109&mobile_country_code=%2B44" +
		"&email_address=aurelio.pii%40example.com&first_name=Aurelio&last_name=Quintavalle")
	wantStatus(t, a.do("POST", "/customers", `{"object_reference_id":"ref-json-5512","mobile_number":91234567,"first_name":"Xanthippe"}`,
		header("Content-Type", "application/json")), 200)
	wantStatus(t, a.do("GET", "/customers/ref.secret.7781@example.org?options.get_client_auth_token=true", ""), 200)
	wantStatus(t, a.do("GET", "/customers/"+c.str("id"), "", header("x-merchantid", "m1")), 200)
	wantStatus(t, a.do("POST", "/customers/ref.secret.7781%40example.org", "mobile_number=4455667788&email_address=xan.tippe%40example.net"), 200)
	wantStatus(t, a.do("POST", "/customers/ref-json-5512", "last_name="), 200)
	// Validation failures whose messages quote the values.
	wantStatus(t, a.do("POST", "/customers", "object_reference_id=ref-json-5512&mobile_number=1&email_address=_leading.underscore%40example.com", breaksContract()), 400)
	wantStatus(t, a.do("POST", "/customers/ref-json-5512", "first_name=BadName!x&mobile_number=74747474747474747", breaksContract()), 400)
	wantStatus(t, a.do("POST", "/customers", "object_reference_id=ref-json-5512&mobile_number=1"), 400) // duplicate
	wantStatus(t, a.do("POST", "/customers", `{"object_reference_id":"ref-json-5512","mobile_number":[1]}`,
		header("Content-Type", "application/json"), breaksContract()), 400)
	// Not found, with a reference in the path; other merchant's customer.
	wantStatus(t, a.do("GET", "/customers/ref.secret.7781@example.org", "", basicAuth(a.key2)), 404)
	wantStatus(t, a.do("POST", "/customers/xan.tippe@example.net", "first_name=Aurelio"), 404)
	wantStatus(t, a.do("GET", "/customers/ref.secret.7781@example.org/extra", ""), 404)
	// Bad keys of every kind, a merchant mismatch, then the address limit.
	badKeys := []string{
		a.key1[:len(a.key1)-1] + "x",
		"cdk_1111111111111111111111111111111111111111",
		"hunter2-not-a-customerd-key",
		a.key2 + "trailing",
	}
	wantStatus(t, a.do("GET", "/customers/ref-json-5512", "", header("x-merchantid", "m2")), 401)
	for _, k := range badKeys {
		wantStatus(t, a.do("GET", "/customers/ref-json-5512", "", basicAuth(k)), 401)
	}
	wantStatus(t, a.do("GET", "/customers/ref-json-5512", "", basicAuth(badKeys[0])), 429)

	out := logs.String()
	if len(logs.records(t)) < 15 {
		t.Fatalf("too few log lines to mean anything:\n%s", out)
	}
	for _, k := range append([]string{a.key1, a.key2}, badKeys...) {
		// The stored prefix may be logged; the rest of a key never.
		secret := k
		if len(k) > customerd.KeyPrefixLen {
			secret = k[customerd.KeyPrefixLen:]
		}
		if strings.Contains(out, secret) {
			t.Errorf("logs carry (part of) the key %s…", k[:8])
		}
	}
	for _, v := range pii {
		if strings.Contains(out, v) {
			t.Errorf("logs carry the personal value %q", v)
		}
	}
	if t.Failed() {
		t.Logf("logs:\n%s", out)
	}
}
