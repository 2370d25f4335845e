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
	// Size for the unpadded fallback too: RawStdEncoding needs up to two
	// bytes more than StdEncoding for the same input.
	var buf [96]byte
	raw := buf[:]
	if need := base64.RawStdEncoding.DecodedLen(len(enc)); need > len(buf) {
		raw = make([]byte, need)
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
