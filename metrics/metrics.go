// Package metrics defines customerd's Prometheus metrics and serves them. A
// nil *Metrics is valid and records nothing, so the HTTP layer, the stores
// and the rate limiter can call it whether or not metrics are enabled.
//
// Labels are bounded by construction: routes are the route table's patterns
// (never a raw path, whose ids would explode cardinality), methods outside
// the standard set are counted as "other", and no label carries a merchant,
// a customer or a key.
package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const namespace = "customerd"

// Reasons an authentication fails, the values of the reason label of
// customerd_auth_failures_total.
const (
	AuthMissingCredentials = "missing_credentials" // no Authorization header, or not Basic with a username
	AuthInvalidKey         = "invalid_key"         // unknown, malformed or revoked API key
	AuthMerchantMismatch   = "merchant_mismatch"   // x-merchantid names another merchant
)

// Metrics holds every metric of one server, in its own registry.
type Metrics struct {
	reg          *prometheus.Registry
	requests     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	inFlight     prometheus.Gauge
	created      prometheus.Counter
	updated      prometheus.Counter
	authFailures *prometheus.CounterVec
	rateLimited  *prometheus.CounterVec
	webhook      webhookMetrics

	// series caches the children of requests and duration by their labels:
	// one map lookup per request instead of two label hashings.
	series sync.Map // seriesKey -> *requestSeries
}

type seriesKey struct {
	route, method string
	status        int
}

type requestSeries struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// New returns Metrics registered in a fresh registry, with the Go runtime
// and process collectors.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "http", Name: "requests_total",
			Help: "HTTP requests answered, by route pattern, method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "http", Name: "request_duration_seconds",
			Help:    "Time from receiving a request to answering it, by route pattern, method and status.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method", "status"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: "http", Name: "requests_in_flight",
			Help: "HTTP requests being served.",
		}),
		created: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "customers_created_total",
			Help: "Customers created.",
		}),
		updated: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "customers_updated_total",
			Help: "Successful customer updates (including updates that changed no field).",
		}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "auth_failures_total",
			Help: "Requests refused with 401, by reason.",
		}, []string{"reason"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "rate_limited_total",
			Help: "Requests refused with 429, by limiter.",
		}, []string{"limiter"}),
	}
	m.webhook = newWebhookMetrics()
	m.reg.MustRegister(m.requests, m.duration, m.inFlight, m.created, m.updated, m.authFailures, m.rateLimited,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.reg.MustRegister(m.webhook.collectors()...)
	// Known label values start at zero, so that rate() works from the first failure.
	for _, r := range []string{AuthMissingCredentials, AuthInvalidKey, AuthMerchantMismatch} {
		m.authFailures.WithLabelValues(r)
	}
	return m
}

// Handler serves the metrics in the Prometheus text format (or OpenMetrics
// when the scraper asks for it).
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{EnableOpenMetrics: true})
}

// Register adds a collector to the registry, for metrics that belong to
// another package (a store's own counters, say).
func (m *Metrics) Register(c prometheus.Collector) error {
	if m == nil {
		return nil
	}
	return m.reg.Register(c)
}

// RequestStarted counts a request in flight until its RequestEnded.
func (m *Metrics) RequestStarted() {
	if m == nil {
		return
	}
	m.inFlight.Inc()
}

// RequestEnded ends what RequestStarted began, whether or not the request
// was answered (a handler may abort).
func (m *Metrics) RequestEnded() {
	if m == nil {
		return
	}
	m.inFlight.Dec()
}

// ObserveRequest records one answered request. route must be a route
// pattern, never a raw path.
func (m *Metrics) ObserveRequest(route, method string, status int, elapsed time.Duration) {
	if m == nil {
		return
	}
	method = boundedMethod(method)
	k := seriesKey{route, method, status}
	v, ok := m.series.Load(k)
	if !ok {
		code := strconv.Itoa(status)
		v, _ = m.series.LoadOrStore(k, &requestSeries{
			requests: m.requests.WithLabelValues(route, method, code),
			duration: m.duration.WithLabelValues(route, method, code),
		})
	}
	rs := v.(*requestSeries)
	rs.requests.Inc()
	rs.duration.Observe(elapsed.Seconds())
}

// CustomerCreated counts one created customer.
func (m *Metrics) CustomerCreated() {
	if m == nil {
		return
	}
	m.created.Inc()
}

// CustomerUpdated counts one successful update.
func (m *Metrics) CustomerUpdated() {
	if m == nil {
		return
	}
	m.updated.Inc()
}

// AuthFailure counts a request refused with 401; reason is one of the Auth*
// constants.
func (m *Metrics) AuthFailure(reason string) {
	if m == nil {
		return
	}
	m.authFailures.WithLabelValues(reason).Inc()
}

// RateLimited counts a request refused with 429. limiter names the limit
// that refused it, from a fixed set chosen by the caller (for example
// "merchant" or "client_ip"), never a merchant id or an address.
func (m *Metrics) RateLimited(limiter string) {
	if m == nil {
		return
	}
	m.rateLimited.WithLabelValues(limiter).Inc()
}

// boundedMethod keeps the method label to a fixed set: a client can send
// any token as a method.
func boundedMethod(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return method
	}
	return "other"
}
