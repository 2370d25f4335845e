package httpapi

import (
	"net/http"
	"sync"
	"sync/atomic"
)

// opKind is what a request asks of the database, for telling when an
// outage of that kind is over.
type opKind uint8

const (
	opRead  opKind = iota // a customer get
	opWrite               // a create or an update
	opReady               // the readiness check
)

// kindOf returns the kind of req's route.
func kindOf(req *request) opKind {
	switch {
	case req.route == "/readyz":
		return opReady
	case req.r.Method == http.MethodPost:
		return opWrite
	}
	return opRead
}

// maxOpenCauses bounds the causes remembered at once; past it they are all
// forgotten, so that each is logged once more.
const maxOpenCauses = 64

// outages logs why the database was unavailable once per episode rather
// than once per request: a full disk, a deleted database file or a
// PostgreSQL failover fails every request until it ends, and one log line
// per request would bury its cause. An episode of a cause opens at the
// first request it fails and ends at the next request of the same kind
// (see opKind) that succeeds: a full disk fails writes while reads
// succeed, and its episode lasts until a write succeeds.
type outages struct {
	active atomic.Bool // some episode is open: successes must end it

	mu   sync.Mutex
	open map[string]opKind // cause (the error's text) → the kind that opened it
}

// begin reports whether cause opens an episode (it should be logged), or
// belongs to one already open.
func (o *outages) begin(kind opKind, cause string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, ok := o.open[cause]; ok {
		return false
	}
	if o.open == nil || len(o.open) >= maxOpenCauses {
		o.open = map[string]opKind{}
	}
	o.open[cause] = kind
	o.active.Store(true)
	return true
}

// end closes the episodes that requests of kind opened, and returns their
// causes.
func (o *outages) end(kind opKind) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var ended []string
	for cause, k := range o.open {
		if k == kind {
			ended = append(ended, cause)
			delete(o.open, cause)
		}
	}
	o.active.Store(len(o.open) > 0)
	return ended
}

// logUnavailable logs why req could not be served for the database: at
// warn when that opens an episode, at debug while it lasts.
func (s *Server) logUnavailable(req *request, msg string, err error) {
	cause := err.Error()
	if s.outages.begin(kindOf(req), cause) {
		s.log.Warn(msg, "request_id", req.requestID, "route", req.route, "error", cause,
			"note", "logged once until a request of this kind succeeds")
		return
	}
	s.log.Debug(msg, "request_id", req.requestID, "route", req.route, "error", cause)
}

// succeeded ends the episodes of req's kind, after req was answered 200.
func (s *Server) succeeded(req *request) {
	for _, cause := range s.outages.end(kindOf(req)) {
		s.log.Info("database available again", "request_id", req.requestID, "route", req.route, "error", cause)
	}
}
