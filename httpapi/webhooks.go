package httpapi

import (
	"net/http"
	"strconv"

	"customerd"
	"customerd/service"
)

// endpointRequest reads the endpoint fields of a parsed body.
func endpointRequest(p params) customerd.EndpointRequest {
	return customerd.EndpointRequest{URL: p.value(customerd.FieldURL), EnabledEvents: p.value(customerd.FieldEnabledEvents),
		Description: p.value(customerd.FieldDescription), Disabled: p.value(customerd.FieldDisabled)}
}

// renderEndpoint is how an endpoint becomes its answer, for the writes
// that store their answer under an Idempotency-Key.
func renderEndpoint(v any) ([]byte, error) {
	return appendEndpoint(make([]byte, 0, 512), v.(*customerd.WebhookEndpoint)), nil
}

// createWebhookEndpoint serves POST /webhook_endpoints: the answer holds the
// signing secret, the only time it is shown.
func (s *Server) createWebhookEndpoint(req *request, _ string) {
	if !s.authenticate(req) || !s.idempotencyKey(req) {
		return
	}
	p, hint, ok := s.readBody(req)
	if !ok || !s.claim(req, p, renderEndpoint) {
		return
	}
	e, err := s.svc.CreateWebhookEndpoint(req.storeContext(), req.caller(), endpointRequest(p))
	if err != nil {
		s.failErr(req, withHint(err, hint))
		return
	}
	s.respondEndpoint(req, e)
}

// listWebhookEndpoints serves GET /webhook_endpoints, newest first.
func (s *Server) listWebhookEndpoints(req *request, _ string) {
	if !s.authenticate(req) {
		return
	}
	page, _, err := parseList(req.r.URL.RawQuery, "we_", false)
	if err != nil {
		s.failErr(req, err)
		return
	}
	endpoints, total, more, err := s.svc.ListWebhookEndpoints(req.storeContext(), req.merchantID, page)
	if err != nil {
		s.failErr(req, err)
		return
	}
	b := appendList(make([]byte, 0, 256+384*len(endpoints)), page.Offset, total, more, len(endpoints), func(b []byte, i int) []byte {
		return appendEndpoint(b, endpoints[i])
	})
	s.write(req, http.StatusOK, b)
}

// getWebhookEndpoint serves GET /webhook_endpoints/{id}.
func (s *Server) getWebhookEndpoint(req *request, id string) {
	if !s.authenticate(req) {
		return
	}
	e, err := s.svc.FindWebhookEndpoint(req.storeContext(), req.merchantID, id)
	if err != nil {
		s.failEndpoint(req, err)
		return
	}
	s.respondEndpoint(req, e)
}

// updateWebhookEndpoint serves POST /webhook_endpoints/{id}: a partial
// update of url, enabled_events, description and disabled.
func (s *Server) updateWebhookEndpoint(req *request, id string) {
	if !s.authenticate(req) || !s.idempotencyKey(req) {
		return
	}
	p, hint, ok := s.readBody(req)
	if !ok || !s.claim(req, p, renderEndpoint) {
		return
	}
	e, err := s.svc.UpdateWebhookEndpoint(req.storeContext(), req.caller(), id, endpointRequest(p))
	if err != nil {
		s.failEndpoint(req, withHint(err, hint))
		return
	}
	s.respondEndpoint(req, e)
}

// deleteWebhookEndpoint serves DELETE /webhook_endpoints/{id}.
func (s *Server) deleteWebhookEndpoint(req *request, id string) {
	if !s.authenticate(req) || !s.idempotencyKey(req) {
		return
	}
	if !s.claim(req, nil, func(v any) ([]byte, error) { return deletedEndpointJSON(v.(string)), nil }) {
		return
	}
	deleted, err := s.svc.DeleteWebhookEndpoint(req.storeContext(), req.caller(), id)
	if err != nil {
		s.failEndpoint(req, err)
		return
	}
	s.respondStored(req, deletedEndpointJSON(deleted))
}

func deletedEndpointJSON(id string) []byte {
	b := append(make([]byte, 0, 80), `{"id":`...)
	b = appendString(b, id)
	return append(b, `,"object":"webhook_endpoint","deleted":true}`...)
}

// listWebhookAttempts serves GET /webhook_endpoints/{id}/attempts, newest
// first.
func (s *Server) listWebhookAttempts(req *request, id string) {
	if !s.authenticate(req) {
		return
	}
	page, _, err := parseList(req.r.URL.RawQuery, "wa_", false)
	if err != nil {
		s.failErr(req, err)
		return
	}
	attempts, total, more, err := s.svc.ListWebhookAttempts(req.storeContext(), req.merchantID, id, page)
	if err != nil {
		s.failEndpoint(req, err)
		return
	}
	b := appendList(make([]byte, 0, 256+320*len(attempts)), page.Offset, total, more, len(attempts), func(b []byte, i int) []byte {
		return appendAttempt(b, &attempts[i])
	})
	s.write(req, http.StatusOK, b)
}

// resendEvent serves POST /events/{event_id}/resend: one more delivery of
// the event to the endpoint the body names.
func (s *Server) resendEvent(req *request, id string) {
	if !s.authenticate(req) || !s.idempotencyKey(req) {
		return
	}
	p, hint, ok := s.readBody(req)
	if !ok {
		return
	}
	if !s.claim(req, p, func(v any) ([]byte, error) { return AppendEvent(make([]byte, 0, 1024), v.(*customerd.Event)), nil }) {
		return
	}
	ev, err := s.svc.ResendEvent(req.storeContext(), req.caller(), id, p[customerd.FieldEndpoint])
	switch {
	case err == service.ErrEventNotFound:
		s.fail(req, errEventNotFound)
	case err == service.ErrEndpointNotFound:
		s.fail(req, errEndpointNotFound)
	case err != nil:
		s.failErr(req, withHint(err, hint))
	default:
		s.respondStored(req, AppendEvent(make([]byte, 0, 1024), ev))
	}
}

// failEndpoint is failErr for the routes of one endpoint: its 404 says
// that the endpoint is unknown.
func (s *Server) failEndpoint(req *request, err error) {
	if customerd.ErrorCode(err) == customerd.ENOTFOUND {
		s.fail(req, errEndpointNotFound)
		return
	}
	s.failErr(req, err)
}

// respondEndpoint answers with an endpoint (or the bytes its
// Idempotency-Key's record holds).
func (s *Server) respondEndpoint(req *request, e *customerd.WebhookEndpoint) {
	s.respondStored(req, appendEndpoint(make([]byte, 0, 512), e))
}

// respondStored answers 200 with body, or with the bytes stored as the
// answer of the request's Idempotency-Key, when it has one and they were:
// what a replay gives back is byte for byte what the first request got.
func (s *Server) respondStored(req *request, body []byte) {
	if req.idem != nil && req.idem.Answer != nil {
		body = req.idem.Answer
	}
	s.write(req, http.StatusOK, body)
}

// appendEndpoint appends the JSON of an endpoint (extensions §4); the
// secret only when it is set, in the answer to the create.
func appendEndpoint(b []byte, e *customerd.WebhookEndpoint) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, e.ID)
	b = append(b, `,"object":"webhook_endpoint","url":`...)
	b = appendString(b, e.URL)
	b = append(b, `,"enabled_events":[`...)
	for i, t := range e.EnabledEvents {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, t)
	}
	b = append(b, `],"description":`...)
	b = appendNullable(b, e.Description)
	b = append(b, `,"disabled":`...)
	b = strconv.AppendBool(b, e.Disabled)
	b = append(b, `,"created":`...)
	b = appendTime(b, e.Created)
	if e.Secret != "" {
		b = append(b, `,"secret":`...)
		b = appendString(b, e.Secret)
	}
	return append(b, '}')
}

// appendAttempt appends the JSON of a delivery attempt (extensions §4).
func appendAttempt(b []byte, a *customerd.WebhookAttempt) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, a.ID)
	b = append(b, `,"object":"webhook_attempt","endpoint":`...)
	b = appendString(b, a.EndpointID)
	b = append(b, `,"event":`...)
	b = appendString(b, a.EventID)
	b = append(b, `,"attempt":`...)
	b = strconv.AppendInt(b, int64(a.Attempt), 10)
	b = append(b, `,"created":`...)
	b = appendTime(b, a.Created)
	b = append(b, `,"status_code":`...)
	if a.StatusCode == 0 {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendInt(b, int64(a.StatusCode), 10)
	}
	b = append(b, `,"duration_ms":`...)
	b = strconv.AppendInt(b, a.Duration.Milliseconds(), 10)
	b = append(b, `,"error":`...)
	b = appendNullable(b, a.Error)
	b = append(b, `,"next_retry":`...)
	if a.NextRetry.IsZero() {
		b = append(b, "null"...)
	} else {
		b = appendTime(b, a.NextRetry)
	}
	b = append(b, `,"delivered":`...)
	b = strconv.AppendBool(b, a.Delivered)
	return append(b, '}')
}
