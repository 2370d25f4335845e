package delivery_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"customerd"
	"customerd/delivery"
	"customerd/fieldcrypt"
	"customerd/postgres"
	"customerd/postgres/pgtest"
	"customerd/service"
	"customerd/sqlite"
	"customerd/webhook"
)

var ctx = context.Background()

func TestMain(m *testing.M) { pgtest.Main(m) }

// env is one process with deliveries on a fresh database: the service, its
// queue, a merchant, and a receiver the merchant's endpoints point at.
type env struct {
	svc    *service.Service
	queue  *delivery.Queue
	caller customerd.Caller
	recv   *receiver
	// reopen opens another process on the same database, as a restart or a
	// second node does.
	reopen func(t testing.TB, cfg envConfig) (*service.Service, *delivery.Queue)
}

// eachEngine runs fn on SQLite and, when the test server is configured, on
// PostgreSQL.
func eachEngine(t *testing.T, fn func(t *testing.T, engine string)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, "sqlite") })
	t.Run("postgres", func(t *testing.T) { fn(t, "postgres") })
}

// newEnv opens a process on a fresh database of engine, delivering with cfg
// (its retries made quick unless cfg says otherwise).
func newEnv(t testing.TB, engine string, cfg delivery.Config) *env {
	return newEnvHeld(t, engine, cfg, false)
}

// envConfig is how a process of an env delivers; with holdStart its queue
// is not started (svc.Start is the caller's).
type envConfig struct {
	delivery.Config
	holdStart bool
}

// newEnvHeld is newEnv whose queue does not deliver until hold is false or
// the caller starts it.
func newEnvHeld(t testing.TB, engine string, cfg delivery.Config, hold bool) *env {
	t.Helper()
	if cfg.RetryBase == 0 {
		cfg.RetryBase = 50 * time.Millisecond
	}
	cfg.AllowInsecure = true // the receivers listen on 127.0.0.1
	master, err := fieldcrypt.GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	var open func(t testing.TB, cfg delivery.Config) (customerd.Store, *delivery.Queue)
	switch engine {
	case "sqlite":
		path := filepath.Join(t.TempDir(), "c.db")
		open = func(t testing.TB, cfg delivery.Config) (customerd.Store, *delivery.Queue) {
			s, err := sqlite.Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			q, err := delivery.OpenSQLite(ctx, s, true, cfg)
			if err != nil {
				t.Fatal(err)
			}
			return s, q
		}
	default:
		u := pgtest.NewDatabase(t)
		open = func(t testing.TB, cfg delivery.Config) (customerd.Store, *delivery.Queue) {
			s, err := postgres.Open(ctx, u, postgres.Options{})
			if err != nil {
				t.Fatal(err)
			}
			q, err := delivery.OpenPostgres(ctx, u, 4, true, cfg)
			if err != nil {
				t.Fatal(err)
			}
			return s, q
		}
	}
	e := &env{recv: newReceiver(t)}
	e.reopen = func(t testing.TB, cfg envConfig) (*service.Service, *delivery.Queue) {
		if cfg.RetryBase == 0 {
			cfg.RetryBase = 50 * time.Millisecond
		}
		cfg.AllowInsecure = true
		store, q := open(t, cfg.Config)
		svc, err := service.New(ctx, service.Config{Store: store, Vault: fieldcrypt.NewVault(master), Deliveries: q,
			WebhookAllowInsecure: true, WebhookMaxAge: cfg.MaxAge})
		if err != nil {
			t.Fatal(err)
		}
		svc.StartBackground()
		t.Cleanup(func() { svc.Close() })
		if !cfg.holdStart {
			if err := q.Start(ctx, svc); err != nil {
				t.Fatal(err)
			}
		}
		return svc, q
	}
	e.svc, e.queue = e.reopen(t, envConfig{Config: cfg, holdStart: hold})
	if _, err := e.svc.CreateMerchant(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	e.caller = customerd.Caller{MerchantID: "acme", APIKeyPrefix: "cdk_0123456789ab", RequestID: "req-test"}
	return e
}

// endpoint creates an endpoint of the merchant at the receiver's path, for
// the event types given (every type when none), and tells the receiver its
// secret.
func (e *env) endpoint(t testing.TB, path string, types ...string) *customerd.WebhookEndpoint {
	t.Helper()
	events := customerd.AllEvents
	if len(types) > 0 {
		events = ""
		for i, typ := range types {
			if i > 0 {
				events += ","
			}
			events += typ
		}
	}
	ep, err := e.svc.CreateWebhookEndpoint(ctx, e.caller, customerd.EndpointRequest{
		URL: customerd.Present(e.recv.srv.URL + path), EnabledEvents: customerd.Present(events)})
	if err != nil {
		t.Fatal(err)
	}
	e.recv.secrets.Store(path, ep.Secret)
	return ep
}

// create makes a customer and returns it.
func (e *env) create(t testing.TB, ref string) *customerd.Customer {
	t.Helper()
	c, err := e.svc.CreateCustomer(ctx, e.caller, customerd.CreateRequest{ObjectReferenceID: customerd.Present(ref),
		MobileNumber: customerd.Present("99887766")})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// allEvents returns the ids of every event of the merchant's log.
func (e *env) allEvents(t testing.TB) []string {
	t.Helper()
	var ids []string
	q := customerd.EventQuery{Page: customerd.Page{Limit: customerd.MaxPageSize, Ascending: true}}
	for {
		evs, _, more, err := e.svc.ListEvents(ctx, e.caller.MerchantID, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			ids = append(ids, ev.ID)
		}
		if !more {
			return ids
		}
		q.StartingAfter = ids[len(ids)-1]
	}
}

// receiver is a webhook receiver on 127.0.0.1: it checks the signature of
// every delivery with webhook.Verify and counts the deliveries of each
// event, by path.
type receiver struct {
	srv     *httptest.Server
	secrets sync.Map // path -> secret
	// answer, when set, decides the status of a delivery whose signature
	// checked out (200 otherwise).
	answer atomic.Pointer[func(r *http.Request) int]
	// onDelivery, when set before the first delivery, sees each verified
	// event's JSON.
	onDelivery func(ev map[string]any)

	mu        sync.Mutex
	got       map[string]map[string]int // path -> event id -> deliveries answered 2xx
	attempts  map[string][]int          // event id -> customerd-delivery-attempt values seen
	badSigs   int
	wrongType int
}

func newReceiver(t testing.TB) *receiver {
	r := &receiver{got: map[string]map[string]int{}, attempts: map[string][]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return
	}
	secret, _ := r.secrets.Load(req.URL.Path)
	s, _ := secret.(string)
	var ev struct {
		ID   string `json:"id"`
		Type string `json:"type"`
	}
	if webhook.Verify(s, req.Header.Get(webhook.SignatureHeader), body, 0) != nil || json.Unmarshal(body, &ev) != nil ||
		ev.ID != req.Header.Get(webhook.EventIDHeader) || req.Header.Get("Content-Type") != "application/json" {
		r.mu.Lock()
		r.badSigs++
		r.mu.Unlock()
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if r.onDelivery != nil {
		var full map[string]any
		if json.Unmarshal(body, &full) == nil {
			r.onDelivery(full)
		}
	}
	status := http.StatusOK
	if f := r.answer.Load(); f != nil {
		status = (*f)(req)
	}
	var attempt int
	fmt.Sscan(req.Header.Get(webhook.AttemptHeader), &attempt)
	r.mu.Lock()
	r.attempts[ev.ID] = append(r.attempts[ev.ID], attempt)
	if status/100 == 2 {
		if r.got[req.URL.Path] == nil {
			r.got[req.URL.Path] = map[string]int{}
		}
		r.got[req.URL.Path][ev.ID]++
	}
	r.mu.Unlock()
	w.WriteHeader(status)
}

func (r *receiver) setAnswer(f func(r *http.Request) int) { r.answer.Store(&f) }

// delivered returns how many deliveries of each event path received.
func (r *receiver) delivered(path string) map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for id, n := range r.got[path] {
		out[id] = n
	}
	return out
}

// waitAll waits until path has received every event of ids, and fails the
// test with what is missing after within.
func (r *receiver) waitAll(t testing.TB, path string, ids []string, within time.Duration) map[string]int {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := r.delivered(path)
		missing := 0
		for _, id := range ids {
			if got[id] == 0 {
				missing++
			}
		}
		if missing == 0 {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events never arrived at %s within %v", missing, len(ids), path, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *receiver) bad() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.badSigs
}

func TestEveryEventOfAThousandUpdatesArrivesSigned(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine, delivery.Config{})
		e.endpoint(t, "/all")
		e.endpoint(t, "/created", customerd.EventCustomerCreated)
		var customers []*customerd.Customer
		for i := range 10 {
			customers = append(customers, e.create(t, fmt.Sprintf("ref-%d", i)))
		}
		var wg sync.WaitGroup
		errs := make(chan error, 1000)
		for w := range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 100 {
					_, err := e.svc.UpdateCustomer(ctx, e.caller, customers[w].ID,
						customerd.UpdateRequest{FirstName: customerd.Present(fmt.Sprintf("n%d", i))})
					if err != nil {
						errs <- err
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		all := e.allEvents(t)
		if len(all) != 1010 {
			t.Fatalf("%d events in the log, want 1010", len(all))
		}
		got := e.recv.waitAll(t, "/all", all, time.Minute)
		dups := 0
		for _, n := range got {
			dups += n - 1
		}
		if len(got) != len(all) || dups > len(all)/100 {
			t.Errorf("/all received %d distinct events, %d duplicates; want %d, under 1%%", len(got), dups, len(all))
		}
		// The other endpoint gets the created events, and only those.
		created := e.recv.waitAll(t, "/created", all[:10], 10*time.Second)
		time.Sleep(200 * time.Millisecond)
		if created = e.recv.delivered("/created"); len(created) != 10 {
			t.Errorf("/created received %d events, want the 10 customer.created", len(created))
		}
		if n := e.recv.bad(); n != 0 {
			t.Errorf("%d deliveries failed the signature check", n)
		}
		// Every delivery is an attempt on record (written just after the
		// receiver answered).
		eps, _, _, err := e.svc.ListWebhookEndpoints(ctx, "acme", customerd.Page{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		for _, ep := range eps {
			want := len(all)
			if ep.EnabledEvents[0] == customerd.EventCustomerCreated {
				want = 10
			}
			waitFor(t, func() bool {
				attempts, total, _, err := e.svc.ListWebhookAttempts(ctx, "acme", ep.ID, customerd.Page{Limit: 1})
				if err != nil {
					t.Fatal(err)
				}
				return total >= want && attempts[0].Delivered && attempts[0].StatusCode == 200
			}, fmt.Sprintf("%d delivered attempts at %s", want, ep.URL))
		}
	})
}

func TestAFailingReceiverGetsEveryEventOnceItRecovers(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine, delivery.Config{RetryBase: 100 * time.Millisecond})
		ep := e.endpoint(t, "/flaky")
		failUntil := time.Now().Add(1500 * time.Millisecond)
		e.recv.setAnswer(func(*http.Request) int {
			if time.Now().Before(failUntil) {
				return http.StatusInternalServerError
			}
			return http.StatusOK
		})
		for i := range 20 {
			e.create(t, fmt.Sprintf("ref-%d", i))
		}
		all := e.allEvents(t)
		e.recv.waitAll(t, "/flaky", all, 30*time.Second)
		// Each event was tried, failed with 500 and was retried: the attempts
		// say so, numbered from 1, the last one delivered (recorded just
		// after the receiver answered).
		var attempts []customerd.WebhookAttempt
		var total int
		waitFor(t, func() bool {
			var err error
			if attempts, total, _, err = e.svc.ListWebhookAttempts(ctx, "acme", ep.ID, customerd.Page{Limit: 100, Ascending: true}); err != nil {
				t.Fatal(err)
			}
			delivered := 0
			for _, a := range attempts {
				if a.Delivered {
					delivered++
				}
			}
			return delivered == len(all) || total > 100
		}, "every delivery's attempt to be recorded")
		if total < 2*len(all) {
			t.Fatalf("%d attempts for %d events that failed at first", total, len(all))
		}
		byEvent := map[string][]customerd.WebhookAttempt{}
		for _, a := range attempts {
			byEvent[a.EventID] = append(byEvent[a.EventID], a)
		}
		for id, as := range byEvent {
			for i, a := range as {
				last := i == len(as)-1
				switch {
				case a.Attempt != i+1:
					t.Errorf("%s: attempt %d numbered %d", id, i+1, a.Attempt)
				case !last && (a.StatusCode != 500 || a.Delivered || a.NextRetry.IsZero() || a.Error == ""):
					t.Errorf("%s: failed attempt %+v", id, a)
				case last && total <= 100 && (!a.Delivered || a.StatusCode != 200 || !a.NextRetry.IsZero() || a.Error != ""):
					t.Errorf("%s: last attempt %+v", id, a)
				}
			}
		}
		e.recv.mu.Lock()
		defer e.recv.mu.Unlock()
		for id, seen := range e.recv.attempts {
			for i, n := range seen {
				if n != i+1 {
					t.Fatalf("%s: the receiver saw attempt headers %v", id, seen)
				}
			}
		}
	})
}

func TestARolledBackChangeSendsNothing(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine, delivery.Config{})
		e.endpoint(t, "/hook")
		e.create(t, "taken")
		// A create that conflicts is rolled back with its event and its
		// delivery; on SQLite it shares its group commit with one that
		// succeeds.
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ref := "taken"
				if i%2 == 0 {
					ref = fmt.Sprintf("fresh-%d", i)
				}
				e.svc.CreateCustomer(ctx, e.caller, customerd.CreateRequest{ObjectReferenceID: customerd.Present(ref),
					MobileNumber: customerd.Present("99887766")})
			}()
		}
		wg.Wait()
		all := e.allEvents(t)
		if len(all) != 11 {
			t.Fatalf("%d events, want 11", len(all))
		}
		e.recv.waitAll(t, "/hook", all, 10*time.Second)
		time.Sleep(300 * time.Millisecond)
		if got := e.recv.delivered("/hook"); len(got) != len(all) {
			t.Fatalf("received %d events, the log has %d", len(got), len(all))
		}
		st, err := e.queue.Stats(ctx)
		if err != nil || st.Pending != 0 {
			t.Fatalf("pending deliveries %+v, %v; want none", st, err)
		}
	})
}

func TestAHangingReceiverNeitherSlowsTheAPINorHoldsADeliveryPast10s(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		t.Parallel()
		// Few workers, all of them held by the receiver.
		e := newEnv(t, engine, delivery.Config{Workers: 4})
		release := make(chan struct{})
		e.recv.setAnswer(func(r *http.Request) int {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return http.StatusOK
		})
		t.Cleanup(func() { close(release) })
		ep := e.endpoint(t, "/hang")
		c := e.create(t, "hung")
		start := time.Now()
		var slowest time.Duration
		for i := range 200 {
			t0 := time.Now()
			if _, err := e.svc.UpdateCustomer(ctx, e.caller, c.ID, customerd.UpdateRequest{FirstName: customerd.Present(fmt.Sprint(i))}); err != nil {
				t.Fatal(err)
			}
			slowest = max(slowest, time.Since(t0))
		}
		// 200 updates with every delivery worker stuck: none of them waited
		// for a delivery (each would take 10 s).
		if slowest > 2*time.Second {
			t.Errorf("the slowest of 200 updates took %v while the receiver hung", slowest)
		}
		t.Logf("200 updates in %v while the receiver hung (slowest %v)", time.Since(start).Round(time.Millisecond), slowest.Round(time.Millisecond))
		// The first attempts time out at 10 s, and are recorded as such.
		deadline := time.Now().Add(30 * time.Second)
		for {
			attempts, _, _, err := e.svc.ListWebhookAttempts(ctx, "acme", ep.ID, customerd.Page{Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			if len(attempts) > 0 {
				a := attempts[0]
				if a.Delivered || a.StatusCode != 0 || a.Error != "timeout after 10s" || a.Duration < 9500*time.Millisecond ||
					a.Duration > 12*time.Second || a.NextRetry.IsZero() {
					t.Fatalf("a hung attempt was recorded as %+v", a)
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("no attempt was recorded 30 s after the receiver hung")
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}

func TestResendDisableAndDelete(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine, delivery.Config{RetryBase: 100 * time.Millisecond})
		ep := e.endpoint(t, "/hook")
		e.create(t, "one")
		first := e.allEvents(t)
		e.recv.waitAll(t, "/hook", first, 10*time.Second)
		// The attempt is recorded after the receiver answered it; a resend
		// continues the count recorded.
		waitFor(t, func() bool {
			attempts, _, _, err := e.svc.ListWebhookAttempts(ctx, "acme", ep.ID, customerd.Page{Limit: 10})
			return err == nil && len(attempts) == 1
		}, "the first attempt's record")

		// A resend delivers once more, as attempt 2.
		ev, err := e.svc.ResendEvent(ctx, e.caller, first[0], ep.ID)
		if err != nil || ev.ID != first[0] {
			t.Fatalf("resend: %v, %v", ev, err)
		}
		waitFor(t, func() bool { return e.recv.delivered("/hook")[first[0]] == 2 }, "the resent event")
		e.recv.mu.Lock()
		seen := fmt.Sprint(e.recv.attempts[first[0]])
		e.recv.mu.Unlock()
		if seen != "[1 2]" {
			t.Errorf("attempt headers %s, want [1 2]", seen)
		}

		// Disabled, the endpoint's pending deliveries wait; enabled, they
		// arrive.
		if _, err := e.svc.UpdateWebhookEndpoint(ctx, e.caller, ep.ID, customerd.EndpointRequest{Disabled: customerd.Present("true")}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.ResendEvent(ctx, e.caller, first[0], ep.ID); customerd.ErrorCode(err) != customerd.EINVALID {
			t.Fatalf("resend to a disabled endpoint: %v", err)
		}
		e.create(t, "two")
		// An event made while the endpoint is disabled is not for it.
		time.Sleep(500 * time.Millisecond)
		if got := e.recv.delivered("/hook"); len(got) != 1 {
			t.Fatalf("a disabled endpoint received %v", got)
		}
		e.recv.setAnswer(func(*http.Request) int { return http.StatusServiceUnavailable })
		if _, err := e.svc.UpdateWebhookEndpoint(ctx, e.caller, ep.ID, customerd.EndpointRequest{Disabled: customerd.Present("false")}); err != nil {
			t.Fatal(err)
		}
		e.create(t, "three")
		all := e.allEvents(t)
		// It fails (503) and is retried; pausing the endpoint pauses the retries.
		waitFor(t, func() bool {
			_, total, _, _ := e.svc.ListWebhookAttempts(ctx, "acme", ep.ID, customerd.Page{Limit: 1})
			return total >= 4
		}, "a failed attempt at event three")
		if _, err := e.svc.UpdateWebhookEndpoint(ctx, e.caller, ep.ID, customerd.EndpointRequest{Disabled: customerd.Present("true")}); err != nil {
			t.Fatal(err)
		}
		// Deliveries see an endpoint's change within a second (they keep
		// what they read that long); then no retry is made.
		time.Sleep(1300 * time.Millisecond)
		_, paused, _, _ := e.svc.ListWebhookAttempts(ctx, "acme", ep.ID, customerd.Page{Limit: 1})
		time.Sleep(700 * time.Millisecond)
		if _, total, _, _ := e.svc.ListWebhookAttempts(ctx, "acme", ep.ID, customerd.Page{Limit: 1}); total != paused {
			t.Fatalf("a disabled endpoint was tried: %d attempts, then %d", paused, total)
		}
		e.recv.setAnswer(func(*http.Request) int { return http.StatusOK })
		if _, err := e.svc.UpdateWebhookEndpoint(ctx, e.caller, ep.ID, customerd.EndpointRequest{Disabled: customerd.Present("false")}); err != nil {
			t.Fatal(err)
		}
		e.recv.waitAll(t, "/hook", all[2:], 10*time.Second)
		if got := e.recv.delivered("/hook"); got[all[1]] != 0 {
			t.Errorf("event two, made while the endpoint was disabled, was delivered")
		}

		// Deleted, its pending deliveries are dropped.
		e.recv.setAnswer(func(*http.Request) int { return http.StatusBadGateway })
		e.create(t, "four")
		waitFor(t, func() bool {
			st, _ := e.queue.Stats(ctx)
			return st.Pending == 1
		}, "a pending delivery")
		if _, err := e.svc.DeleteWebhookEndpoint(ctx, e.caller, ep.ID); err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool {
			st, _ := e.queue.Stats(ctx)
			return st.Pending == 0
		}, "the deleted endpoint's delivery to be dropped")
	})
}

func TestStopWaitsForDeliveriesInFlight(t *testing.T) {
	e := newEnv(t, "sqlite", delivery.Config{})
	arrived := make(chan struct{}, 1)
	e.recv.setAnswer(func(*http.Request) int {
		arrived <- struct{}{}
		time.Sleep(500 * time.Millisecond)
		return http.StatusOK
	})
	ep := e.endpoint(t, "/slow")
	e.create(t, "one")
	<-arrived
	stopCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := e.queue.Stop(stopCtx); err != nil {
		t.Fatal(err)
	}
	// The delivery in flight finished and was recorded before Stop returned.
	attempts, _, _, err := e.svc.ListWebhookAttempts(ctx, "acme", ep.ID, customerd.Page{Limit: 1})
	if err != nil || len(attempts) != 1 || !attempts[0].Delivered {
		t.Fatalf("after Stop: %+v, %v", attempts, err)
	}
}

func waitFor(t testing.TB, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAnImportSendsWebhooksOnlyWhenAskedTo(t *testing.T) {
	e := newEnv(t, "sqlite", delivery.Config{})
	e.endpoint(t, "/hook")
	items := func(prefix string) []service.ImportItem {
		var out []service.ImportItem
		for i := range 5 {
			c, err := customerd.NewCustomer("acme", customerd.CreateRequest{ObjectReferenceID: customerd.Present(fmt.Sprintf("%s-%d", prefix, i)),
				MobileNumber: customerd.Present("99887766")}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, service.ImportItem{Customer: c})
		}
		return out
	}
	if _, err := e.svc.ImportCustomers(ctx, e.caller, service.ImportOptions{}, items("quiet")); err != nil {
		t.Fatal(err)
	}
	quiet := e.allEvents(t)
	if _, err := e.svc.ImportCustomers(ctx, e.caller, service.ImportOptions{Notify: true}, items("loud")); err != nil {
		t.Fatal(err)
	}
	all := e.allEvents(t)
	if len(quiet) != 5 || len(all) != 10 {
		t.Fatalf("%d events, then %d; want one per imported customer", len(quiet), len(all))
	}
	e.recv.waitAll(t, "/hook", all[5:], 10*time.Second)
	time.Sleep(300 * time.Millisecond)
	if got := e.recv.delivered("/hook"); len(got) != 5 {
		t.Fatalf("received %d events: the import without --notify sent some", len(got))
	}
}
