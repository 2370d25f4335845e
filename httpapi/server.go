// Package httpapi serves Juspay's Express Checkout Customer API over HTTP. It
// is the only package that knows the wire format: form and JSON bodies, the
// "+0000" timestamps, Juspay's error shapes and headers. Every request passes
// one visible pipeline in ServeHTTP: route → method → authenticate → parse →
// validate (in the domain) → store → encode.
package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"customerd"
	"customerd/metrics"
)

// Config holds what a Server needs.
type Config struct {
	Store  customerd.Store
	Logger *slog.Logger     // nil discards logs
	Now    func() time.Time // nil means time.Now
	// Metrics records requests and domain events; nil records nothing.
	Metrics *metrics.Metrics
	// MetricsHandler is served at /metrics when set. Leave it nil when the
	// metrics have a listener of their own: the path is then a 404 here.
	MetricsHandler http.Handler
}

// Server is the HTTP handler of the API.
type Server struct {
	store          customerd.Store
	log            *slog.Logger
	now            func() time.Time
	metrics        *metrics.Metrics
	metricsHandler http.Handler
}

// New returns a Server for cfg.
func New(cfg Config) *Server {
	s := &Server{store: cfg.Store, log: cfg.Logger, now: cfg.Now, metrics: cfg.Metrics, metricsHandler: cfg.MetricsHandler}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// request carries the per-request state through the pipeline.
type request struct {
	w          http.ResponseWriter
	r          *http.Request
	requestID  string
	route      string // the route pattern, never the raw path
	merchantID string
	status     int
	bytes      int
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	s.metrics.RequestStarted()
	defer s.metrics.RequestEnded() // also when the handler aborts
	req := &request{w: w, r: r, requestID: requestID(r.Header.Get("X-Request-Id"))}
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h["X-Request-Id"] = []string{req.requestID}
	h["X-Response-Id"] = []string{newID()}
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.Error("panic while serving request", "request_id", req.requestID, "route", req.route,
				"panic", p, "stack", string(debug.Stack()))
			if req.status == 0 {
				s.fail(req, errInternal)
			}
		}
		elapsed := time.Since(start)
		s.metrics.ObserveRequest(req.route, r.Method, req.status, elapsed)
		s.log.Info("request", "request_id", req.requestID, "merchant_id", req.merchantID,
			"method", r.Method, "route", req.route, "status", req.status, "bytes", req.bytes,
			"duration_ms", float64(elapsed.Microseconds())/1000)
	}()
	s.route(req)
}

// route dispatches on the route table in routes.go.
func (s *Server) route(req *request) {
	rt, id, ok := match(req.r.URL)
	if rt == routeMetrics && s.metricsHandler == nil {
		ok = false // the metrics have a listener of their own
	}
	if !ok {
		req.route = "unmatched"
		s.fail(req, errRouteNotFound)
		return
	}
	req.route = rt.pattern
	h := rt.handlers[req.r.Method]
	if h == nil {
		req.w.Header().Set("Allow", rt.allow)
		s.fail(req, errMethodNotAllowed)
		return
	}
	h(s, req, id)
}

// authenticate checks the Basic credentials and x-merchantid, and records
// the merchant. It answers 401 itself and returns false on failure.
func (s *Server) authenticate(req *request) bool {
	key, ok := basicUsername(req.r.Header.Get("Authorization"))
	if !ok {
		s.metrics.AuthFailure(metrics.AuthMissingCredentials)
		s.unauthorized(req)
		return false
	}
	merchantID, err := customerd.Authenticate(req.r.Context(), s.store, key)
	if err != nil {
		if customerd.ErrorCode(err) != customerd.EUNAUTHORIZED {
			s.failErr(req, err)
			return false
		}
		s.log.Info("authentication failed", "request_id", req.requestID, "key", customerd.RedactKey(key))
		s.metrics.AuthFailure(metrics.AuthInvalidKey)
		s.unauthorized(req)
		return false
	}
	// Most SDKs send x-merchantid; when they do it must name the key's merchant.
	if hdr := req.r.Header.Get("X-Merchantid"); hdr != "" && hdr != merchantID {
		s.log.Info("x-merchantid does not match the key's merchant", "request_id", req.requestID,
			"key", customerd.RedactKey(key))
		s.metrics.AuthFailure(metrics.AuthMerchantMismatch)
		s.unauthorized(req)
		return false
	}
	req.merchantID = merchantID
	req.w.Header()["X-Jp-Merchant-Id"] = []string{merchantID}
	return true
}

func (s *Server) unauthorized(req *request) {
	req.w.Header().Set("WWW-Authenticate", `Basic realm="customerd"`)
	s.fail(req, errUnauthorized)
}

// failErr answers with the wire error for a domain error, logging faults.
func (s *Server) failErr(req *request, err error) {
	e := errorFor(err)
	if e.httpStatus >= 500 {
		// Only the error chain is logged: store errors carry no customer values.
		level := slog.LevelError
		if e.httpStatus == http.StatusServiceUnavailable {
			level = slog.LevelWarn
		}
		s.log.Log(req.r.Context(), level, "request failed", "request_id", req.requestID,
			"route", req.route, "error", err.Error())
	}
	s.fail(req, e)
}

// fail writes an error response.
func (s *Server) fail(req *request, e apiError) {
	if ra := e.retryAfter(); ra != "" {
		req.w.Header().Set("Retry-After", ra)
	}
	s.write(req, e.httpStatus, e.appendJSON(make([]byte, 0, 512), req.requestID))
}

func (s *Server) write(req *request, status int, body []byte) {
	req.status = status
	req.bytes = len(body)
	req.w.WriteHeader(status)
	_, _ = req.w.Write(body)
}

// requestID returns the inbound id when it is a sane token, else a new one.
func requestID(in string) string {
	if len(in) == 0 || len(in) > 128 {
		return newID()
	}
	for i := 0; i < len(in); i++ {
		c := in[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '-' || c == '_' || c == '.' || c == ':') {
			return newID()
		}
	}
	return in
}

// newID returns 32 random lowercase hex characters.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// requestContext bounds the store calls of one request.
func requestContext(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), 10*time.Second)
}
