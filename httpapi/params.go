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
	"unicode/utf16"
	"unicode/utf8"

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
		if safeName(key) != key {
			return malformed("a field is given more than once (its name is not repeated here: it is not a plain field name)")
		}
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

// safeName returns key if it passes the field-name rule, else "a field", so
// that error messages never echo arbitrary client input (markup, quotes,
// control characters, megabytes). The rule: a field customerd knows, or a
// plain name of 1–64 ASCII letters, digits and "_.-[]", such as the
// routing_id or options[get_client_auth_token] that SDKs send.
func safeName(key string) string {
	if knownFields[key] {
		return key
	}
	if key == "" || len(key) > 64 {
		return "a field"
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '_' || c == '.' || c == '-' || c == '[' || c == ']') {
			return "a field"
		}
	}
	return key
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
	if err := readObject(dec, body, p, ""); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, malformed("malformed JSON body: unexpected data after the object")
	}
	return p, nil
}

// readObject reads members until the closing brace, storing scalars under
// prefix+key. body is what dec reads, for rawString.
func readObject(dec *json.Decoder, body []byte, p params, prefix string) error {
	for {
		start := dec.InputOffset()
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
		key = prefix + rawString(key, body[start:dec.InputOffset()])
		start = dec.InputOffset()
		tok, err = dec.Token()
		if err != nil {
			return malformed("malformed JSON body: " + jsonErrorText(err))
		}
		var val string
		switch v := tok.(type) {
		case string:
			val = rawString(v, body[start:dec.InputOffset()])
		case json.Number:
			val = v.String()
		case bool:
			val = strconv.FormatBool(v)
		case nil:
			val = ""
		case json.Delim:
			if v == '{' && key == "options" {
				if err := readObject(dec, body, p, "options."); err != nil {
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

// rawString returns the string token decoded as encoding/json decoded it,
// except that the bytes encoding/json replaced with U+FFFD, invalid UTF-8
// and lone surrogate escapes (\udfff), are kept as invalid UTF-8: the
// field rules then refuse them as they refuse the same bytes in a form,
// rather than distinct byte strings colliding into one reference. raw holds
// the token, after separators and spaces. Only a string with a U+FFFD is
// looked at again.
func rawString(decoded string, raw []byte) string {
	if !strings.Contains(decoded, "\uFFFD") {
		return decoded
	}
	i := bytes.IndexByte(raw, '"')
	if i < 0 || len(raw)-i < 2 {
		return decoded
	}
	lit := raw[i+1 : len(raw)-1] // between the quotes; the decoder checked the syntax
	out := make([]byte, 0, len(lit))
	for j := 0; j < len(lit); {
		c := lit[j]
		if c != '\\' {
			out = append(out, c)
			j++
			continue
		}
		if lit[j+1] != 'u' {
			out = append(out, unescape(lit[j+1]))
			j += 2
			continue
		}
		r := hex4(lit[j+2 : j+6])
		j += 6
		if utf16.IsSurrogate(r) {
			if r < 0xdc00 && j+6 <= len(lit) && lit[j] == '\\' && lit[j+1] == 'u' {
				if pair := utf16.DecodeRune(r, hex4(lit[j+2:j+6])); pair != utf8.RuneError {
					out = utf8.AppendRune(out, pair)
					j += 6
					continue
				}
			}
			// A lone surrogate, as the three bytes UTF-8 would give it if it
			// allowed surrogates: invalid UTF-8.
			out = append(out, 0xe0|byte(r>>12), 0x80|byte(r>>6)&0x3f, 0x80|byte(r)&0x3f)
			continue
		}
		out = utf8.AppendRune(out, r)
	}
	return string(out)
}

// unescape returns the byte of a one-character JSON escape (\n: '\n').
func unescape(c byte) byte {
	switch c {
	case 'b':
		return '\b'
	case 'f':
		return '\f'
	case 'n':
		return '\n'
	case 'r':
		return '\r'
	case 't':
		return '\t'
	}
	return c // '"', '\\' and '/' stand for themselves
}

// hex4 decodes the four hex digits of a \u escape.
func hex4(h []byte) rune {
	var r rune
	for _, c := range h {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		}
	}
	return r
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
