// Package api holds customerd's OpenAPI document, the machine-readable form of
// the wire contract. It is embedded in the binary and served by the HTTP
// layer; the HTTP test suite validates all of its traffic against it, so the
// document and the server cannot drift apart.
package api

import (
	_ "embed"
	"fmt"
)

//go:embed openapi.yaml
var openapiYAML []byte

// openapiJSON is the same document as JSON, converted once at start-up. The
// document is part of the build: if it does not convert, the binary is
// broken, and the tests of this package say so first.
var openapiJSON = mustJSON(openapiYAML)

// YAML returns the OpenAPI document as written. Callers must not modify it.
func YAML() []byte { return openapiYAML }

// JSON returns the OpenAPI document as JSON, members in the order of the
// YAML. Callers must not modify it.
func JSON() []byte { return openapiJSON }

func mustJSON(y []byte) []byte {
	j, err := yamlToJSON(y)
	if err != nil {
		panic(fmt.Sprintf("api: openapi.yaml: %v", err))
	}
	return j
}
