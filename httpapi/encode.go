package httpapi

import (
	"time"
	"unicode/utf8"

	"customerd"
)

// TimeLayout is the wire format of timestamps: UTC, whole seconds, "+0000".
const TimeLayout = "2006-01-02T15:04:05+0000"

// appendCustomer appends the JSON of c in the key order of Juspay's samples.
// It is written by hand because it is on every request's path; a nil token
// leaves the "juspay" key out entirely (the .NET SDK tests on its absence).
func appendCustomer(b []byte, c *customerd.Customer, tok *customerd.ClientAuthToken) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, c.ID)
	b = append(b, `,"object":"customer","object_reference_id":`...)
	b = appendString(b, c.ObjectReferenceID)
	b = append(b, `,"mobile_number":`...)
	b = appendString(b, c.MobileNumber)
	b = append(b, `,"date_created":`...)
	b = appendTime(b, c.DateCreated)
	b = append(b, `,"last_updated":`...)
	b = appendTime(b, c.LastUpdated)
	b = append(b, `,"email_address":`...)
	b = appendNullable(b, c.EmailAddress)
	b = append(b, `,"first_name":`...)
	b = appendNullable(b, c.FirstName)
	b = append(b, `,"last_name":`...)
	b = appendNullable(b, c.LastName)
	b = append(b, `,"mobile_country_code":`...)
	b = appendString(b, c.MobileCountryCode)
	if tok != nil {
		b = append(b, `,"juspay":{"client_auth_token":`...)
		b = appendString(b, tok.Token)
		b = append(b, `,"client_auth_token_expiry":`...)
		b = appendTime(b, tok.Expires)
		b = append(b, '}')
	}
	return append(b, '}')
}

func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = appendTimeLayout(b, t)
	return append(b, '"')
}

func appendNullable(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return appendString(b, s)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, as
// encoding/json does; U+2028 and U+2029 are escaped for JavaScript clients.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
