package httpapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"customerd/api"
)

// The OpenAPI document is the contract every exchange of this suite is
// checked against: send validates each request the suite sends and each
// response it receives. A change to the server that the document does not
// describe, or a change to the document that the server does not follow,
// fails the suite.

var loadContract = sync.OnceValues(func() (*openapi3.T, error) {
	doc, err := openapi3.NewLoader().LoadFromData(api.YAML())
	if err != nil {
		return nil, err
	}
	return doc, doc.Validate(context.Background())
})

func contract(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := loadContract()
	if err != nil {
		t.Fatalf("api/openapi.yaml: %v", err)
	}
	return doc
}

type breaksContractKey struct{}

// breaksContract marks a request that violates the contract on purpose (a
// bad field, malformed body, wrong media type, bad credentials): it is not
// validated, but the response to it still is.
func breaksContract() reqOpt {
	return func(r *http.Request) {
		*r = *r.WithContext(context.WithValue(r.Context(), breaksContractKey{}, true))
	}
}

func breaksContractOnPurpose(r *http.Request) bool {
	return r.Context().Value(breaksContractKey{}) != nil
}

// exchange is one request and its response, as the suite saw them.
type exchange struct {
	req     *http.Request
	reqBody []byte
	status  int
	header  http.Header
	body    []byte
}

// checkContract validates ex against the document and returns what is wrong.
func checkContract(t *testing.T, ex exchange) error {
	t.Helper()
	doc := contract(t)
	ctx := context.Background()
	route, params, miss := findOperation(doc, ex.req)
	if route == nil {
		// Paths and methods outside the document have a documented answer.
		resp := doc.Components.Responses[miss]
		if resp == nil {
			return fmt.Errorf("api/openapi.yaml has no components.responses.%s", miss)
		}
		op := openapi3.NewOperation()
		op.Responses = openapi3.NewResponses(openapi3.WithStatus(map[string]int{
			"RouteNotFound": http.StatusNotFound, "MethodNotAllowed": http.StatusMethodNotAllowed}[miss], resp))
		route = &routers.Route{Spec: doc, Path: ex.req.URL.Path, Method: ex.req.Method, Operation: op}
	}
	in := &openapi3filter.RequestValidationInput{
		Request:    requestForValidation(ex),
		PathParams: params,
		Route:      route,
		Options: &openapi3filter.Options{
			AuthenticationFunc:                basicAuthShape,
			RejectWhenRequestBodyNotSpecified: true,
		},
	}
	if miss == "" && !breaksContractOnPurpose(ex.req) {
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			return fmt.Errorf("the request does not follow api/openapi.yaml (mark it breaksContract() if that is the point of the test): %s", brief(err))
		}
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 ex.status,
		Header:                 ex.header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true},
	}
	out.SetBodyBytes(ex.body)
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		return fmt.Errorf("the response does not follow api/openapi.yaml: %s", brief(err))
	}
	return nil
}

// brief drops the schema dump that kin-openapi appends to its errors.
func brief(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\nSchema:")
	return s
}

// findOperation matches the request against the document's paths the way
// the server does: a template variable is one non-empty escaped segment,
// percent-decoded. It returns the route and path parameters, or the name
// of the documented response for a path or method the document lacks.
func findOperation(doc *openapi3.T, r *http.Request) (*routers.Route, map[string]string, string) {
	path := r.URL.EscapedPath()
	if r.URL.Opaque != "" {
		path = r.URL.Opaque // sent byte for byte
	}
	segs := strings.Split(path, "/")
	for tmpl, item := range doc.Paths.Map() {
		params, ok := matchTemplate(strings.Split(tmpl, "/"), segs)
		if !ok {
			continue
		}
		op := item.GetOperation(r.Method)
		if op == nil {
			return nil, nil, "MethodNotAllowed"
		}
		return &routers.Route{Spec: doc, Path: tmpl, PathItem: item, Method: r.Method, Operation: op}, params, ""
	}
	return nil, nil, "RouteNotFound"
}

func matchTemplate(tmpl, segs []string) (map[string]string, bool) {
	if len(tmpl) != len(segs) {
		return nil, false
	}
	params := map[string]string{}
	for i, t := range tmpl {
		name, isVar := strings.CutPrefix(t, "{")
		if !isVar {
			if t != segs[i] {
				return nil, false
			}
			continue
		}
		v, err := url.PathUnescape(segs[i])
		if err != nil || v == "" {
			return nil, false
		}
		params[strings.TrimSuffix(name, "}")] = v
	}
	return params, true
}

// requestForValidation copies the sent request with its body. The contract
// reads a body without Content-Type as a form (§3), so the copy says so.
func requestForValidation(ex exchange) *http.Request {
	r := ex.req.Clone(context.Background())
	r.Body = io.NopCloser(bytes.NewReader(ex.reqBody))
	r.ContentLength = int64(len(ex.reqBody))
	if len(ex.reqBody) > 0 && r.Header.Get("Content-Type") == "" {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return r
}

// basicAuthShape checks that the request carries credentials in the shape
// the document's basicAuth scheme describes: Basic, base64, a non-empty API
// key as the username. Whether the key is valid is the server's business.
func basicAuthShape(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	if in.SecuritySchemeName != "basicAuth" {
		return fmt.Errorf("unknown security scheme %q", in.SecuritySchemeName)
	}
	scheme, enc, ok := strings.Cut(in.RequestValidationInput.Request.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return errors.New("no Basic Authorization header")
	}
	raw, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return errors.New("the Basic credentials are not base64")
	}
	if user, _, _ := strings.Cut(string(raw), ":"); user == "" {
		return errors.New("the Basic credentials have no API key")
	}
	return nil
}
