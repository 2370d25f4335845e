package httpapi

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"customerd"
	"customerd/fieldcrypt"
	"customerd/service"
	"customerd/sqlite"
)

// Benchmarks of the request path. Run with
// go test -run '^$' -bench . -benchmem ./httpapi

func BenchmarkParseForm(b *testing.B) {
	body := "mobile_number=9876543210&first_name=Load123&email_address=jon%40example.com"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseForm(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseJSON(b *testing.B) {
	body := []byte(`{"mobile_number":9876543210,"first_name":"Load123","email_address":"jon@example.com"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseJSON(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBasicUsername(b *testing.B) {
	h := "Basic " + base64.StdEncoding.EncodeToString([]byte("cdk_0123456789abcdef0123456789abcdef01234567:"))
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := basicUsername(h); !ok {
			b.Fatal("no username")
		}
	}
}

func benchCustomer() *customerd.Customer {
	t := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	return &customerd.Customer{ID: "cst_ld0123456789abcd", MerchantID: "m1", ObjectReferenceID: "load-123456",
		MobileNumber: "9876543210", MobileCountryCode: "91", EmailAddress: "load123456@example.com",
		FirstName: "Load", LastName: "Customer123456", DateCreated: t, LastUpdated: t}
}

func BenchmarkAppendCustomer(b *testing.B) {
	c := benchCustomer()
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = appendCustomer(buf[:0], c, nil)
	}
}

// discardWriter is the cheapest http.ResponseWriter, so that the benchmark
// counts the handler's allocations and not httptest's.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}

// BenchmarkServe runs whole requests through the handler on a real SQLite
// store, without a network: decode, authenticate, look up or write, encode.
func BenchmarkServe(b *testing.B) {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	mk, err := fieldcrypt.GenerateMasterKey()
	if err != nil {
		b.Fatal(err)
	}
	newService := func(keyCacheTTL time.Duration) *service.Service {
		svc, err := service.New(ctx, service.Config{Store: store, Vault: fieldcrypt.NewVault(mk), KeyCacheTTL: keyCacheTTL})
		if err != nil {
			b.Fatal(err)
		}
		return svc
	}
	svc := newService(0)
	defer svc.Close()
	key, err := svc.CreateMerchant(ctx, "m1")
	if err != nil {
		b.Fatal(err)
	}
	c := benchCustomer()
	if err := svc.InsertCustomers(ctx, customerd.Caller{MerchantID: "m1", RequestID: "bench"}, c); err != nil {
		b.Fatal(err)
	}
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(key+":"))
	srv := New(Config{Service: svc})
	run := func(b *testing.B, method, target, body string) {
		runOn(b, srv, auth, method, target, body)
	}
	b.Run("get", func(b *testing.B) { run(b, "GET", "/customers/"+c.ID, "") })
	b.Run("get/no-key-cache", func(b *testing.B) {
		runOn(b, New(Config{Service: newService(-1)}), auth, "GET", "/customers/"+c.ID, "")
	})
	b.Run("get/default-limits", func(b *testing.B) {
		// serve's defaults: 60 failed authentications a minute per address.
		runOn(b, New(Config{Service: svc, AuthFailures: 60, AuthFailWindow: time.Minute}), auth, "GET", "/customers/"+c.ID, "")
	})
	b.Run("get-ref", func(b *testing.B) { run(b, "GET", "/customers/"+c.ObjectReferenceID, "") })
	b.Run("update", func(b *testing.B) {
		run(b, "POST", "/customers/"+c.ID, "mobile_number=9876543210&first_name=Load123")
	})
	// Lists need more than one customer: 30 more, after the cases above.
	var more []*customerd.Customer
	for i := range 30 {
		m := *c
		m.ID, m.ObjectReferenceID, m.EmailAddress = fmt.Sprintf("cst_ld%014d", i), fmt.Sprint("load-", i), fmt.Sprint("load", i, "@example.com")
		more = append(more, &m)
	}
	if err := svc.InsertCustomers(ctx, customerd.Caller{MerchantID: "m1", RequestID: "bench"}, more...); err != nil {
		b.Fatal(err)
	}
	b.Run("search-email", func(b *testing.B) { run(b, "GET", "/customers?email_address=load7%40example.com", "") })
	b.Run("list", func(b *testing.B) { run(b, "GET", "/customers?count=10&starting_after="+more[20].ID, "") })
}

func runOn(b *testing.B, srv *Server, auth, method, target, body string) {
	req, err := http.NewRequest(method, "http://customerd"+target, nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", auth)
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	w := &discardWriter{}
	b.ReportAllocs()
	for b.Loop() {
		req.Body = io.NopCloser(strings.NewReader(body))
		w.h = http.Header{}
		srv.ServeHTTP(w, req)
	}
}
