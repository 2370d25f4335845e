package httpapi_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"customerd"
	"customerd/httpapi"
)

// faultyStore is the real store whose writes and pings fail as unavailable
// while their switch is on, as on a full disk or a deleted database file.
type faultyStore struct {
	customerd.Store
	writes, pings *atomic.Pointer[error]
}

func (f faultyStore) Write(ctx context.Context, fn func(context.Context, customerd.StoreTx) error) error {
	if err := f.writes.Load(); err != nil {
		return *err
	}
	return f.Store.Write(ctx, fn)
}

func (f faultyStore) Ping(ctx context.Context) error {
	if err := f.pings.Load(); err != nil {
		return *err
	}
	return f.Store.Ping(ctx)
}

func TestUnavailableIsLoggedOncePerEpisode(t *testing.T) {
	var logs logBuffer
	var writes, pings atomic.Pointer[error]
	a := newTestAPIWithStore(t, func(c *httpapi.Config) { c.Logger = jsonLogger(&logs) },
		func(s customerd.Store) customerd.Store { return faultyStore{Store: s, writes: &writes, pings: &pings} })
	a.create("object_reference_id=r&mobile_number=1")
	diskFull := customerd.Unavailable(errors.New("sqlite: database or disk is full (13)"))
	count := func(msg, cause string) (warn, other int) {
		for _, rec := range logs.records(t) {
			if rec["msg"] == msg && strings.Contains(rec["error"].(string), cause) {
				if rec["level"] == "WARN" {
					warn++
				} else {
					other++
				}
			}
		}
		return warn, other
	}

	writes.Store(&diskFull)
	for range 5 {
		r := a.do("POST", "/customers/r", "first_name=Jon")
		wantStatus(t, r, 503)
		if r.str("error_code") != "service_unavailable" || r.header.Get("Retry-After") == "" {
			t.Fatalf("503 %s with Retry-After %q", r.body, r.header.Get("Retry-After"))
		}
		// Reads succeed meanwhile: they do not end an outage of writes.
		wantStatus(t, a.do("GET", "/customers/r", ""), 200)
	}
	if warn, debug := count("request failed", "disk is full"); warn != 1 || debug != 4 {
		t.Fatalf("5 writes failing for one cause logged %d times at warn and %d at debug, want 1 and 4:\n%s", warn, debug, logs.String())
	}
	writes.Store(nil)
	wantStatus(t, a.do("POST", "/customers/r", "first_name=Jon"), 200)
	if _, info := count("database available again", "disk is full"); info != 1 {
		t.Fatalf("the end of the outage logged %d times:\n%s", info, logs.String())
	}
	writes.Store(&diskFull) // a new episode is logged again
	wantStatus(t, a.do("POST", "/customers/r", "first_name=Jon"), 503)
	if warn, _ := count("request failed", "disk is full"); warn != 2 {
		t.Fatalf("a second episode logged %d warnings in all, want 2:\n%s", warn, logs.String())
	}

	gone := customerd.Unavailable(errors.New("sqlite: c.db was deleted while this process had it open"))
	pings.Store(&gone)
	writes.Store(&gone)
	for range 3 {
		wantStatus(t, a.do("GET", "/readyz", ""), 503)
		wantStatus(t, a.do("POST", "/customers", "object_reference_id=s&mobile_number=1"), 503)
	}
	if warn, _ := count("not ready", "was deleted"); warn != 1 {
		t.Fatalf("readiness failing 3 times logged %d warnings:\n%s", warn, logs.String())
	}
	// The same cause met by the writes is the same episode: logged once in all.
	if warn, _ := count("request failed", "was deleted"); warn != 0 {
		t.Fatalf("a cause already logged by the readiness check was logged again by %d writes:\n%s", warn, logs.String())
	}
}
