// Package httpapi serves Juspay's Express Checkout Customer API over HTTP. It
// is the only package that knows the wire format: form and JSON bodies, the
// "+0000" timestamps, Juspay's error shapes and headers. Every request passes
// one visible pipeline in ServeHTTP: route → method → authenticate → parse →
// the service (rules, sealing, one atomic store write) → encode.
package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strconv"
	"time"

	"customerd"
	"customerd/dashboard"
	"customerd/metrics"
	"customerd/ratelimit"
	"customerd/service"
)

// Config holds what a Server needs. The zero value of every limit disables it.
type Config struct {
	Service *service.Service
	Logger  *slog.Logger     // nil discards logs
	Now     func() time.Time // the clock of tokens and limits; nil means time.Now

	// AccessLog, when set, receives each request's access record as one
	// JSON line, byte for byte what Logger would write with
	// slog.NewJSONHandler, but several times cheaper to make. Set it only
	// when Logger writes JSON at level info or below to the same writer.
	AccessLog io.Writer

	// RateLimit is how many requests per second one API key may make on
	// average, and RateBurst how many it may make at once. Over the limit
	// the answer is 429 with Retry-After. Zero in either disables the limit.
	RateLimit float64
	RateBurst int

	// AuthFailures is how many failed authentications one client address
	// may make in any AuthFailWindow (1 minute when zero), concurrent
	// attempts included. Once they are spent, that address gets 429 with
	// Retry-After on the customer routes, before its key is looked up,
	// until the oldest of them is a window old. Zero disables the limit.
	AuthFailures   int
	AuthFailWindow time.Duration

	// TrustedProxies are the peers whose X-Forwarded-For header is believed
	// when finding a client's address. Empty means the peer address is
	// always the client's.
	TrustedProxies []netip.Prefix

	// Metrics records requests and domain events; nil records nothing.
	Metrics *metrics.Metrics
	// MetricsHandler is served at /metrics when set. Leave it nil when the
	// metrics have a listener of their own: the path is then a 404 here.
	MetricsHandler http.Handler

	// Dashboard, when set, serves the merchant dashboard under /dashboard/
	// with these settings. Its service, failed-authentication limit and
	// client addresses are the server's; its logger and clock are too,
	// unless set here.
	Dashboard *dashboard.Config
}

// Server is the HTTP handler of the API. Serve it with
// http.Server.DisableGeneralOptionsHandler set, so that "OPTIONS *" gets
// the API's headers and a JSON body too.
type Server struct {
	svc            *service.Service
	log            *slog.Logger
	accessLog      io.Writer // see Config.AccessLog
	now            func() time.Time
	metrics        *metrics.Metrics
	metricsHandler http.Handler

	keyLimit       *ratelimit.Limiter // per API key prefix; nil when off
	authFailLimit  *ratelimit.Window  // per client address; nil when off
	trustedProxies []netip.Prefix

	outages outages // see logUnavailable

	dashboard *dashboard.Handler // nil when Config.Dashboard is not set
}

// New returns a Server for cfg.
func New(cfg Config) *Server {
	s := &Server{svc: cfg.Service, log: cfg.Logger, accessLog: cfg.AccessLog, now: cfg.Now, trustedProxies: cfg.TrustedProxies,
		metrics: cfg.Metrics, metricsHandler: cfg.MetricsHandler}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.keyLimit = ratelimit.New(cfg.RateLimit, cfg.RateBurst, 0)
	if cfg.AuthFailures > 0 {
		window := cfg.AuthFailWindow
		if window <= 0 {
			window = time.Minute
		}
		s.authFailLimit = ratelimit.NewWindow(cfg.AuthFailures, window, 0, s.now)
	}
	if cfg.Dashboard != nil {
		s.dashboard = s.newDashboard(*cfg.Dashboard)
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
	keyPrefix  string                 // the authenticated key's public prefix
	pathID     string                 // the decoded id the path names, if any
	idemKey    string                 // the Idempotency-Key, when the request has one
	idem       *customerd.Idempotency // the claim on it, while the write runs
	status     int
	bytes      int

	ctx    context.Context // see storeContext; nil until first needed
	cancel context.CancelFunc
}

// storeContext returns the context that bounds the store calls of the
// request (authentication and the handler's call share one deadline of
// storeTimeout). It does not end when the client goes away: a write that
// has been accepted runs to its commit, and its outcome is what the access
// log records. ServeHTTP cancels it when the request is done. The deadline
// costs a timer only if a call may wait (see deadlineContext).
func (req *request) storeContext() context.Context {
	if req.ctx == nil {
		req.ctx, req.cancel = withDetachedDeadline(req.r.Context(), time.Now().Add(storeTimeout))
	}
	return req.ctx
}

// restartStoreDeadline starts the store deadline afresh at the next
// storeContext: reading a slow client's body must not eat the time the
// database calls after it are given.
func (req *request) restartStoreDeadline() {
	if req.cancel != nil {
		req.cancel()
		req.ctx, req.cancel = nil, nil
	}
}

// Header values every response carries, shared rather than allocated per
// request: net/http only reads them, and a handler that changes one
// replaces the slice.
var (
	contentTypeJSON = []string{"application/json"}
	noSniff         = []string{"nosniff"}
	noStore         = []string{"no-store"}
)

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.dashboard != nil && isDashboard(r) {
		s.serveDashboard(w, r) // pages, not the API: see dashboard.go
		return
	}
	start := time.Now()
	s.metrics.RequestStarted()
	defer s.metrics.RequestEnded() // also when the handler aborts
	requestID, responseID := requestIDs(r.Header.Get("X-Request-Id"))
	req := &request{w: w, r: r, requestID: requestID}
	ids := []string{requestID, responseID} // one allocation for both headers
	h := w.Header()
	h["Content-Type"] = contentTypeJSON
	h["X-Request-Id"] = ids[0:1:1]
	h["X-Response-Id"] = ids[1:2:2]
	h["X-Content-Type-Options"] = noSniff
	// Responses carry customers' personal data: no cache may keep them.
	h["Cache-Control"] = noStore
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
		if req.idem != nil {
			s.release(req)
		}
		if req.cancel != nil {
			req.cancel()
		}
		if req.status == http.StatusOK && s.outages.active.Load() {
			s.succeeded(req)
		}
		elapsed := time.Since(start)
		s.metrics.ObserveRequest(req.route, r.Method, req.status, elapsed)
		rec := accessRecord{time: start.Add(elapsed), requestID: req.requestID, merchantID: req.merchantID,
			method: r.Method, route: req.route, status: req.status, bytes: req.bytes, duration: elapsed}
		if s.accessLog != nil {
			writeJSONAccess(s.accessLog, &rec)
		} else if h := s.log.Handler(); h.Enabled(r.Context(), slog.LevelInfo) {
			_ = h.Handle(r.Context(), rec.slogRecord())
		}
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
	req.pathID = id
	h(s, req, id)
}

// authenticate checks the Basic credentials and x-merchantid, records the
// merchant, and applies the abuse limits. It answers 401 or 429 itself and
// returns false on failure.
func (s *Server) authenticate(req *request) bool {
	client := clientKey(clientAddr(req.r, s.trustedProxies))
	key, ok := basicUsername(req.r.Header.Get("Authorization"))
	// An address that keeps presenting bad keys is turned away before its
	// key is looked up, so that guessing cannot load the database either.
	// Each presented key reserves a failure before its lookup, and gives it
	// back if it authenticates, so that keys sent at once cannot exceed the
	// limit. The access log records these 429s; the block was logged once.
	// A request without credentials is turned away too, but reserves
	// nothing: it guesses nothing.
	var attempt ratelimit.Reservation
	allowed, wait := true, time.Duration(0)
	if ok {
		attempt, allowed, wait = s.authFailLimit.Reserve(req.storeContext(), client)
	} else {
		allowed, wait = s.authFailLimit.Check(client)
	}
	if !allowed {
		s.metrics.RateLimited("auth_failures")
		s.fail(req, rateLimited(retryAfterSeconds(wait)))
		return false
	}
	if !ok {
		// No key was presented: nothing was guessed and nothing looked up,
		// so this does not count against the address.
		s.metrics.AuthFailure(metrics.AuthMissingCredentials)
		s.log.Info("no Basic credentials", "request_id", req.requestID, "client", client)
		s.reject401(req)
		return false
	}
	merchantID, err := s.svc.Authenticate(req.storeContext(), key)
	if err != nil {
		if customerd.ErrorCode(err) != customerd.EUNAUTHORIZED {
			attempt.Release() // the store failed: nothing was guessed
			s.failErr(req, err)
			return false
		}
		s.unauthorized(req, attempt, client, metrics.AuthInvalidKey, "authentication failed", key)
		return false
	}
	// Most SDKs send x-merchantid; when they do it must name the key's merchant.
	if hdr := req.r.Header.Get("X-Merchantid"); hdr != "" && hdr != merchantID {
		s.unauthorized(req, attempt, client, metrics.AuthMerchantMismatch, "x-merchantid does not match the key's merchant", key)
		return false
	}
	attempt.Release()
	req.merchantID = merchantID
	req.w.Header()["X-Jp-Merchant-Id"] = []string{merchantID}
	prefix, _ := customerd.APIKeyPrefix(key) // the key authenticated, so it has one
	req.keyPrefix = prefix
	if ok, wait := s.keyLimit.Allow(prefix, s.now()); !ok {
		// Debug: a runaway client would otherwise double the log volume; the
		// access log has the 429 and the merchant.
		s.log.Debug("API key over its rate limit", "request_id", req.requestID, "key", customerd.RedactKey(key))
		s.metrics.RateLimited("api_key")
		s.fail(req, rateLimited(retryAfterSeconds(wait)))
		return false
	}
	return true
}

// caller is who makes the request's change, for its event.
func (req *request) caller() customerd.Caller {
	return customerd.Caller{MerchantID: req.merchantID, APIKeyPrefix: req.keyPrefix, RequestID: req.requestID,
		IdempotencyKey: req.idemKey, Idempotency: req.idem}
}

// unauthorized logs why a presented key failed (with the key's prefix at
// most), counts the failure against the client address, and answers 401.
func (s *Server) unauthorized(req *request, attempt ratelimit.Reservation, client, reason, why, key string) {
	s.metrics.AuthFailure(reason)
	attrs := []any{"request_id", req.requestID, "client", client}
	if key != "" {
		attrs = append(attrs, "key", customerd.RedactKey(key))
	}
	s.log.Info(why, attrs...)
	if full, wait := attempt.Fail(); full {
		s.log.Warn("too many failed authentications: client blocked", "request_id", req.requestID,
			"client", client, "retry_after_s", retryAfterSeconds(wait))
	}
	s.reject401(req)
}

// reject401 answers 401 with the challenge.
func (s *Server) reject401(req *request) {
	req.w.Header().Set("WWW-Authenticate", `Basic realm="customerd"`)
	s.fail(req, errUnauthorized)
}

// retryAfterSeconds rounds a wait up to the whole seconds of Retry-After.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

// failErr answers with the wire error for a domain error, logging faults.
func (s *Server) failErr(req *request, err error) {
	e := errorFor(err)
	// Only the error chain is logged: store errors carry no customer values.
	switch {
	case e.httpStatus == http.StatusServiceUnavailable:
		s.logUnavailable(req, "request failed", err)
	case e.httpStatus >= 500:
		s.log.Error("request failed", "request_id", req.requestID, "route", req.route, "error", err.Error())
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

// write sends an answer. While the client's side of the connection is
// open, net/http buffers the answer and sends it after the handler returns.
// Once net/http has seen that side end (a half-close, a reset, a read that
// failed: it then cancels the request's context), the answer is sent at
// once, so that whether it was delivered is known: a half-closed client
// reads it, and one that has gone is recorded as a client disconnect.
func (s *Server) write(req *request, status int, body []byte) {
	req.status = status
	req.bytes = len(body)
	if req.r.Context().Err() == nil {
		req.w.WriteHeader(status)
		_, _ = req.w.Write(body)
		return
	}
	// Sending before the handler returns: the length must be declared, or
	// net/http would switch to chunked encoding.
	req.w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	req.w.WriteHeader(status)
	_, err := req.w.Write(body)
	if err == nil {
		err = http.NewResponseController(req.w).Flush()
	}
	if err != nil {
		s.clientGone(req, err)
	}
}

// statusClientClosedRequest labels, in the access log and the metrics, a
// request whose answer could not be delivered because the client had gone:
// nginx's 499. It is never sent, and it is not a server error.
const statusClientClosedRequest = 499

// clientGone records that the answer to req could not be delivered.
func (s *Server) clientGone(req *request, err error) {
	s.log.Info("client disconnected before its answer was delivered", "request_id", req.requestID,
		"route", req.route, "status", req.status, "error", err.Error())
	req.status, req.bytes = statusClientClosedRequest, 0
}

// requestIDs returns the request id (the inbound one when it is a sane
// token, else a new one) and a new response id. Two new ids come from one
// random read and one string.
func requestIDs(in string) (requestID, responseID string) {
	if !saneID(in) {
		ids := newIDs(2)
		return ids[:idLen], ids[idLen:]
	}
	return in, newIDs(1)
}

func saneID(in string) bool {
	if len(in) == 0 || len(in) > 128 {
		return false
	}
	for i := 0; i < len(in); i++ {
		c := in[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

// idLen is the length of a new id: 32 random lowercase hex characters.
const idLen = 32

// newIDs returns n new ids (n is 1 or 2) concatenated.
func newIDs(n int) string {
	var b [2 * idLen / 2]byte // the random bytes of two ids, two hex digits each
	raw := b[:n*idLen/2]
	_, _ = rand.Read(raw)
	return hex.EncodeToString(raw)
}

// storeTimeout bounds the database calls of one request, all of them
// together: however many calls a request makes (a key lookup, a read, a
// write), a database that hangs is answered with a 503 within 5 s. It is far
// shorter than the HTTP server's WriteTimeout, so that the 5xx is written
// rather than the connection cut.
const storeTimeout = 4500 * time.Millisecond
