package metrics_test

import (
	"database/sql"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"customerd/metrics"
)

// scrape returns the text exposition of m.
func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("scrape: %d", rec.Code)
	}
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

func wantLines(t *testing.T, text string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains(text, "\n"+l+"\n") {
			t.Errorf("missing line %q", l)
		}
	}
}

func TestNilMetricsRecordNothing(t *testing.T) {
	var m *metrics.Metrics
	m.RequestStarted()
	m.ObserveRequest("/customers", "POST", 200, time.Millisecond)
	m.RequestEnded()
	m.CustomerCreated()
	m.CustomerUpdated()
	m.AuthFailure(metrics.AuthInvalidKey)
	m.RateLimited("merchant")
	if err := m.WatchDB(nil); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 404 {
		t.Fatalf("nil handler answered %d", rec.Code)
	}
}

func TestRequestsAreCountedByRoutePatternMethodAndStatus(t *testing.T) {
	m := metrics.New()
	m.RequestStarted()
	m.RequestStarted()
	m.ObserveRequest("/customers/{customer_id}", "GET", 404, 3*time.Millisecond)
	m.RequestEnded()
	m.ObserveRequest("unmatched", "BREW", 404, time.Millisecond)
	// A second request of a series already seen counts in the same series.
	m.ObserveRequest("/customers/{customer_id}", "GET", 200, time.Millisecond)
	m.ObserveRequest("/customers/{customer_id}", "GET", 200, 20*time.Millisecond)
	text := scrape(t, m)
	wantLines(t, text,
		`customerd_http_requests_total{method="GET",route="/customers/{customer_id}",status="404"} 1`,
		`customerd_http_requests_total{method="GET",route="/customers/{customer_id}",status="200"} 2`,
		`customerd_http_request_duration_seconds_bucket{method="GET",route="/customers/{customer_id}",status="200",le="0.001"} 1`,
		`customerd_http_request_duration_seconds_bucket{method="GET",route="/customers/{customer_id}",status="200",le="0.025"} 2`,
		`customerd_http_requests_total{method="other",route="unmatched",status="404"} 1`,
		`customerd_http_request_duration_seconds_bucket{method="GET",route="/customers/{customer_id}",status="404",le="0.0025"} 0`,
		`customerd_http_request_duration_seconds_bucket{method="GET",route="/customers/{customer_id}",status="404",le="0.005"} 1`,
		`customerd_http_request_duration_seconds_count{method="GET",route="/customers/{customer_id}",status="404"} 1`,
		`customerd_http_requests_in_flight 1`,
	)
	if strings.Contains(text, "BREW") {
		t.Error("an arbitrary method became a label value")
	}
}

func TestDomainCounters(t *testing.T) {
	m := metrics.New()
	m.CustomerCreated()
	m.CustomerCreated()
	m.CustomerUpdated()
	m.AuthFailure(metrics.AuthMerchantMismatch)
	m.RateLimited("merchant")
	wantLines(t, scrape(t, m),
		`customerd_customers_created_total 2`,
		`customerd_customers_updated_total 1`,
		`customerd_auth_failures_total{reason="merchant_mismatch"} 1`,
		`customerd_auth_failures_total{reason="invalid_key"} 0`,
		`customerd_rate_limited_total{limiter="merchant"} 1`,
	)
}

type fakePools map[string]sql.DBStats

func (f fakePools) DBStats() map[string]sql.DBStats { return f }

func TestDBPoolStats(t *testing.T) {
	m := metrics.New()
	err := m.WatchDB(fakePools{
		"read":  {MaxOpenConnections: 8, OpenConnections: 3, InUse: 1, Idle: 2, WaitCount: 5, WaitDuration: 1500 * time.Millisecond},
		"write": {MaxOpenConnections: 1, OpenConnections: 1, Idle: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, scrape(t, m),
		`customerd_db_max_open_connections{pool="read"} 8`,
		`customerd_db_open_connections{pool="read"} 3`,
		`customerd_db_in_use_connections{pool="read"} 1`,
		`customerd_db_idle_connections{pool="read"} 2`,
		`customerd_db_wait_count_total{pool="read"} 5`,
		`customerd_db_wait_duration_seconds_total{pool="read"} 1.5`,
		`customerd_db_max_open_connections{pool="write"} 1`,
	)
}
