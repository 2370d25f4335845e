package httpapi

import (
	"log/slog"
	"net/http"
	"strings"
	"time"

	"customerd/dashboard"
)

// dashboardRoute labels every dashboard request in the access log and the
// metrics: one label, whatever the page, and never a path with an id.
const dashboardRoute = "/dashboard/"

// newDashboard makes the dashboard's handler from cfg, on the server's
// service, clock and logger, with the API's failed-authentication limit:
// a bad key at the sign-in form counts against the same addresses' budget.
func (s *Server) newDashboard(cfg dashboard.Config) *dashboard.Handler {
	cfg.Service = s.svc
	cfg.AuthFailures = s.authFailLimit
	cfg.ClientKey = func(r *http.Request) string { return clientKey(clientAddr(r, s.trustedProxies)) }
	if cfg.Logger == nil {
		cfg.Logger = s.log
	}
	if cfg.Now == nil {
		cfg.Now = s.now
	}
	return dashboard.New(cfg)
}

// isDashboard reports whether r is for the dashboard.
func isDashboard(r *http.Request) bool {
	p := r.URL.Path
	return strings.HasPrefix(p, dashboardRoute) || p == strings.TrimSuffix(dashboardRoute, "/")
}

// serveDashboard hands a request to the dashboard, and records it as the
// API records its own: one access record and the request metrics. The
// record has no path or query: a page's data is in neither, and its
// search terms are in a POST body the record never sees.
func (s *Server) serveDashboard(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	s.metrics.RequestStarted()
	defer s.metrics.RequestEnded()
	requestID, responseID := requestIDs(r.Header.Get("X-Request-Id"))
	h := w.Header()
	h.Set("X-Request-Id", requestID) // the dashboard records it in the events of its changes
	h.Set("X-Response-Id", responseID)
	sw := &statusRecorder{ResponseWriter: w}
	s.dashboard.ServeHTTP(sw, r)
	if sw.status == 0 {
		sw.status = http.StatusOK
	}
	elapsed := time.Since(start)
	s.metrics.ObserveRequest(dashboardRoute, r.Method, sw.status, elapsed)
	rec := accessRecord{time: start.Add(elapsed), requestID: requestID, method: r.Method, route: dashboardRoute,
		status: sw.status, bytes: sw.bytes, duration: elapsed}
	if s.accessLog != nil {
		writeJSONAccess(s.accessLog, &rec)
	} else if lh := s.log.Handler(); lh.Enabled(r.Context(), slog.LevelInfo) {
		_ = lh.Handle(r.Context(), rec.slogRecord())
	}
}
