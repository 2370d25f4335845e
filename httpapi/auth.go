package httpapi

import (
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
	raw, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		// Some clients drop the padding.
		raw, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(enc, "="))
		if err != nil {
			return "", false
		}
	}
	user, _, _ := strings.Cut(string(raw), ":")
	if user == "" {
		return "", false
	}
	return user, true
}
