package httpapi

import (
	"net/url"
	"strings"
)

// handlerFunc serves one route; id is the decoded {customer_id} segment.
type handlerFunc func(s *Server, req *request, id string)

type route struct {
	pattern  string // label for logs and metrics
	allow    string // the Allow header for 405
	handlers map[string]handlerFunc
}

// The whole API surface.
var (
	routeHealth = &route{pattern: "/healthz", allow: "GET", handlers: map[string]handlerFunc{
		"GET": (*Server).health,
	}}
	routeReady = &route{pattern: "/readyz", allow: "GET", handlers: map[string]handlerFunc{
		"GET": (*Server).ready,
	}}
	routeOpenAPIYAML = &route{pattern: "/openapi.yaml", allow: "GET", handlers: map[string]handlerFunc{
		"GET": (*Server).openapiYAML,
	}}
	routeOpenAPIJSON = &route{pattern: "/openapi.json", allow: "GET", handlers: map[string]handlerFunc{
		"GET": (*Server).openapiJSON,
	}}
	// routeMetrics answers only when Config.MetricsHandler is set.
	routeMetrics = &route{pattern: "/metrics", allow: "GET", handlers: map[string]handlerFunc{
		"GET": (*Server).metricsEndpoint,
	}}
	routeCustomers = &route{pattern: "/customers", allow: "GET, POST", handlers: map[string]handlerFunc{
		"GET":  (*Server).listCustomers,
		"POST": (*Server).createCustomer,
	}}
	routeCustomer = &route{pattern: "/customers/{customer_id}", allow: "GET, POST, DELETE", handlers: map[string]handlerFunc{
		"GET":    (*Server).getCustomer,
		"POST":   (*Server).updateCustomer,
		"DELETE": (*Server).eraseCustomer,
	}}
	routeCustomerEvents = &route{pattern: "/customers/{customer_id}/events", allow: "GET", handlers: map[string]handlerFunc{
		"GET": (*Server).customerEvents,
	}}
	routeEvents = &route{pattern: "/events", allow: "GET", handlers: map[string]handlerFunc{
		"GET": (*Server).listEvents,
	}}
	routeEvent = &route{pattern: "/events/{event_id}", allow: "GET", handlers: map[string]handlerFunc{
		"GET": (*Server).getEvent,
	}}
)

// match finds the route of u. An id is one path segment, percent-decoded:
// %40 and a raw '@' are the same, %2F is part of the id, and '+' stays a
// plus. An empty id or an extra segment matches no route.
func match(u *url.URL) (*route, string, bool) {
	path := u.EscapedPath()
	switch path {
	case "/customers":
		return routeCustomers, "", true
	case "/events":
		return routeEvents, "", true
	case "/healthz":
		return routeHealth, "", true
	case "/readyz":
		return routeReady, "", true
	case "/openapi.yaml":
		return routeOpenAPIYAML, "", true
	case "/openapi.json":
		return routeOpenAPIJSON, "", true
	case "/metrics":
		return routeMetrics, "", true
	}
	rt := routeCustomer
	seg, ok := strings.CutPrefix(path, "/customers/")
	if !ok {
		if seg, ok = strings.CutPrefix(path, "/events/"); !ok {
			return nil, "", false
		}
		rt = routeEvent
	}
	if rt == routeCustomer {
		if s, events := strings.CutSuffix(seg, "/events"); events {
			seg, rt = s, routeCustomerEvents
		}
	}
	if seg == "" || strings.IndexByte(seg, '/') >= 0 {
		return nil, "", false
	}
	id, err := url.PathUnescape(seg)
	if err != nil || id == "" {
		return nil, "", false
	}
	return rt, id, true
}
