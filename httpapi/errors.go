package httpapi

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"customerd"
)

// apiError is one error response in Juspay's wire shape. Every error the
// server sends is built by errorFor or by one of the constructors below, so
// the shapes of §6 of the contract live in this file only.
type apiError struct {
	httpStatus    int
	status        string // the "status" member
	errorCode     string
	errorMessage  string // omitted when empty
	userMessage   string
	developerMsg  string
	code          string // error_info.code
	category      string
	fields        []customerd.FieldError
	retryAfterSec int // sets Retry-After when > 0
	withRequestID bool
}

const (
	statusInvalidRequest = "Invalid Request"
	statusInvalidReqErr  = "invalid_request_error"
	statusError          = "error"
	userError            = "USER_ERROR"
	serverError          = "SERVER_ERROR"
	userMsgInvalidParams = "Invalid request params. Please verify your input."
)

// errorFor maps a domain error to its wire error.
func errorFor(err error) apiError {
	switch customerd.ErrorCode(err) {
	case customerd.EINVALID:
		return invalidError(err)
	case customerd.ENOTFOUND:
		return apiError{httpStatus: http.StatusNotFound, status: statusInvalidReqErr, errorCode: "object_not_found",
			errorMessage: "Cannot find what you are looking for",
			userMessage:  "Cannot process your request as customer account not found.",
			developerMsg: "Customer account not found.", code: "RESOURCE_NOT_FOUND", category: userError}
	case customerd.ECONFLICT:
		return apiError{httpStatus: http.StatusBadRequest, status: statusInvalidReqErr, errorCode: "unique",
			errorMessage: "Customer with given object reference id already exist for your account.",
			userMessage:  "Already exists.",
			developerMsg: "Customer account with given object reference already exists.", code: "ALREADY_EXISTS", category: userError}
	case customerd.EUNAUTHORIZED:
		return errUnauthorized
	case customerd.EKEYREUSED:
		return errKeyReused
	case customerd.EKEYINUSE:
		return errKeyInUse
	case customerd.ERATELIMIT:
		return rateLimited(1)
	case customerd.EUNAVAILABLE:
		return apiError{httpStatus: http.StatusServiceUnavailable, status: statusError, errorCode: "service_unavailable",
			errorMessage: "Service temporarily unavailable. Please retry.",
			userMessage:  "Service temporarily unavailable.",
			developerMsg: "The database cannot be reached; retry after the Retry-After delay.",
			code:         "SERVICE_UNAVAILABLE", category: serverError, retryAfterSec: 1, withRequestID: true}
	default:
		return errInternal
	}
}

var errUnauthorized = apiError{httpStatus: http.StatusUnauthorized, status: statusError, errorCode: "access_denied",
	userMessage: "Unauthorized.", developerMsg: "Invalid API Key. Please pass a valid and active api key.",
	code: "UNAUTHORIZED", category: userError}

var errInternal = apiError{httpStatus: http.StatusInternalServerError, status: statusError, errorCode: "internal_error",
	errorMessage: "Something went wrong. Please retry or contact support with the request id.",
	userMessage:  "Something went wrong.", developerMsg: "Internal server error.",
	code: "INTERNAL_ERROR", category: serverError, withRequestID: true}

// rateLimited is the 429 answer, with Retry-After in whole seconds.
func rateLimited(retryAfterSec int) apiError {
	return apiError{httpStatus: http.StatusTooManyRequests, status: statusError, errorCode: "too_many_requests",
		errorMessage: "Too many requests. Please retry after some time.",
		userMessage:  "Too many requests.", developerMsg: "Rate limit exceeded; retry after the Retry-After delay.",
		code: "RATE_LIMITED", category: userError, retryAfterSec: max(1, retryAfterSec)}
}

// invalidError builds the 400 for field and body errors. When the first bad
// field is missing, the error is MISSING_MANDATORY_PARAMETER and names every
// missing field; otherwise it is INVALID_INPUT and names the first bad field.
func invalidError(err error) apiError {
	e := apiError{httpStatus: http.StatusBadRequest, status: statusInvalidRequest, errorCode: statusInvalidRequest,
		userMessage: userMsgInvalidParams, code: "INVALID_INPUT", category: userError}
	var de *customerd.Error
	if !asError(err, &de) {
		return errInternal
	}
	e.developerMsg = de.Message
	e.fields = de.Fields
	switch {
	case len(de.Fields) == 0:
		e.errorMessage = "Invalid request body"
	case de.Fields[0].Missing:
		var missing []string
		for _, f := range de.Fields {
			if f.Missing {
				missing = append(missing, f.Field)
			}
		}
		e.code = "MISSING_MANDATORY_PARAMETER"
		e.errorMessage = "Mandatory fields are missing: " + strings.Join(missing, ", ")
	default:
		e.errorMessage = "Wrong value in " + de.Fields[0].Field
	}
	return e
}

// jsonAsFormHint returns the hint for a form body whose only field name
// starts with '{': JSON sent without its Content-Type (curl -d '{…}' sends
// a form), which reads as a body without the expected fields.
func jsonAsFormHint(p params) string {
	if len(p) != 1 {
		return ""
	}
	for k := range p {
		if strings.HasPrefix(k, "{") {
			return "the body looks like JSON; send Content-Type: application/json"
		}
	}
	return ""
}

// withHint adds hint to the developer message of a field error, keeping
// the contract's error otherwise.
func withHint(err error, hint string) error {
	var de *customerd.Error
	if hint == "" || !asError(err, &de) || de.Code != customerd.EINVALID {
		return err
	}
	hinted := *de
	hinted.Message += "; " + hint
	return &hinted
}

func badRequest(detail string) apiError {
	return invalidError(malformed(detail))
}

func bodyTooLarge() apiError {
	e := badRequest("the request body is larger than 64 KiB")
	e.httpStatus = http.StatusRequestEntityTooLarge
	e.errorMessage = "Request body too large"
	return e
}

// bodyTimeout is the answer to a body that did not arrive within the
// server's read timeout: a 408 in the shape of the other body errors.
func bodyTimeout() apiError {
	e := badRequest("the request body did not arrive within the server's read timeout")
	e.httpStatus = http.StatusRequestTimeout
	e.errorMessage = "Request body timed out"
	return e
}

func unsupportedMediaType() apiError {
	e := badRequest("Content-Type must be application/x-www-form-urlencoded or application/json")
	e.httpStatus = http.StatusUnsupportedMediaType
	e.errorMessage = "Unsupported Content-Type"
	return e
}

// errNotReady is the 503 of /readyz, in the shape of an unreachable database.
var errNotReady = func() apiError {
	e := errorFor(customerd.Unavailable(errors.New("not ready")))
	e.developerMsg = "The database cannot be reached or its migrations are not applied."
	return e
}()

// errEventNotFound is the 404 of an unknown event (extensions §0).
var errEventNotFound = apiError{httpStatus: http.StatusNotFound, status: statusInvalidReqErr, errorCode: "object_not_found",
	errorMessage: "Cannot find what you are looking for", userMessage: "Event not found.",
	developerMsg: "No event of this merchant has this id.", code: "RESOURCE_NOT_FOUND", category: userError}

// errEndpointNotFound is the 404 of an unknown webhook endpoint.
var errEndpointNotFound = apiError{httpStatus: http.StatusNotFound, status: statusInvalidReqErr, errorCode: "object_not_found",
	errorMessage: "Cannot find what you are looking for", userMessage: "Webhook endpoint not found.",
	developerMsg: "No webhook endpoint of this merchant has this id.", code: "RESOURCE_NOT_FOUND", category: userError}

var errRouteNotFound = apiError{httpStatus: http.StatusNotFound, status: statusInvalidReqErr, errorCode: "not_found",
	errorMessage: "Resource not found", userMessage: "Resource not found.",
	developerMsg: "No route matches this path.", code: "RESOURCE_NOT_FOUND", category: userError}

var errMethodNotAllowed = apiError{httpStatus: http.StatusMethodNotAllowed, status: statusInvalidReqErr,
	errorCode: "method_not_allowed", errorMessage: "Method not allowed",
	userMessage: "Method not allowed.", developerMsg: "This route does not support this method; see the Allow header.",
	code: "INVALID_ACTION", category: userError}

// appendJSON encodes the error body.
func (e apiError) appendJSON(b []byte, requestID string) []byte {
	b = append(b, `{"status":`...)
	b = appendString(b, e.status)
	b = append(b, `,"error_code":`...)
	b = appendString(b, e.errorCode)
	if e.errorMessage != "" {
		b = append(b, `,"error_message":`...)
		b = appendString(b, e.errorMessage)
	}
	b = append(b, `,"error_info":{"user_message":`...)
	b = appendString(b, e.userMessage)
	b = append(b, `,"developer_message":`...)
	b = appendString(b, e.developerMsg)
	b = append(b, `,"code":`...)
	b = appendString(b, e.code)
	b = append(b, `,"category":`...)
	b = appendString(b, e.category)
	if len(e.fields) > 0 {
		b = append(b, `,"fields":[`...)
		for i, f := range e.fields {
			if i > 0 {
				b = append(b, ',')
			}
			reason := "Invalid value."
			if f.Missing {
				reason = "Field required but not passed."
			}
			b = append(b, `{"field_name":`...)
			b = appendString(b, f.Field)
			b = append(b, `,"reason":`...)
			b = appendString(b, reason)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, '}')
	if e.withRequestID {
		b = append(b, `,"request_id":`...)
		b = appendString(b, requestID)
	}
	return append(b, '}')
}

func (e apiError) retryAfter() string {
	if e.retryAfterSec <= 0 {
		return ""
	}
	return strconv.Itoa(e.retryAfterSec)
}

func asError(err error, target **customerd.Error) bool { return errors.As(err, target) }
