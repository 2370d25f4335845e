package dashboard_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"customerd"
	"customerd/dashboard"
	"customerd/fieldcrypt"
	"customerd/httpapi"
	"customerd/internal/syncbuf"
	"customerd/service"
	"customerd/sqlite"
)

var ctx = context.Background()

// clock is a settable clock, shared by the server's limits and sessions.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// testDash is the dashboard as serve mounts it, in the API's server, on a
// real service over a SQLite file.
type testDash struct {
	t         *testing.T
	svc       *service.Service
	srv       *httptest.Server
	key       string // merchant m1's key
	clock     *clock
	accessLog *syncbuf.Buffer
}

type options struct {
	authFailures int
	keyCacheTTL  time.Duration
}

func newTestDash(t *testing.T, o options) *testDash {
	t.Helper()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "d.db"))
	if err != nil {
		t.Fatal(err)
	}
	mk, err := fieldcrypt.GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	d := &testDash{t: t, clock: newClock(), accessLog: &syncbuf.Buffer{}}
	d.svc, err = service.New(ctx, service.Config{Store: st, Vault: fieldcrypt.NewVault(mk), KeyCacheTTL: o.keyCacheTTL,
		WebhookAllowInsecure: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.svc.Close() })
	if d.key, err = d.svc.CreateMerchant(ctx, "m1"); err != nil {
		t.Fatal(err)
	}
	d.srv = httptest.NewServer(httpapi.New(httpapi.Config{Service: d.svc, Now: d.clock.now, AccessLog: d.accessLog,
		AuthFailures: o.authFailures, AuthFailWindow: time.Minute, Dashboard: &dashboard.Config{}}))
	t.Cleanup(d.srv.Close)
	return d
}

// browser is one cookie jar against the server; it does not follow
// redirects, so that tests see them.
type browser struct {
	d      *testDash
	client *http.Client
	csrf   string // the token of the last page that had a form
}

func (d *testDash) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{d: d, client: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// page is an answer of the dashboard.
type page struct {
	status   int
	header   http.Header
	body     string
	location string
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (b *browser) do(req *http.Request) *page {
	b.d.t.Helper()
	res, err := b.client.Do(req)
	if err != nil {
		b.d.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	p := &page{status: res.StatusCode, header: res.Header, body: string(body), location: res.Header.Get("Location")}
	if m := csrfField.FindStringSubmatch(p.body); m != nil {
		b.csrf = m[1]
	}
	return p
}

func (b *browser) get(path string) *page {
	b.d.t.Helper()
	req, _ := http.NewRequest("GET", b.d.srv.URL+path, nil)
	return b.do(req)
}

// post sends a form, with the CSRF token of the last page unless form
// has one (or an explicit empty one).
func (b *browser) post(path string, form url.Values) *page {
	b.d.t.Helper()
	if _, set := form["csrf"]; !set {
		form.Set("csrf", b.csrf)
	}
	req, _ := http.NewRequest("POST", b.d.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// signIn signs in with key and wants to land on the customers.
func (b *browser) signIn(key string) {
	b.d.t.Helper()
	b.get("/dashboard/signin")
	p := b.post("/dashboard/signin", url.Values{"api_key": {key}})
	if p.status != http.StatusSeeOther || p.location != "/dashboard/customers" {
		b.d.t.Fatalf("sign-in: %d to %q\n%s", p.status, p.location, p.body)
	}
}

// signedOut reports whether p sends the browser to sign in.
func (p *page) signedOut() bool {
	return p.status == http.StatusSeeOther && p.location == "/dashboard/signin"
}

// create makes a customer through the service, as the API would.
func (d *testDash) create(ref, mobile, email, first string) *customerd.Customer {
	d.t.Helper()
	req := customerd.CreateRequest{ObjectReferenceID: customerd.Present(ref), MobileNumber: customerd.Present(mobile)}
	if email != "" {
		req.EmailAddress = customerd.Present(email)
	}
	if first != "" {
		req.FirstName = customerd.Present(first)
	}
	c, err := d.svc.CreateCustomer(ctx, customerd.Caller{MerchantID: "m1", APIKeyPrefix: "cdk_test", RequestID: "t"}, req)
	if err != nil {
		d.t.Fatal(err)
	}
	return c
}

func wantStatus(t *testing.T, p *page, status int) {
	t.Helper()
	if p.status != status {
		t.Fatalf("status %d, want %d\n%s", p.status, status, p.body)
	}
}
