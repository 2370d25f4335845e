package httpapi_test

import (
	"strings"
	"testing"

	"customerd/api"
	"customerd/httpapi"
	"customerd/metrics"
)

func TestReadyzAnswersFromTheDatabase(t *testing.T) {
	a := newTestAPI(t)
	r := a.do("GET", "/readyz", "", noAuth())
	wantStatus(t, r, 200)
	wantBody(t, r, `{"status":"ready"}`)

	a.svc.Store().Close()
	r = a.do("GET", "/readyz", "", noAuth())
	wantStatus(t, r, 503)
	if r.str("error_code") != "service_unavailable" || r.str("request_id") != r.header.Get("X-Request-Id") {
		t.Fatalf("body %s", r.body)
	}
	if r.header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
	// Liveness does not depend on the database.
	wantStatus(t, a.do("GET", "/healthz", "", noAuth()), 200)
}

func TestOpenAPIDocumentIsServedWithoutAuth(t *testing.T) {
	a := newTestAPI(t)
	r := a.do("GET", "/openapi.yaml", "", noAuth())
	wantStatus(t, r, 200)
	if r.header.Get("Content-Type") != "application/yaml" || string(r.body) != string(api.YAML()) {
		t.Fatalf("Content-Type %q, %d bytes", r.header.Get("Content-Type"), len(r.body))
	}
	r = a.do("GET", "/openapi.json", "", noAuth())
	wantStatus(t, r, 200)
	if r.str("openapi") != "3.1.0" {
		t.Fatalf("openapi %q", r.str("openapi"))
	}
	paths, _ := r.json["paths"].(map[string]any)
	for _, p := range []string{"/customers", "/customers/{customer_id}"} {
		if paths[p] == nil {
			t.Errorf("%s missing from /openapi.json", p)
		}
	}
	r = a.do("POST", "/openapi.json", "", noAuth())
	wantStatus(t, r, 405)
}

func TestMetricsOnThePublicPortOnlyWhenConfigured(t *testing.T) {
	m := metrics.New()
	a := newTestAPIWith(t, func(c *httpapi.Config) {
		c.Metrics = m
		c.MetricsHandler = m.Handler()
	})
	a.create("object_reference_id=r&mobile_number=1")
	a.do("POST", "/customers/r", "first_name=Jon")
	a.do("GET", "/customers/cst_aaaaaaaaaaaaaaaa", "")
	a.do("GET", "/customers/r", "", basicAuth("cdk_0000000000000000000000000000000000000000"), breaksContract())
	r := a.do("GET", "/metrics", "", noAuth())
	wantStatus(t, r, 200)
	text := string(r.body)
	for _, line := range []string{
		`customerd_http_requests_total{method="POST",route="/customers",status="200"} 1`,
		`customerd_http_requests_total{method="GET",route="/customers/{customer_id}",status="404"} 1`,
		`customerd_http_request_duration_seconds_count{method="POST",route="/customers/{customer_id}",status="200"} 1`,
		`customerd_http_requests_in_flight 1`, // the scrape itself
		`customerd_customers_created_total 1`,
		`customerd_customers_updated_total 1`,
		`customerd_auth_failures_total{reason="invalid_key"} 1`,
	} {
		if !strings.Contains(text, "\n"+line+"\n") {
			t.Errorf("missing %q", line)
		}
	}
	if strings.Contains(text, "cst_aaaa") {
		t.Error("a raw path leaked into a label")
	}

	// Without a MetricsHandler (a separate metrics listener), /metrics is an unknown route.
	b := newTestAPIWith(t, func(c *httpapi.Config) { c.Metrics = m })
	wantBody(t, b.do("GET", "/metrics", "", noAuth()), bodyRouteNotFound)
}

func TestMetricsCountRateLimitRejectionsByLimiter(t *testing.T) {
	m := metrics.New()
	a := newTestAPIWith(t, func(c *httpapi.Config) {
		c.Metrics, c.MetricsHandler = m, m.Handler()
		c.RateLimit, c.RateBurst = 1, 1 // the test clock stands still: no refill
		c.AuthFailures = 1
	})
	wantStatus(t, a.do("GET", "/customers/x", ""), 404)
	wantStatus(t, a.do("GET", "/customers/x", ""), 429)
	bad := basicAuth("cdk_0000000000000000000000000000000000000000")
	wantStatus(t, a.do("GET", "/customers/x", "", bad, breaksContract()), 401)
	wantStatus(t, a.do("GET", "/customers/x", "", bad, breaksContract()), 429)
	text := string(a.do("GET", "/metrics", "", noAuth()).body)
	for _, line := range []string{
		`customerd_rate_limited_total{limiter="api_key"} 1`,
		`customerd_rate_limited_total{limiter="auth_failures"} 1`,
		`customerd_auth_failures_total{reason="invalid_key"} 1`,
	} {
		if !strings.Contains(text, "\n"+line+"\n") {
			t.Errorf("missing %q", line)
		}
	}
}
