package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"

	"customerd"
)

// params are the flat fields of one request body or query string. A key that
// is present maps to its value; JSON null is stored as "".
type params map[string]string

// value returns the field as a customerd.Value (Set when present).
func (p params) value(key string) customerd.Value {
	v, ok := p[key]
	return customerd.Value{Set: ok, Value: v}
}

func (p params) set(key, val string) error {
	if _, dup := p[key]; dup {
		return fieldErr(key, key+": given more than once")
	}
	p[key] = val
	return nil
}

// optionClientAuthToken is the boolean that asks for a client auth token.
const optionClientAuthToken = "options.get_client_auth_token"

// knownFields are the fields whose values customerd reads; any other field is
// ignored, as SDKs send extras (routing_id, customer_id, …).
var knownFields = map[string]bool{
	customerd.FieldObjectReferenceID: true,
	customerd.FieldMobileNumber:      true,
	customerd.FieldMobileCountryCode: true,
	customerd.FieldEmailAddress:      true,
	customerd.FieldFirstName:         true,
	customerd.FieldLastName:          true,
	optionClientAuthToken:            true,
	customerd.FieldURL:               true,
	customerd.FieldEnabledEvents:     true,
	customerd.FieldDescription:       true,
	customerd.FieldDisabled:          true,
	customerd.FieldEndpoint:          true,
}

func fieldErr(field, detail string) error {
	return &customerd.Error{Code: customerd.EINVALID, Message: detail,
		Fields: []customerd.FieldError{{Field: field, Detail: detail}}}
}

// malformed is a request body that cannot be parsed at all.
func malformed(detail string) error {
	return &customerd.Error{Code: customerd.EINVALID, Message: detail}
}

// parseForm parses an application/x-www-form-urlencoded body or query string.
// '+' and %20 both decode to a space. A repeated key is an error, and so is a
// malformed percent-escape.
func parseForm(s string) (params, error) {
	p := params{}
	for s != "" {
		var pair string
		pair, s, _ = strings.Cut(s, "&")
		if pair == "" {
			continue
		}
		rawKey, rawVal, _ := strings.Cut(pair, "=")
		key, err := url.QueryUnescape(rawKey)
		if err != nil {
			return nil, malformed("malformed form body: bad percent-escape in a field name")
		}
		val, err := url.QueryUnescape(rawVal)
		if err != nil {
			return nil, malformed("malformed form body: bad percent-escape in the value of " + safeName(key))
		}
		if err := p.set(key, val); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// safeName returns key if it is a field customerd knows, so that error
// messages never echo arbitrary client input.
func safeName(key string) string {
	if knownFields[key] {
		return key
	}
	return "a field"
}

// parseJSON parses a flat JSON object. Strings, numbers (kept as their
// literal digits), booleans and null are accepted as values. "options" may be
// a nested object whose members become "options.<name>". A repeated key, a
// body that is not one object, or an object or array as the value of a known
// field is an error; other nested values are ignored.
func parseJSON(body []byte) (params, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, malformed("malformed JSON body: expected one JSON object")
	}
	p := params{}
	if err := readObject(dec, p, ""); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, malformed("malformed JSON body: unexpected data after the object")
	}
	return p, nil
}

// readObject reads members until the closing brace, storing scalars under
// prefix+key.
func readObject(dec *json.Decoder, p params, prefix string) error {
	for {
		tok, err := dec.Token()
		if err != nil {
			return malformed("malformed JSON body: " + jsonErrorText(err))
		}
		if tok == json.Delim('}') {
			return nil
		}
		key, ok := tok.(string)
		if !ok {
			return malformed("malformed JSON body: expected a member name")
		}
		key = prefix + key
		tok, err = dec.Token()
		if err != nil {
			return malformed("malformed JSON body: " + jsonErrorText(err))
		}
		var val string
		switch v := tok.(type) {
		case string:
			val = v
		case json.Number:
			val = v.String()
		case bool:
			val = strconv.FormatBool(v)
		case nil:
			val = ""
		case json.Delim:
			if v == '{' && key == "options" {
				if err := readObject(dec, p, "options."); err != nil {
					return err
				}
				continue
			}
			if err := skipValue(dec, v); err != nil {
				return err
			}
			if knownFields[key] {
				return fieldErr(key, key+": must be a string or a number")
			}
			// An unknown nested value is ignored, but still counts for duplicates.
		}
		if err := p.set(key, val); err != nil {
			return err
		}
	}
}

// skipValue consumes the rest of an object or array whose opening delimiter
// has been read.
func skipValue(dec *json.Decoder, open json.Delim) error {
	depth := 1
	for depth > 0 {
		tok, err := dec.Token()
		if err != nil {
			return malformed("malformed JSON body: " + jsonErrorText(err))
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

// jsonErrorText describes a decoding error without quoting the body.
func jsonErrorText(err error) string {
	var se *json.SyntaxError
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected end of input"
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	default:
		return "invalid JSON"
	}
}

// parseBool reads a boolean option as the SDKs send it: true/1 (any case)
// is true; false/0/empty/absent is false; anything else is an error.
func parseBool(p params, key string) (bool, error) {
	v, ok := p[key]
	if !ok {
		return false, nil
	}
	switch {
	case strings.EqualFold(v, "true") || v == "1":
		return true, nil
	case strings.EqualFold(v, "false") || v == "0" || v == "":
		return false, nil
	}
	return false, fieldErr(key, key+": must be true or false")
}
