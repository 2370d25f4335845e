package httpapi

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"os"
	"time"

	"customerd"
)

// maxBodyBytes is the largest request body accepted.
const maxBodyBytes = 64 << 10

// answerTime is how long writing an answer may take, after the store's
// deadline (see readBody).
const answerTime = 5 * time.Second

func (s *Server) health(req *request, _ string) {
	s.write(req, http.StatusOK, []byte(`{"status":"ok"}`))
}

// createCustomer serves POST /customers.
func (s *Server) createCustomer(req *request, _ string) {
	if !s.authenticate(req) || !s.idempotencyKey(req) {
		return
	}
	p, hint, ok := s.readBody(req)
	if !ok {
		return
	}
	withToken, err := parseBool(p, optionClientAuthToken)
	if err != nil {
		s.failErr(req, err)
		return
	}
	if !s.claim(req, p, func(v any) ([]byte, error) { return s.customerJSON(v.(*customerd.Customer), withToken) }) {
		return
	}
	c, err := s.svc.CreateCustomer(req.storeContext(), req.caller(), customerd.CreateRequest{
		ObjectReferenceID: p.value(customerd.FieldObjectReferenceID),
		MobileNumber:      p.value(customerd.FieldMobileNumber),
		MobileCountryCode: p.value(customerd.FieldMobileCountryCode),
		EmailAddress:      p.value(customerd.FieldEmailAddress),
		FirstName:         p.value(customerd.FieldFirstName),
		LastName:          p.value(customerd.FieldLastName),
	})
	if err != nil {
		s.failErr(req, withHint(err, hint))
		return
	}
	s.metrics.CustomerCreated()
	s.respondCustomer(req, c, withToken)
}

// customerJSON is a customer's answer, with a fresh client auth token when
// asked for.
func (s *Server) customerJSON(c *customerd.Customer, withToken bool) ([]byte, error) {
	var tok *customerd.ClientAuthToken
	if withToken {
		t, err := customerd.NewClientAuthToken(s.now())
		if err != nil {
			return nil, err
		}
		tok = &t
	}
	return appendCustomer(make([]byte, 0, 512), c, tok), nil
}

// listCustomers serves GET /customers: the merchant's customers, newest
// first unless order=asc, filtered by exact matches of email_address,
// mobile_number and object_reference_id and by the created range.
func (s *Server) listCustomers(req *request, _ string) {
	if !s.authenticate(req) {
		return
	}
	page, q, err := parseList(req.r.URL.RawQuery, "cst_", false)
	if err != nil {
		s.failErr(req, err)
		return
	}
	customers, total, more, err := s.svc.ListCustomers(req.storeContext(), req.merchantID, customerd.CustomerSearch{Page: page,
		ObjectReferenceID: q[customerd.FieldObjectReferenceID], MobileNumber: q[customerd.FieldMobileNumber],
		EmailAddress: q[customerd.FieldEmailAddress]})
	if err != nil {
		s.failErr(req, err)
		return
	}
	b := appendList(make([]byte, 0, 128+400*len(customers)), page.Offset, total, more, len(customers), func(b []byte, i int) []byte {
		return appendCustomer(b, customers[i], nil)
	})
	s.write(req, http.StatusOK, b)
}

// getCustomer serves GET /customers/{customer_id}.
func (s *Server) getCustomer(req *request, id string) {
	if !s.authenticate(req) {
		return
	}
	withToken := false
	if raw := req.r.URL.RawQuery; raw != "" { // most gets have no query: skip the map
		q, err := parseForm(raw)
		if err != nil {
			s.failErr(req, err)
			return
		}
		if withToken, err = parseBool(q, optionClientAuthToken); err != nil {
			s.failErr(req, err)
			return
		}
	}
	c, err := s.svc.FindCustomer(req.storeContext(), req.merchantID, id)
	if err != nil {
		s.failErr(req, err)
		return
	}
	s.respondCustomer(req, c, withToken)
}

// updateCustomer serves POST /customers/{customer_id}: a partial update.
// The token option is ignored here, as Juspay does.
func (s *Server) updateCustomer(req *request, id string) {
	if !s.authenticate(req) || !s.idempotencyKey(req) {
		return
	}
	p, _, ok := s.readBody(req)
	if !ok {
		return
	}
	if !s.claim(req, p, func(v any) ([]byte, error) { return s.customerJSON(v.(*customerd.Customer), false) }) {
		return
	}
	c, err := s.svc.UpdateCustomer(req.storeContext(), req.caller(), id, customerd.UpdateRequest{
		MobileNumber:      p.value(customerd.FieldMobileNumber),
		MobileCountryCode: p.value(customerd.FieldMobileCountryCode),
		EmailAddress:      p.value(customerd.FieldEmailAddress),
		FirstName:         p.value(customerd.FieldFirstName),
		LastName:          p.value(customerd.FieldLastName),
	})
	if err != nil {
		s.failErr(req, err)
		return
	}
	s.metrics.CustomerUpdated()
	s.respondCustomer(req, c, false)
}

// respondCustomer answers with a customer: the bytes stored as the answer
// of the request's Idempotency-Key, when it has one and they were.
func (s *Server) respondCustomer(req *request, c *customerd.Customer, withToken bool) {
	if req.idem != nil && req.idem.Answer != nil {
		s.write(req, http.StatusOK, req.idem.Answer)
		return
	}
	body, err := s.customerJSON(c, withToken)
	if err != nil {
		s.failErr(req, err)
		return
	}
	s.write(req, http.StatusOK, body)
}

// readBody checks the media type and size of a POST body and parses it. It
// answers 415, 413 or 400 itself and returns false on failure. The hint, when
// not empty, is for the developer message of a 400 that follows from the
// body's fields (see jsonAsFormHint).
func (s *Server) readBody(req *request) (params, string, bool) {
	ct := req.r.Header.Get("Content-Type")
	isJSON := false
	if ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		switch {
		case err != nil:
			s.fail(req, unsupportedMediaType())
			return nil, "", false
		case mt == "application/json":
			isJSON = true
		case mt == "application/x-www-form-urlencoded":
		default:
			s.fail(req, unsupportedMediaType())
			return nil, "", false
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(req.w, req.r.Body, maxBodyBytes))
	req.restartStoreDeadline()
	// The server's read and write timeouts run from the start of the
	// request: a body that arrives late, or never, leaves no time to write
	// the answer. The answer gets its own time from here, the store's
	// deadline and some more.
	// (As http.ResponseController would, without allocating one.)
	if d, ok := req.w.(interface{ SetWriteDeadline(time.Time) error }); ok {
		_ = d.SetWriteDeadline(time.Now().Add(storeTimeout + answerTime))
	}
	if err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			s.fail(req, bodyTooLarge())
		case errors.Is(err, os.ErrDeadlineExceeded):
			s.fail(req, bodyTimeout())
		case errors.Is(err, io.ErrUnexpectedEOF):
			s.fail(req, badRequest("the request body ended before its declared length (or its last chunk)"))
		default:
			s.fail(req, badRequest("the request body could not be read"))
		}
		return nil, "", false
	}
	var p params
	hint := ""
	if isJSON {
		p, err = parseJSON(body)
	} else {
		p, err = parseForm(string(body))
		hint = jsonAsFormHint(p)
	}
	if err != nil {
		s.failErr(req, err)
		return nil, "", false
	}
	return p, hint, true
}
