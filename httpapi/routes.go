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
	// routeServer is "OPTIONS *", a question about the server rather than a
	// resource, which some proxies send to probe it. It reaches the handler
	// when http.Server.DisableGeneralOptionsHandler is set.
	routeServer = &route{pattern: "*", allow: "OPTIONS", handlers: map[string]handlerFunc{
		"OPTIONS": (*Server).health,
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
	routeEventResend = &route{pattern: "/events/{event_id}/resend", allow: "POST", handlers: map[string]handlerFunc{
		"POST": (*Server).resendEvent,
	}}
	routeWebhookEndpoints = &route{pattern: "/webhook_endpoints", allow: "GET, POST", handlers: map[string]handlerFunc{
		"GET":  (*Server).listWebhookEndpoints,
		"POST": (*Server).createWebhookEndpoint,
	}}
	routeWebhookEndpoint = &route{pattern: "/webhook_endpoints/{id}", allow: "GET, POST, DELETE", handlers: map[string]handlerFunc{
		"GET":    (*Server).getWebhookEndpoint,
		"POST":   (*Server).updateWebhookEndpoint,
		"DELETE": (*Server).deleteWebhookEndpoint,
	}}
	routeWebhookAttempts = &route{pattern: "/webhook_endpoints/{id}/attempts", allow: "GET", handlers: map[string]handlerFunc{
		"GET": (*Server).listWebhookAttempts,
	}}
)

// nested are the routes below an object's path: prefix, then the object's
// id, then (when the suffix is not empty) the suffix.
var nested = []struct {
	prefix, suffix string
	rt             *route
}{
	{"/customers/", "/events", routeCustomerEvents},
	{"/customers/", "", routeCustomer},
	{"/events/", "/resend", routeEventResend},
	{"/events/", "", routeEvent},
	{"/webhook_endpoints/", "/attempts", routeWebhookAttempts},
	{"/webhook_endpoints/", "", routeWebhookEndpoint},
}

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
	case "/webhook_endpoints":
		return routeWebhookEndpoints, "", true
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
	case "*":
		return routeServer, "", true
	}
	for _, n := range nested {
		seg, ok := strings.CutPrefix(path, n.prefix)
		if !ok {
			continue
		}
		if n.suffix != "" {
			if seg, ok = strings.CutSuffix(seg, n.suffix); !ok {
				continue
			}
		}
		if seg == "" || strings.IndexByte(seg, '/') >= 0 {
			return nil, "", false
		}
		id, err := url.PathUnescape(seg)
		if err != nil || id == "" {
			return nil, "", false
		}
		return n.rt, id, true
	}
	return nil, "", false
}
