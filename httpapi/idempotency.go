package httpapi

import (
	"context"
	"encoding/binary"
	"net/http"
	"sort"
	"time"

	"customerd"
)

// idempotencyKey reads the Idempotency-Key header of a write (extensions
// §5), right after authentication: a malformed key is a 400 that names the
// header, answered here.
func (s *Server) idempotencyKey(req *request) bool {
	vals, present := req.r.Header[customerd.IdempotencyKeyHeader]
	if !present {
		return true
	}
	key := ""
	if len(vals) == 1 {
		key = vals[0]
	}
	if err := customerd.ValidateIdempotencyKey(key); err != nil || len(vals) != 1 {
		detail := "given more than once"
		if err != nil {
			detail = err.Error()
		}
		s.failErr(req, fieldErr(customerd.IdempotencyKeyHeader, customerd.IdempotencyKeyHeader+": "+detail))
		return false
	}
	req.idemKey = key
	return true
}

// claim takes the request's Idempotency-Key for the write, once its body is
// parsed: it answers a replay, a key used for another request or still in
// use itself, and returns false then. render is how the write's result
// becomes its answer, stored with the change.
func (s *Server) claim(req *request, body params, render func(any) ([]byte, error)) bool {
	if req.idemKey == "" {
		return true
	}
	idem, answer, err := s.svc.BeginIdempotent(req.storeContext(), req.merchantID, req.idemKey, canonicalRequest(req, body))
	switch {
	case err != nil:
		s.failErr(req, err)
		return false
	case answer != nil:
		req.w.Header()["Idempotent-Replayed"] = []string{"true"}
		s.write(req, answer.Status, answer.Body)
		return false
	}
	idem.Render = render
	req.idem = idem
	return true
}

// canonicalRequest is what makes two requests "the same" for an
// Idempotency-Key: the method, the route and the decoded id it names, and
// the parsed body's fields and values sorted by name, each length-prefixed.
// A form body and its JSON twin, reordered fields, and %40 for @ in the path
// are the same request; a field more or less, or another value, is not. A
// DELETE's body is ignored, as the erasure ignores it.
func canonicalRequest(req *request, body params) []byte {
	b := make([]byte, 0, 256)
	add := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	add(req.r.Method)
	add(req.route)
	add(req.pathID)
	names := make([]string, 0, len(body))
	for k := range body {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		add(k)
		add(body[k])
	}
	return b
}

// release ends the request's claim on its Idempotency-Key when the request
// is done, however it ended: after a write that did not succeed the key is
// free again, so that a retry runs afresh.
func (s *Server) release(req *request) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(req.r.Context()), 5*time.Second)
	defer cancel()
	if err := s.svc.Release(ctx, req.idem); err != nil {
		s.log.Warn("an Idempotency-Key could not be released; it is free again within 15 s", "request_id", req.requestID,
			"error", err.Error())
	}
}

// errKeyReused and errKeyInUse are the answers of a key used for another
// request and of a key still in use (extensions §0).
var (
	errKeyReused = apiError{httpStatus: http.StatusBadRequest, status: statusInvalidReqErr, errorCode: "idempotency_key_reused",
		errorMessage: "Keys for idempotent requests can only be used with the same parameters they were first used with.",
		userMessage:  "Idempotency key reused.",
		developerMsg: "This Idempotency-Key was used for another request: another method, path or body.",
		code:         "INVALID_INPUT", category: userError}
	errKeyInUse = apiError{httpStatus: http.StatusConflict, status: statusInvalidReqErr, errorCode: "idempotency_key_in_use",
		errorMessage: "A request with this Idempotency-Key is still being processed.",
		userMessage:  "Request in progress.",
		developerMsg: "Another request with this Idempotency-Key is running; retry after the Retry-After delay.",
		code:         "CONFLICT", category: userError, retryAfterSec: 1}
)
