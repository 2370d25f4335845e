package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"

	"go.yaml.in/yaml/v4"
)

// yamlToJSON converts one YAML document to compact JSON. Unlike decoding
// into a map and re-encoding, it keeps the members in the order of the YAML,
// so /openapi.json reads like openapi.yaml.
func yamlToJSON(in []byte) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(in, &doc); err != nil {
		return nil, err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, errors.New("want exactly one YAML document")
	}
	return appendNode(nil, doc.Content[0])
}

func appendNode(b []byte, n *yaml.Node) ([]byte, error) {
	switch n.Kind {
	case yaml.MappingNode:
		b = append(b, '{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: a mapping key must be a scalar", k.Line)
			}
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k.Value)
			b = append(b, ':')
			var err error
			if b, err = appendNode(b, v); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	case yaml.SequenceNode:
		b = append(b, '[')
		for i, v := range n.Content {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendNode(b, v); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case yaml.ScalarNode:
		return appendScalar(b, n)
	case yaml.AliasNode:
		return appendNode(b, n.Alias)
	}
	return nil, fmt.Errorf("line %d: unsupported YAML node", n.Line)
}

func appendScalar(b []byte, n *yaml.Node) ([]byte, error) {
	switch n.ShortTag() {
	case "!!null":
		return append(b, "null"...), nil
	case "!!bool":
		v, err := strconv.ParseBool(n.Value)
		if err != nil {
			// YAML 1.1 spellings such as "yes" are strings in YAML 1.2.
			return appendJSONString(b, n.Value), nil
		}
		return strconv.AppendBool(b, v), nil
	case "!!int":
		v, err := strconv.ParseInt(n.Value, 0, 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: integer %q: %w", n.Line, n.Value, err)
		}
		return strconv.AppendInt(b, v, 10), nil
	case "!!float":
		v, err := strconv.ParseFloat(n.Value, 64)
		if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
			return nil, fmt.Errorf("line %d: number %q has no JSON form", n.Line, n.Value)
		}
		return strconv.AppendFloat(b, v, 'g', -1, 64), nil
	default:
		return appendJSONString(b, n.Value), nil
	}
}

// appendJSONString quotes s without encoding/json's HTML escaping, which
// would turn every '&' and '<' of the descriptions into \u0026 and \u003c.
func appendJSONString(b []byte, s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return append(b, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...)
}
