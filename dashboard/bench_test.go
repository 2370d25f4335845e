package dashboard_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"customerd/dashboard"
	"customerd/fieldcrypt"
	"customerd/httpapi"
	"customerd/loadtest"
	"customerd/service"
	"customerd/sqlite"
)

// BenchmarkCustomersPage serves the customers list of a merchant with a
// million customers (CUSTOMERD_BENCH_CUSTOMERS to change), seeded as the
// load tests seed theirs, through the server as serve mounts it, without a
// network: the first page, a page from a cursor, and a search by email.
// Seeding takes about half a minute. Run with
//
//	go test -run '^$' -bench CustomersPage -benchtime 200x ./dashboard
func BenchmarkCustomersPage(b *testing.B) {
	n := 1_000_000
	if v := os.Getenv("CUSTOMERD_BENCH_CUSTOMERS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	mk, err := fieldcrypt.GenerateMasterKey()
	if err != nil {
		b.Fatal(err)
	}
	svc, err := service.New(ctx, service.Config{Store: st, Vault: fieldcrypt.NewVault(mk)})
	if err != nil {
		b.Fatal(err)
	}
	defer svc.Close()
	start := time.Now()
	key, err := loadtest.Seed(ctx, svc, loadtest.SeedConfig{MerchantID: "m1", Customers: n})
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d customers in %v", n, time.Since(start).Round(time.Second))
	srv := httpapi.New(httpapi.Config{Service: svc, Dashboard: &dashboard.Config{}})
	cookie, csrf := benchSignIn(b, srv, key)

	get := func(target string) func() *http.Request {
		return func() *http.Request {
			r := httptest.NewRequest("GET", target, nil)
			r.AddCookie(cookie)
			return r
		}
	}
	middle := loadtest.CustomerID(n / 2)
	search := func() *http.Request {
		form := url.Values{"csrf": {csrf}, "by": {"email_address"}, "q": {loadtest.Email(n / 3)}}
		r := httptest.NewRequest("POST", "/dashboard/customers/search", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.AddCookie(cookie)
		return r
	}
	for _, bc := range []struct {
		name string
		req  func() *http.Request
		want string
	}{
		{"first page", get("/dashboard/customers"), "?after=cst_"},
		{"page from a cursor", get("/dashboard/customers?after=" + middle), "?before=cst_"},
		{"search by email", search, "1 customer matches"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var worst time.Duration
			for b.Loop() {
				w := httptest.NewRecorder()
				t0 := time.Now()
				srv.ServeHTTP(w, bc.req())
				worst = max(worst, time.Since(t0))
				if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), bc.want) {
					b.Fatalf("%d, without %q:\n%s", w.Code, bc.want, w.Body.String())
				}
			}
			b.ReportMetric(float64(worst.Microseconds())/1000, "max-ms")
		})
	}
}

// benchSignIn signs in through the forms and returns the session's cookie
// and CSRF token.
func benchSignIn(b *testing.B, srv http.Handler, key string) (*http.Cookie, string) {
	w := httptest.NewRecorder()
	srv.ServeHTTP(w, httptest.NewRequest("GET", "/dashboard/signin", nil))
	token := csrfField.FindStringSubmatch(w.Body.String())[1]
	form := url.Values{"csrf": {token}, "api_key": {key}}
	r := httptest.NewRequest("POST", "/dashboard/signin", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.AddCookie(w.Result().Cookies()[0])
	w = httptest.NewRecorder()
	srv.ServeHTTP(w, r)
	var session *http.Cookie
	for _, c := range w.Result().Cookies() {
		if c.Name == "customerd_session" {
			session = c
		}
	}
	if session == nil {
		b.Fatalf("sign-in: %d %s", w.Code, w.Body.String())
	}
	r = httptest.NewRequest("GET", "/dashboard/customers", nil)
	r.AddCookie(session)
	w = httptest.NewRecorder()
	srv.ServeHTTP(w, r)
	return session, csrfField.FindStringSubmatch(w.Body.String())[1]
}
