package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"customerd/postgres/pgtest"
	"customerd/webhook"
)

// hookReceiver counts the signed deliveries of each event; the rest are
// refused as a receiver refuses forgeries.
type hookReceiver struct {
	srv    *httptest.Server
	secret atomic.Pointer[string]

	mu      sync.Mutex
	got     map[string]int
	badSigs int
}

func newHookReceiver(t *testing.T) *hookReceiver {
	r := &hookReceiver{got: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		secret := ""
		if s := r.secret.Load(); s != nil {
			secret = *s
		}
		var ev struct{ ID string }
		if webhook.Verify(secret, req.Header.Get(webhook.SignatureHeader), body, 0) != nil || json.Unmarshal(body, &ev) != nil {
			r.mu.Lock()
			r.badSigs++
			r.mu.Unlock()
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		time.Sleep(5 * time.Millisecond) // a receiver that does some work: deliveries are in flight at the kill
		r.mu.Lock()
		r.got[ev.ID]++
		r.mu.Unlock()
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *hookReceiver) missing(ids []string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, id := range ids {
		if r.got[id] == 0 {
			n++
		}
	}
	return n
}

func TestKill9DuringDeliveriesLosesNoWebhook(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		killDuringDeliveries(t, "sqlite:"+filepath.Join(t.TempDir(), "hooks.db"))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		killDuringDeliveries(t, pgtest.NewSchema(t))
	})
}

// killDuringDeliveries makes changes against the binary while their
// webhooks are delivered, kills it with SIGKILL, restarts it, and checks
// that the event of every change in the log (every acknowledged one among
// them) reaches the receiver.
func killDuringDeliveries(t *testing.T, db string) {
	bin := customerdBinary(t)
	key := newMerchant(t, bin, db)
	recv := newHookReceiver(t)
	flags := []string{"--rate-limit", "0", "--webhook-allow-insecure", "--webhook-retry-base", "200ms", "--webhook-rescue-after", "30s"}
	p := startProc(t, bin, db, flags...)
	client := newAPIClient(p.addr, key, 8)
	status, ep, err := client.call("POST", "/webhook_endpoints", url.Values{"url": {recv.srv.URL + "/hook"}})
	if err != nil || status != 200 {
		t.Fatalf("create endpoint: %d %v %v", status, ep, err)
	}
	secret := ep["secret"].(string)
	recv.secret.Store(&secret)

	var acked atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ref := fmt.Sprintf("hook-%d", w)
			if status, _, err := client.call("POST", "/customers", url.Values{"object_reference_id": {ref}, "mobile_number": {"1"}}); err != nil || status != 200 {
				return
			}
			acked.Add(1)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if status, _, err := client.call("POST", "/customers/"+ref, url.Values{"first_name": {fmt.Sprint("n", i)}}); err != nil || status != 200 {
					return // the server died under us
				}
				acked.Add(1)
			}
		}()
	}
	// Kill it in the middle of the work: once 50 changes are acknowledged
	// (and so have deliveries queued or in flight), however fast the
	// machine makes them.
	for deadline := time.Now().Add(time.Minute); acked.Load() < 50; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d changes were acknowledged in a minute", acked.Load())
		}
	}
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.exited
	close(stop)
	wg.Wait()

	p = startProc(t, bin, db, flags...)
	client = newAPIClient(p.addr, key, 2)
	ids := allEventIDs(t, client)
	if int64(len(ids)) < acked.Load() {
		t.Fatalf("the log has %d events for %d acknowledged changes", len(ids), acked.Load())
	}
	// Deliveries claimed when the process died are made again once the
	// rescue time has passed: 30 s, and River looks every 30 s.
	deadline := time.Now().Add(100 * time.Second)
	for recv.missing(ids) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events never arrived after the restart\n%s", recv.missing(ids), len(ids), p.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	recv.mu.Lock()
	defer recv.mu.Unlock()
	dups := 0
	for _, n := range recv.got {
		dups += n - 1
	}
	if recv.badSigs != 0 {
		t.Errorf("%d deliveries failed the signature check", recv.badSigs)
	}
	t.Logf("%d acknowledged changes, %d events, all delivered; %d delivered twice (around the kill)", acked.Load(), len(ids), dups)
}

// allEventIDs reads the merchant's whole event log.
func allEventIDs(t *testing.T, client *apiClient) []string {
	t.Helper()
	var ids []string
	after := ""
	for {
		path := "/events?order=asc&count=100"
		if after != "" {
			path += "&starting_after=" + after
		}
		status, page, err := client.call("GET", path, nil)
		if err != nil || status != 200 {
			t.Fatalf("GET %s: %d %v %v", path, status, page, err)
		}
		list, _ := page["list"].([]any)
		for _, e := range list {
			ids = append(ids, e.(map[string]any)["id"].(string))
		}
		if page["has_more"] != true {
			return ids
		}
		after = ids[len(ids)-1]
	}
}

func TestWebhookCommand(t *testing.T) {
	env := map[string]string{"CUSTOMERD_DB": "sqlite:" + filepath.Join(t.TempDir(), "c.db")}
	if _, _, err := cli(t, env, "merchant", "create", "acme"); err != nil {
		t.Fatal(err)
	}
	out, _, err := cli(t, env, "webhook", "create", "--merchant", "acme", "--url", "https://93.184.216.34/hooks",
		"--events", "customer.created,customer.deleted", "--description", "CRM")
	m := regexp.MustCompile(`created webhook endpoint (we_[a-z0-9]{16}) for https://93\.184\.216\.34/hooks \(events: customer\.created,customer\.deleted\)\n` +
		`signing secret \(shown once; .*\):\n(whsec_[A-Za-z0-9_-]{43})\n$`).FindStringSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("webhook create: %q, %v", out, err)
	}
	id := m[1]
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"create", "--merchant", "acme", "--url", "https://127.0.0.1/hooks"}, "url: resolves to a loopback address (127.0.0.1)"},
		{[]string{"create", "--merchant", "acme", "--url", "https://93.184.216.34/", "--events", "customer.merged"}, `unknown event type "customer.merged"`},
		{[]string{"create", "--merchant", "nobody", "--url", "https://93.184.216.34/"}, `merchant "nobody" does not exist`},
		{[]string{"create", "--url", "https://93.184.216.34/"}, "--merchant is required"},
		{[]string{"create", "--merchant", "acme"}, "--url is required"},
		{[]string{"disable", "--merchant", "acme", "we_0000000000000000"}, `merchant "acme" has no webhook endpoint "we_0000000000000000"`},
	} {
		if _, _, err := cli(t, env, append([]string{"webhook"}, tc.args...)...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("webhook %v: %v, want %q", tc.args, err, tc.want)
		}
	}
	out, _, err = cli(t, env, "webhook", "disable", "--merchant", "acme", id)
	if err != nil || !strings.HasPrefix(out, "disabled "+id) {
		t.Fatalf("disable: %q %v", out, err)
	}
	out, _, err = cli(t, env, "webhook", "list", "--merchant", "acme")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if err != nil || len(lines) != 2 || !strings.HasPrefix(lines[0], "ENDPOINT") || !strings.Contains(lines[1], id) ||
		!strings.Contains(lines[1], "disabled") || !strings.Contains(lines[1], "CRM") || strings.Contains(out, "whsec_") {
		t.Fatalf("list: %q %v", out, err)
	}
	if out, _, err = cli(t, env, "webhook", "enable", "--merchant", "acme", id); err != nil || !strings.HasPrefix(out, "enabled "+id) {
		t.Fatalf("enable: %q %v", out, err)
	}
	if out, _, err = cli(t, env, "webhook", "delete", "--merchant", "acme", id); err != nil || !strings.HasPrefix(out, "deleted "+id) {
		t.Fatalf("delete: %q %v", out, err)
	}
	if out, _, err = cli(t, env, "webhook", "list", "--merchant", "acme"); err != nil || strings.Contains(out, id) {
		t.Fatalf("list after delete: %q %v", out, err)
	}
	if _, stderr, err := cli(t, env, "webhook", "remove", "--merchant", "acme", id); err == nil || !strings.Contains(stderr, `did you mean "delete"`) && !strings.Contains(stderr, "unknown subcommand") {
		t.Fatalf("an unknown subcommand: %q %v", stderr, err)
	}
}
