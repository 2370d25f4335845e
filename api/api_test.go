package api_test

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"go.yaml.in/yaml/v4"

	"customerd/api"
)

func load(t *testing.T, data []byte) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(data)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the document is not valid OpenAPI: %v", err)
	}
	return doc
}

func TestDocumentIsValidOpenAPI31(t *testing.T) {
	doc := load(t, api.YAML())
	if !doc.IsOpenAPI31OrLater() {
		t.Fatalf("openapi %q, want 3.1", doc.OpenAPI)
	}
	for _, p := range []string{"/customers", "/customers/{customer_id}", "/healthz", "/readyz", "/openapi.yaml", "/openapi.json", "/metrics"} {
		if doc.Paths.Value(p) == nil {
			t.Errorf("path %s is not documented", p)
		}
	}
	load(t, api.JSON())
}

func TestJSONIsTheYAML(t *testing.T) {
	var fromYAML, fromJSON any
	if err := yaml.Unmarshal(api.YAML(), &fromYAML); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(api.JSON(), &fromJSON); err != nil {
		t.Fatal(err)
	}
	// Round-trip the YAML value through JSON so both sides use JSON's types.
	b, err := json.Marshal(fromYAML)
	if err != nil {
		t.Fatal(err)
	}
	var want any
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromJSON, want) {
		t.Fatal("/openapi.json differs from openapi.yaml")
	}
	if !strings.HasPrefix(string(api.JSON()), `{"openapi":"3.1.0","info":`) {
		t.Fatalf("members out of the YAML's order: %.40s", api.JSON())
	}
}

// The field rules of the contract (§5.1) as the document's schemas state
// them. The domain's own table (fields_test.go) is the reference; these
// cases check that the patterns say the same thing.
func TestFieldSchemasFollowTheContract(t *testing.T) {
	doc := load(t, api.YAML())
	long := func(c byte, n int) string { return strings.Repeat(string(c), n) }
	for _, tc := range []struct {
		schema, value string
		valid         bool
	}{
		{"EmailAddress", "customer@gmail.com", true},
		{"EmailAddress", "a.b_c+tag@sub.example.co", true},
		{"EmailAddress", "a._.b@example.com", true},
		{"EmailAddress", "x@a-b.c", true},
		{"EmailAddress", "o'brien{|}~`#$%&*/=?^-@example.com", true},
		{"EmailAddress", long('a', 64) + "@example.com", true},
		{"EmailAddress", "a@" + long('b', 63) + ".com", true},
		{"EmailAddress", "", false},
		{"EmailAddress", "plain", false},
		{"EmailAddress", "a@b@example.com", false},
		{"EmailAddress", "_jon@example.com", false},
		{"EmailAddress", "jon_@example.com", false},
		{"EmailAddress", ".jon@example.com", false},
		{"EmailAddress", "jon.@example.com", false},
		{"EmailAddress", "jo..n@example.com", false},
		{"EmailAddress", "jon snow@example.com", false},
		{"EmailAddress", "jön@example.com", false},
		{"EmailAddress", "jon@localhost", false},
		{"EmailAddress", "jon@-example.com", false},
		{"EmailAddress", "jon@example-.com", false},
		{"EmailAddress", "jon@example..com", false},
		{"EmailAddress", "jon@exa_mple.com", false},
		{"EmailAddress", long('a', 65) + "@example.com", false},
		{"EmailAddress", "a@" + long('b', 64) + ".com", false},
		{"EmailAddress", long('a', 60) + "@" + long('b', 60) + "." + long('c', 10), false}, // 131 characters
		{"Name", "Jon", true},
		{"Name", "O.Brien-Smith_(Jr)", true},
		{"Name", long('x', 64), true},
		{"Name", long('x', 65), false},
		{"Name", "", false},
		{"Name", "Jon Snow", false},
		{"Name", "Zoë", false},
		{"MobileNumber", "99887766", true},
		{"MobileNumber", long('9', 16), true},
		{"MobileNumber", long('9', 17), false},
		{"MobileNumber", "+65", false},
		{"MobileNumber", "", false},
		{"MobileCountryCodeInput", "+65", true},
		{"MobileCountryCodeInput", "1234", true},
		{"MobileCountryCodeInput", "12345", false},
		{"MobileCountryCodeInput", "++65", false},
		{"MobileCountryCodeInput", "", false},
		{"ObjectReferenceId", "customer@gmail.com", true},
		{"ObjectReferenceId", "order 42 / über", true},
		{"ObjectReferenceId", strings.Repeat("ü", 128), true},
		{"ObjectReferenceId", strings.Repeat("ü", 129), false},
		{"ObjectReferenceId", "", false},
		{"ObjectReferenceId", "tab\there", false},
		{"ObjectReferenceId", "c1\u0085control", false},
		{"BooleanOption", "True", true},
		{"BooleanOption", "1", true},
		{"BooleanOption", "", true},
		{"BooleanOption", "yes", false},
	} {
		s := doc.Components.Schemas[tc.schema]
		if s == nil {
			t.Fatalf("no schema %s", tc.schema)
		}
		err := s.Value.VisitJSON(tc.value, openapi3.EnableJSONSchema2020())
		if (err == nil) != tc.valid {
			t.Errorf("%s %q: valid = %v, want %v (%v)", tc.schema, tc.value, err == nil, tc.valid, err)
		}
	}
}
