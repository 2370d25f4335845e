package httpapi

import (
	"bytes"
	"encoding/base64"
	"strings"
)

// basicUsername extracts the username of a Basic Authorization header: the
// API key. The password is ignored. Juspay's Node SDK sends base64(key) with
// no colon at all, so a missing colon is accepted too.
func basicUsername(header string) (string, bool) {
	scheme, enc, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return "", false
	}
	enc = strings.TrimSpace(enc)
	// Decode on the stack: a key with its colon fits, and this runs on every
	// request. Longer credentials take the allocating path.
	var buf [96]byte
	raw := buf[:]
	if base64.StdEncoding.DecodedLen(len(enc)) > len(buf) {
		raw = make([]byte, base64.StdEncoding.DecodedLen(len(enc)))
	}
	n, err := base64.StdEncoding.Decode(raw, []byte(enc))
	if err != nil {
		// Some clients drop the padding.
		n, err = base64.RawStdEncoding.Decode(raw, []byte(strings.TrimRight(enc, "=")))
		if err != nil {
			return "", false
		}
	}
	user, _, _ := bytes.Cut(raw[:n], []byte(":"))
	if len(user) == 0 {
		return "", false
	}
	return string(user), true
}
