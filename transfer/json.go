package transfer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"customerd"
)

// ParseJSONLine reads one NDJSON line: a JSON object in the shape of the
// customer object. As in the API's JSON bodies, digits may come as JSON
// numbers, null means the same as an empty string, a key given twice is an
// error and unknown keys are ignored (a nested "juspay" object among them);
// null or an empty string for id, date_created or last_updated leaves them
// absent. The LineError it returns has no line number.
func ParseJSONLine(line []byte) (customerd.ImportRequest, *LineError) {
	if req, ok := parseFlat(line); ok {
		return req, nil
	}
	return parseDecoded(line)
}

// parseDecoded is ParseJSONLine with encoding/json's decoder, which
// every line the fast path does not take goes through, and which gives
// every error.
func parseDecoded(line []byte) (customerd.ImportRequest, *LineError) {
	var req customerd.ImportRequest
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return req, &LineError{Reason: "is not a JSON object"}
	}
	seen := make(map[string]bool, 12)
	for {
		tok, err := dec.Token()
		if err != nil {
			return req, &LineError{Reason: jsonError(err)}
		}
		if tok == json.Delim('}') {
			break
		}
		key, _ := tok.(string)
		if seen[key] {
			return req, &LineError{Field: clip(key), Reason: "is given twice"}
		}
		seen[key] = true
		if tok, err = dec.Token(); err != nil {
			return req, &LineError{Reason: jsonError(err)}
		}
		var v string
		switch t := tok.(type) {
		case string:
			v = t
		case json.Number:
			v = t.String()
		case bool:
			v = fmt.Sprint(t)
		case nil:
		case json.Delim:
			if err := skip(dec); err != nil {
				return req, &LineError{Reason: jsonError(err)}
			}
			if knownKeys[key] {
				return req, &LineError{Field: key, Reason: "must be a string or a number"}
			}
			continue
		}
		if !knownKeys[key] {
			continue
		}
		if v == "" && skipsEmpty(key) {
			continue
		}
		if lerr := set(&req, key, v); lerr != nil {
			return req, lerr
		}
	}
	switch _, err := dec.Token(); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return req, &LineError{Reason: jsonError(err)}
	default:
		return req, &LineError{Reason: "holds more than one JSON value"}
	}
	return req, nil
}

// skip consumes the rest of an object or array whose opening delimiter has
// been read.
func skip(dec *json.Decoder) error {
	for depth := 1; depth > 0; {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		if d, ok := tok.(json.Delim); ok {
			if d == '{' || d == '[' {
				depth++
			} else {
				depth--
			}
		}
	}
	return nil
}

// jsonError describes a decoding error without quoting the line.
func jsonError(err error) string {
	var se *json.SyntaxError
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the JSON object ends before its closing brace (a line cut short?)"
	case errors.As(err, &se):
		return fmt.Sprintf("is not valid JSON (at byte %d)", se.Offset)
	}
	return "is not valid JSON"
}

// maxFlatKeys is how many keys the fast path keeps track of.
const maxFlatKeys = 16

// parseFlat is the fast path of ParseJSONLine, for the lines an export
// writes and most files hold: one object whose keys and string values have
// no escape, control character or invalid UTF-8, whose values are strings,
// numbers, true, false or null, and whose keys are all different. It reads
// such a line as parseDecoded does, four times as fast; for any other line,
// and for a value set refuses, it returns false and parseDecoded reads the
// line, with its errors. FuzzParseFlatAgreesWithTheDecoder holds the two
// to the same results.
func parseFlat(line []byte) (req customerd.ImportRequest, ok bool) {
	i := skipSpace(line, 0)
	if i == len(line) || line[i] != '{' {
		return req, false
	}
	i = skipSpace(line, i+1)
	var seen [maxFlatKeys][]byte
	n := 0
	if i < len(line) && line[i] == '}' {
		return req, skipSpace(line, i+1) == len(line)
	}
	for {
		key, next, ok := flatString(line, i)
		if !ok || n == maxFlatKeys {
			return req, false
		}
		for _, k := range seen[:n] {
			if bytes.Equal(k, key) {
				return req, false
			}
		}
		seen[n], n = key, n+1
		i = skipSpace(line, next)
		if i == len(line) || line[i] != ':' {
			return req, false
		}
		i = skipSpace(line, i+1)
		if i == len(line) {
			return req, false
		}
		var raw []byte // the value as text; nil for null
		switch c := line[i]; {
		case c == '"':
			raw, next, ok = flatString(line, i)
		case c == '-' || '0' <= c && c <= '9':
			if next, ok = flatNumber(line, i); ok {
				raw = line[i:next]
			}
		case bytes.HasPrefix(line[i:], []byte("true")):
			raw, next, ok = line[i:i+4], i+4, true
		case bytes.HasPrefix(line[i:], []byte("false")):
			raw, next, ok = line[i:i+5], i+5, true
		case bytes.HasPrefix(line[i:], []byte("null")):
			next, ok = i+4, true
		default:
			ok = false // an object, an array, or not JSON
		}
		if !ok {
			return req, false
		}
		if knownKeys[string(key)] && !(len(raw) == 0 && skipsEmpty(string(key))) {
			if set(&req, string(key), string(raw)) != nil {
				return req, false
			}
		}
		i = skipSpace(line, next)
		if i == len(line) {
			return req, false
		}
		switch line[i] {
		case ',':
			i = skipSpace(line, i+1)
		case '}':
			return req, skipSpace(line, i+1) == len(line)
		default:
			return req, false
		}
	}
}

// skipsEmpty tells the keys whose empty or null value leaves the field
// absent rather than setting it to "".
func skipsEmpty(key string) bool {
	switch key {
	case customerd.FieldID, customerd.FieldDateCreated, customerd.FieldLastUpdated:
		return true
	}
	return false
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON whitespace.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// flatString reads the string that starts at b[i] (a quote): its bytes,
// and the index after its closing quote; false for a string with an
// escape, a control character or invalid UTF-8.
func flatString(b []byte, i int) ([]byte, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, 0, false
	}
	start := i + 1
	ascii := true
	for j := start; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			s := b[start:j]
			if !ascii && !utf8.Valid(s) {
				return nil, 0, false
			}
			return s, j + 1, true
		case c == '\\' || c < 0x20:
			return nil, 0, false
		case c >= 0x80:
			ascii = false
		}
	}
	return nil, 0, false
}

// flatNumber reads the JSON number that starts at b[i] and returns the
// index after it; false when it is not one by JSON's grammar.
func flatNumber(b []byte, i int) (int, bool) {
	digits := func(i int) int {
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		return i
	}
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = digits(i)
	default:
		return 0, false
	}
	if i < len(b) && b[i] == '.' {
		j := digits(i + 1)
		if j == i+1 {
			return 0, false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(i)
		if j == i {
			return 0, false
		}
		i = j
	}
	return i, true
}
