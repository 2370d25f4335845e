package httpapi_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"customerd"
)

func idemKey(k string) reqOpt { return header("Idempotency-Key", k) }

// eventCount is how many events the merchant of key has.
func (a *testAPI) eventCount(opts ...reqOpt) int {
	a.t.Helper()
	r := a.do("GET", "/events?count=1", "", opts...)
	wantStatus(a.t, r, 200)
	return int(r.json["total"].(float64))
}

func TestIdempotentCreateIsReplayedByteForByte(t *testing.T) {
	a := newTestAPI(t)
	body := "object_reference_id=idem@example.com&mobile_number=99887766&options.get_client_auth_token=true"
	first := a.do("POST", "/customers", body, idemKey("create-1"))
	wantStatus(t, first, 200)
	if first.header.Get("Idempotent-Replayed") != "" {
		t.Fatal("the first answer says it is replayed")
	}
	a.advance(time.Minute) // a retry later: a fresh token would differ, the replay does not
	for _, retry := range []struct {
		name, body string
		opts       []reqOpt
	}{
		{"the same form", body, nil},
		{"the fields reordered", "options.get_client_auth_token=true&mobile_number=99887766&object_reference_id=idem%40example.com", nil},
		{"its JSON twin", `{"object_reference_id":"idem@example.com","mobile_number":99887766,"options":{"get_client_auth_token":true}}`,
			[]reqOpt{header("Content-Type", "application/json")}},
	} {
		r := a.do("POST", "/customers", retry.body, append(retry.opts, idemKey("create-1"))...)
		wantStatus(t, r, 200)
		if !bytes.Equal(r.body, first.body) || r.header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("%s: replay\n%s\nfirst answer\n%s\nIdempotent-Replayed %q", retry.name, r.body, first.body, r.header.Get("Idempotent-Replayed"))
		}
	}
	if n := a.eventCount(); n != 1 {
		t.Fatalf("%d events after a create and its retries, want 1", n)
	}
	// The same key with another request is refused, and changes nothing.
	for _, other := range []struct{ method, path, body string }{
		{"POST", "/customers", "object_reference_id=idem@example.com&mobile_number=1"},
		{"POST", "/customers/idem@example.com", "first_name=Other"},
		{"DELETE", "/customers/idem@example.com", ""},
	} {
		r := a.do(other.method, other.path, other.body, idemKey("create-1"))
		wantStatus(t, r, 400)
		if r.str("error_code") != "idempotency_key_reused" {
			t.Fatalf("%s %s with a used key: %s", other.method, other.path, r.body)
		}
	}
	wantStatus(t, a.do("GET", "/customers/idem@example.com", ""), 200)
	// The key is the merchant's: another merchant's request with it runs.
	wantStatus(t, a.do("POST", "/customers", body, idemKey("create-1"), basicAuth(a.key2)), 200)
	if n := a.eventCount(); n != 1 {
		t.Fatalf("%d events for m1, want 1", n)
	}
	// After the TTL the key is free again.
	a.advance(25 * time.Hour)
	r := a.do("POST", "/customers", body, idemKey("create-1"))
	wantStatus(t, r, 400)
	if r.str("error_code") != "unique" {
		t.Fatalf("a create after the TTL runs afresh and meets its own reference: %s", r.body)
	}
}

func TestIdempotentUpdateAndErasure(t *testing.T) {
	a := newTestAPI(t)
	c := a.create("object_reference_id=u@example.com&mobile_number=1")
	path := "/customers/" + c.str("id")
	first := a.do("POST", path, "first_name=Once", idemKey("upd"))
	wantStatus(t, first, 200)
	a.advance(time.Minute)
	retry := a.do("POST", strings.Replace(path, "cst_", "cst_", 1), "first_name=Once", idemKey("upd"))
	if !bytes.Equal(retry.body, first.body) || retry.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("update retry:\n%s\n%s", retry.body, first.body)
	}
	if n := a.eventCount(); n != 2 {
		t.Fatalf("%d events, want the create and one update", n)
	}
	// A request that failed keeps nothing: the key is free for a retry.
	wantStatus(t, a.do("POST", path, "mobile_number=12ab", idemKey("bad-then-good"), breaksContract()), 400)
	wantStatus(t, a.do("POST", path, "mobile_number=12", idemKey("bad-then-good")), 200)
	// The erasure's answer stays replayable; the erased customer's stored
	// answers are gone with it, and their retries run nothing.
	erase := a.do("DELETE", path, "", idemKey("erase"))
	wantStatus(t, erase, 200)
	again := a.do("DELETE", path, "", idemKey("erase"))
	if !bytes.Equal(again.body, erase.body) || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("erasure retry: %d %s", again.status, again.body)
	}
	r := a.do("POST", path, "first_name=Once", idemKey("upd"))
	wantStatus(t, r, 404)
	if strings.Contains(string(r.body), "Once") {
		t.Fatalf("an erased customer's stored answer was given: %s", r.body)
	}
	wantStatus(t, a.do("DELETE", path, ""), 404)
}

func TestIdempotencyKeyRules(t *testing.T) {
	a := newTestAPI(t)
	for name, key := range map[string]string{
		"empty":            "",
		"256 characters":   strings.Repeat("k", 256),
		"a space":          "two words",
		"a control":        "tab\there",
		"a non-ASCII byte": "caf\xc3\xa9",
	} {
		r := a.do("POST", "/customers", "object_reference_id=k&mobile_number=1", idemKey(key), breaksContract())
		wantStatus(t, r, 400)
		if r.str("error_message") != "Wrong value in Idempotency-Key" {
			t.Fatalf("%s key: %s", name, r.body)
		}
	}
	wantStatus(t, a.do("POST", "/customers", "object_reference_id=k&mobile_number=1", idemKey(strings.Repeat("k", 255))), 200)
	// Given twice, it is refused rather than one of the two picked.
	r := a.do("POST", "/customers", "object_reference_id=k2&mobile_number=1", func(r *http.Request) {
		r.Header.Add("Idempotency-Key", "a")
		r.Header.Add("Idempotency-Key", "b")
	}, breaksContract())
	wantStatus(t, r, 400)
}

func TestIdempotencyKeyInUseWhileTheFirstRuns(t *testing.T) {
	a := newTestAPI(t)
	// The first request holds the key (as one still running on another
	// node would): the second gets 409 with Retry-After, whatever its body.
	ctx := context.Background()
	idem, answer, err := a.svc.BeginIdempotent(ctx, "m1", "busy", []byte("first request"))
	if err != nil || answer != nil || idem == nil {
		t.Fatalf("claim: %v %v %v", idem, answer, err)
	}
	for _, body := range []string{"object_reference_id=b&mobile_number=1", "object_reference_id=other&mobile_number=2"} {
		r := a.do("POST", "/customers", body, idemKey("busy"))
		wantStatus(t, r, 409)
		if r.str("error_code") != "idempotency_key_in_use" || r.header.Get("Retry-After") != "1" {
			t.Fatalf("busy key: %s, Retry-After %q", r.body, r.header.Get("Retry-After"))
		}
	}
	if err := a.svc.Release(ctx, idem); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, a.do("POST", "/customers", "object_reference_id=b&mobile_number=1", idemKey("busy")), 200)

	// Concurrent requests with one key: one change, every other answer the
	// replay or a 409.
	var wg sync.WaitGroup
	results := make([]*response, 12)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = a.do("POST", "/customers", "object_reference_id=race&mobile_number=1", idemKey("race"))
		}()
	}
	wg.Wait()
	ran := 0
	for _, r := range results {
		switch {
		case r.status == 200 && r.header.Get("Idempotent-Replayed") == "":
			ran++
		case r.status == 200, r.status == 409:
		default:
			t.Fatalf("a concurrent retry: %d %s", r.status, r.body)
		}
	}
	if ran != 1 {
		t.Fatalf("%d of the concurrent requests ran, want 1", ran)
	}
}

// claimCounter is a store that keeps the Idempotency-Key claims taken and
// not yet ended, by token.
type claimCounter struct {
	customerd.Store
	mu   sync.Mutex
	open map[string]bool
}

func (c *claimCounter) ClaimIdempotencyKey(ctx context.Context, r customerd.IdempotentRecord, now time.Time) (customerd.IdempotentRecord, bool, error) {
	rec, ok, err := c.Store.ClaimIdempotencyKey(ctx, r, now)
	if ok {
		c.mu.Lock()
		c.open[string(r.Token)] = true
		c.mu.Unlock()
	}
	return rec, ok, err
}

func (c *claimCounter) ReleaseIdempotencyKey(ctx context.Context, merchantID string, keyHash, token []byte, committed bool) error {
	c.mu.Lock()
	delete(c.open, string(token))
	c.mu.Unlock()
	return c.Store.ReleaseIdempotencyKey(ctx, merchantID, keyHash, token, committed)
}

func TestEveryClaimEndsWithItsRequest(t *testing.T) {
	counter := &claimCounter{open: map[string]bool{}}
	a := newTestAPIWithStore(t, nil, func(s customerd.Store) customerd.Store { counter.Store = s; return counter })
	created := a.do("POST", "/customers", "object_reference_id=c1&mobile_number=1", idemKey("ok"))
	wantStatus(t, created, 200)
	wantStatus(t, a.do("POST", "/customers", "object_reference_id=c1&mobile_number=1", idemKey("ok")), 200) // a replay
	wantStatus(t, a.do("POST", "/customers", "mobile_number=1", idemKey("invalid"), breaksContract()), 400)
	wantStatus(t, a.do("POST", "/customers", "object_reference_id=c1&mobile_number=2", idemKey("taken")), 400)
	wantStatus(t, a.do("POST", "/customers/"+created.str("id"), "first_name=Jon", idemKey("update")), 200)
	wantStatus(t, a.do("DELETE", "/customers/"+created.str("id"), "", idemKey("erase")), 200)
	counter.mu.Lock()
	defer counter.mu.Unlock()
	if len(counter.open) != 0 {
		t.Fatalf("%d claims outlived their requests", len(counter.open))
	}
}
