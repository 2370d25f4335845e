package transfer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"customerd"
)

// ParseJSONLine reads one NDJSON line: a JSON object in the shape of the
// customer object. As in the API's JSON bodies, digits may come as JSON
// numbers, null means the same as an empty string, a key given twice is an
// error and unknown keys are ignored (a nested "juspay" object among them);
// null or an empty string for id, date_created or last_updated leaves them
// absent. The LineError it returns has no line number.
func ParseJSONLine(line []byte) (customerd.ImportRequest, *LineError) {
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
		if v == "" && (key == customerd.FieldID || key == customerd.FieldDateCreated || key == customerd.FieldLastUpdated) {
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
