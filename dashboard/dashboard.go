// Package dashboard serves the merchant dashboard at /dashboard/: pages
// rendered on the server with html/template from the service, and the
// stylesheet, script and icon they use, embedded in the binary. A merchant's
// staff signs in with an API key; the session lives in this process's
// memory (extensions §7).
//
// Every response carries a strict Content-Security-Policy: no inline
// script or style, nothing from another origin, no framing. No URL carries
// a key or personal data: searches are POSTs, and customers are named by
// their opaque ids.
package dashboard

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"customerd"
	"customerd/ratelimit"
	"customerd/service"
)

// Prefix is the path under which the dashboard is served.
const Prefix = "/dashboard/"

// Session lifetimes: a session ends after IdleTimeout without a request, and
// MaxSessionAge after sign-in however busy it is.
const (
	DefaultIdleTimeout   = 30 * time.Minute
	DefaultMaxSessionAge = 12 * time.Hour
)

// Config holds what the dashboard needs.
type Config struct {
	Service *service.Service
	// AuthFailures is the API's limit of failed authentications per client
	// address: a sign-in with a bad key counts against it, and an address
	// over it is refused before its key is looked up. nil disables it.
	AuthFailures *ratelimit.Window
	// ClientKey names the client of a request as AuthFailures counts it
	// (the API's view of the client address, trusted proxies included);
	// nil uses the peer address.
	ClientKey func(*http.Request) string
	Logger    *slog.Logger     // nil discards logs
	Now       func() time.Time // the clock of sessions; nil means time.Now

	IdleTimeout   time.Duration // 0 means DefaultIdleTimeout
	MaxSessionAge time.Duration // 0 means DefaultMaxSessionAge
}

// Handler serves the dashboard. It is safe for concurrent use.
type Handler struct {
	svc       *service.Service
	authFails *ratelimit.Window
	clientKey func(*http.Request) string
	log       *slog.Logger
	now       func() time.Time
	sessions  *sessions
	mux       *http.ServeMux
}

// New returns the dashboard's handler for cfg.
func New(cfg Config) *Handler {
	h := &Handler{svc: cfg.Service, authFails: cfg.AuthFailures, clientKey: cfg.ClientKey, log: cfg.Logger, now: cfg.Now}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.clientKey == nil {
		h.clientKey = peerAddress
	}
	idle, maxAge := cfg.IdleTimeout, cfg.MaxSessionAge
	if idle <= 0 {
		idle = DefaultIdleTimeout
	}
	if maxAge <= 0 {
		maxAge = DefaultMaxSessionAge
	}
	h.sessions = newSessions(idle, maxAge, h.now)
	h.mux = h.routes()
	return h
}

// Security headers of every dashboard response.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", contentSecurityPolicy)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("Cross-Origin-Opener-Policy", "same-origin")
	if r.URL.Path == strings.TrimSuffix(Prefix, "/") {
		http.Redirect(w, r, Prefix, http.StatusMovedPermanently)
		return
	}
	if _, pattern := h.mux.Handler(r); pattern == "" {
		h.renderError(w, r, nil, http.StatusNotFound, "There is no such page.")
		return
	}
	h.mux.ServeHTTP(w, r) // sets the path's values, which Handler does not

}

// peerAddress is the client key of a request without a proxy in front.
func peerAddress(r *http.Request) string {
	host := r.RemoteAddr
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	return strings.Trim(host, "[]")
}

// caller is who makes a change from the dashboard, for its event: the
// session's merchant and key. The request id is the one the API's server
// gave the response, when it did, so that the event and the access log
// record name the same request.
func (s *session) caller(w http.ResponseWriter) customerd.Caller {
	id := w.Header().Get("X-Request-Id")
	if id == "" {
		var b [16]byte
		_, _ = rand.Read(b[:])
		id = hex.EncodeToString(b[:])
	}
	return customerd.Caller{MerchantID: s.merchantID, APIKeyPrefix: s.keyPrefix, RequestID: id}
}

// storeTimeout bounds the service calls of one page, as the API bounds
// those of one request.
const storeTimeout = 4500 * time.Millisecond

// storeContext returns the context of a page's service calls: it does not
// end when the browser goes away, so that a change runs to its commit.
func storeContext(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(r.Context()), storeTimeout)
}
