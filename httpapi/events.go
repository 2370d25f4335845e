package httpapi

import (
	"net/http"
	"slices"
	"strconv"

	"customerd"
)

// eraseCustomer serves DELETE /customers/{customer_id}: the erasure. A body,
// if any, is ignored.
func (s *Server) eraseCustomer(req *request, id string) {
	if !s.authenticate(req) || !s.idempotencyKey(req) {
		return
	}
	if !s.claim(req, nil, func(v any) ([]byte, error) { return erasedJSON(v.(string)), nil }) {
		return
	}
	erased, err := s.svc.EraseCustomer(req.storeContext(), req.caller(), id)
	if err != nil {
		s.failErr(req, err)
		return
	}
	body := erasedJSON(erased)
	if req.idem != nil && req.idem.Answer != nil {
		body = req.idem.Answer
	}
	s.write(req, http.StatusOK, body)
}

// erasedJSON is the answer of an erasure.
func erasedJSON(id string) []byte {
	b := append(make([]byte, 0, 80), `{"id":`...)
	b = appendString(b, id)
	return append(b, `,"object":"customer","deleted":true}`...)
}

// getEvent serves GET /events/{event_id}.
func (s *Server) getEvent(req *request, id string) {
	if !s.authenticate(req) {
		return
	}
	e, err := s.svc.FindEvent(req.storeContext(), req.merchantID, id)
	if customerd.ErrorCode(err) == customerd.ENOTFOUND {
		s.fail(req, errEventNotFound)
		return
	}
	if err != nil {
		s.failErr(req, err)
		return
	}
	s.write(req, http.StatusOK, AppendEvent(make([]byte, 0, 1024), e))
}

// listEvents serves GET /events: the merchant's log, newest first unless
// order=asc, filtered by type, customer_id and the created range.
func (s *Server) listEvents(req *request, _ string) {
	if !s.authenticate(req) {
		return
	}
	page, q, err := parseList(req.r.URL.RawQuery, "evt_", false)
	if err != nil {
		s.failErr(req, err)
		return
	}
	query := customerd.EventQuery{Page: page, Type: q["type"], CustomerID: q["customer_id"]}
	if query.Type != "" && !slices.Contains(customerd.EventTypes, query.Type) {
		s.failErr(req, fieldErr("type", "type: must be one of customer.created, customer.updated, customer.deleted"))
		return
	}
	events, total, more, err := s.svc.ListEvents(req.storeContext(), req.merchantID, query)
	if err != nil {
		s.failErr(req, err)
		return
	}
	s.respondEvents(req, page, events, total, more)
}

// customerEvents serves GET /customers/{customer_id}/events: one customer's
// history, oldest first unless order=desc; 404 once the customer is erased.
func (s *Server) customerEvents(req *request, id string) {
	if !s.authenticate(req) {
		return
	}
	page, _, err := parseList(req.r.URL.RawQuery, "evt_", true)
	if err != nil {
		s.failErr(req, err)
		return
	}
	events, total, more, err := s.svc.CustomerEvents(req.storeContext(), req.merchantID, id, page)
	if err != nil {
		s.failErr(req, err)
		return
	}
	s.respondEvents(req, page, events, total, more)
}

func (s *Server) respondEvents(req *request, page customerd.Page, events []*customerd.Event, total int, more bool) {
	b := appendList(make([]byte, 0, 512+1024*len(events)), page.Offset, total, more, len(events), func(b []byte, i int) []byte {
		return AppendEvent(b, events[i])
	})
	s.write(req, http.StatusOK, b)
}

// AppendEvent appends the JSON of an event (extensions §3) to b: the wire
// format the API, webhooks and the command line all use.
func AppendEvent(b []byte, e *customerd.Event) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, e.ID)
	b = append(b, `,"object":"event","type":`...)
	b = appendString(b, e.Type)
	b = append(b, `,"created":`...)
	b = appendTime(b, e.Created)
	b = append(b, `,"sequence":`...)
	b = strconv.AppendInt(b, e.Sequence, 10)
	b = append(b, `,"data":{"object":`...)
	b = appendEventCustomer(b, &e.Customer, e.Erased)
	if e.Type == customerd.EventCustomerUpdated {
		b = append(b, `,"previous_attributes":{`...)
		for i, p := range e.Previous {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, p.Field)
			b = append(b, ':')
			switch {
			case p.Null:
				b = append(b, "null"...)
			case p.Field == customerd.FieldLastUpdated:
				b = appendTime(b, p.Time)
			default:
				b = appendString(b, p.Value)
			}
		}
		b = append(b, '}')
	}
	b = append(b, `},"request":{"id":`...)
	b = appendString(b, e.Caller.RequestID)
	b = append(b, `,"idempotency_key":`...)
	b = appendNullable(b, e.Caller.IdempotencyKey)
	b = append(b, `,"api_key_prefix":`...)
	b = appendNullable(b, e.Caller.APIKeyPrefix)
	return append(b, "}}"...)
}

// appendEventCustomer is appendCustomer for an event's data.object: once
// the customer is erased, every personal field is null.
func appendEventCustomer(b []byte, c *customerd.Customer, erased bool) []byte {
	if !erased {
		return appendCustomer(b, c, nil)
	}
	b = append(b, `{"id":`...)
	b = appendString(b, c.ID)
	b = append(b, `,"object":"customer","object_reference_id":null,"mobile_number":null,"date_created":`...)
	b = appendTime(b, c.DateCreated)
	b = append(b, `,"last_updated":`...)
	b = appendTime(b, c.LastUpdated)
	b = append(b, `,"email_address":null,"first_name":null,"last_name":null,"mobile_country_code":`...)
	b = appendString(b, c.MobileCountryCode)
	return append(b, '}')
}
