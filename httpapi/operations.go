package httpapi

import (
	"context"
	"net/http"
	"time"

	"customerd/api"
)

// readyTimeout bounds the database check of /readyz, well under the probe
// timeouts of orchestrators.
const readyTimeout = 2 * time.Second

// ready serves /readyz: 200 when the database answers and is migrated, else
// the 503 of an unreachable database.
func (s *Server) ready(req *request, _ string) {
	// As for every store call, a prober that hangs up does not end the check.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(req.r.Context()), readyTimeout)
	defer cancel()
	if err := s.svc.Ping(ctx); err != nil {
		s.logUnavailable(req, "not ready", err)
		s.fail(req, errNotReady)
		return
	}
	s.write(req, http.StatusOK, []byte(`{"status":"ready"}`))
}

// openapiYAML serves the OpenAPI document as written.
func (s *Server) openapiYAML(req *request, _ string) {
	req.w.Header()["Content-Type"] = []string{"application/yaml"}
	s.write(req, http.StatusOK, api.YAML())
}

// openapiJSON serves the OpenAPI document as JSON.
func (s *Server) openapiJSON(req *request, _ string) {
	s.write(req, http.StatusOK, api.JSON())
}

// metricsEndpoint passes /metrics to the metrics handler, recording its
// status and size for the access log.
func (s *Server) metricsEndpoint(req *request, _ string) {
	rec := &statusRecorder{ResponseWriter: req.w}
	s.metricsHandler.ServeHTTP(rec, req.r)
	req.status, req.bytes = rec.status, rec.bytes
	if req.status == 0 {
		req.status = http.StatusOK
	}
}

// statusRecorder remembers the status and body size written through it.
type statusRecorder struct {
	http.ResponseWriter
	status, bytes int
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }
