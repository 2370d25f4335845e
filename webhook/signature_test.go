package webhook

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"
)

// A vector whose signature was computed outside Go, with
//
//	printf '%s' "$t.$body" | openssl dgst -sha256 -hmac "$secret"
//
// so that the tests do not only compare the code under test with itself.
// docs/webhooks.md shows the same example.
const (
	vecSecret = "whsec_RtC0NRmwkKoG3YGpSMriRg37Ia3WVdfuA5ezV2wxi3w"
	vecT      = 1767225600 // 2026-01-01T00:00:00Z
	vecBody   = `{"id":"evt_0a1b2c3d4e5f6g7h","object":"event","type":"customer.created","sequence":1}`
	vecSig    = "19c8e04f084eb2add9f854a4cc303b2f875dd9df3898c6b17b3613f905515a37"
	vecHeader = "t=1767225600,v1=" + vecSig
)

var vecTime = time.Unix(vecT, 0)

func TestSignMatchesExternallyComputedVectors(t *testing.T) {
	cases := []struct {
		name, secret, body, want string
	}{
		{"the documented example", vecSecret, vecBody, vecHeader},
		// stripe-go's test secret, same body and time (openssl as above).
		{"stripe-go's test secret", "whsec_test_secret", vecBody,
			"t=1767225600,v1=d112aa507b03b491abec5934dd5c82a5bd8f53b2c9c2e3e4150638929adf97cf"},
		{"an empty body is signed as \"<t>.\"", vecSecret, "",
			"t=1767225600,v1=1975ecc1e397fb2e0604713dd04b332c0e6cd3c064154d8d533693ec4a9fb541"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Sign(c.secret, vecTime, []byte(c.body)); got != c.want {
				t.Errorf("Sign = %s, want %s", got, c.want)
			}
			if err := VerifyAt(c.secret, c.want, []byte(c.body), 0, vecTime); err != nil {
				t.Errorf("VerifyAt of the vector: %v", err)
			}
		})
	}
}

func TestSignUsesWholeSeconds(t *testing.T) {
	if got := Sign(vecSecret, vecTime.Add(999*time.Millisecond), []byte(vecBody)); got != vecHeader {
		t.Errorf("Sign at .999 s = %s, want %s", got, vecHeader)
	}
}

func TestVerify(t *testing.T) {
	body := []byte(vecBody)
	rolled := Sign(vecSecret+"_rolled", vecTime, body) // another secret's signature
	rolledSig := strings.TrimPrefix(rolled, "t=1767225600,v1=")
	cases := []struct {
		name   string
		secret string
		header string
		body   string
		now    time.Time
		tol    time.Duration
		want   error // nil: passes
	}{
		{name: "signed header passes", header: vecHeader},
		{name: "pairs in any order", header: "v1=" + vecSig + ",t=1767225600"},
		{name: "spaces around pairs are ignored", header: " t = 1767225600 , v1 = " + vecSig + " "},
		{name: "uppercase hex passes", header: "t=1767225600,v1=" + strings.ToUpper(vecSig)},
		{name: "unknown schemes are ignored", header: "t=1767225600,v0=00ff,v1=" + vecSig + ",v2=zz"},
		{name: "pairs without = are ignored", header: "garbage,t=1767225600,,v1=" + vecSig},
		{name: "rotation: the old secret's signature among two", header: "t=1767225600,v1=" + rolledSig + ",v1=" + vecSig},
		{name: "rotation: the new secret's signature among two", secret: vecSecret + "_rolled", header: "t=1767225600,v1=" + vecSig + ",v1=" + rolledSig},
		{name: "an unreadable v1 beside a good one is ignored", header: vecHeader + ",v1=bad_signature"},

		{name: "tampered body", header: vecHeader, body: vecBody[:len(vecBody)-2] + "2}", want: ErrMismatch},
		{name: "body with a trailing newline", header: vecHeader, body: vecBody + "\n", want: ErrMismatch},
		{name: "wrong secret", secret: "whsec_other", header: vecHeader, want: ErrMismatch},
		{name: "secret without its whsec_ prefix", secret: strings.TrimPrefix(vecSecret, "whsec_"), header: vecHeader, want: ErrMismatch},
		{name: "empty secret accepts nothing", secret: "-", header: Sign("", vecTime, body), want: ErrMismatch},
		{name: "signature of another timestamp", header: "t=1767225601,v1=" + vecSig, want: ErrMismatch},
		{name: "timestamp rewritten with a leading zero", header: "t=01767225600,v1=" + vecSig, want: ErrMismatch},
		{name: "only unreadable v1", header: "t=1767225600,v1=bad_signature", want: ErrMismatch},
		{name: "truncated signature", header: "t=1767225600,v1=" + vecSig[:62], want: ErrMismatch},

		{name: "empty header", header: "", want: ErrNoSignature},
		{name: "no t", header: "v1=" + vecSig, want: ErrNoSignature},
		{name: "no v1", header: "t=1767225600", want: ErrNoSignature},
		{name: "only v0 (stripe-go: mismatched scheme)", header: "t=1767225600,v0=" + vecSig, want: ErrNoSignature},
		{name: "empty t (stripe-go: t=)", header: "t=,v1=" + vecSig, want: ErrNoSignature},
		{name: "bare keys (stripe-go: v1,t=1)", header: "v1,t=1", want: ErrNoSignature},
		{name: "negative t", header: "t=-1767225600,v1=" + vecSig, want: ErrNoSignature},
		{name: "t with a sign", header: "t=+1767225600,v1=" + vecSig, want: ErrNoSignature},
		{name: "t not decimal", header: "t=0x69558600,v1=" + vecSig, want: ErrNoSignature},
		{name: "two t", header: "t=1767225600,t=1767225600,v1=" + vecSig, want: ErrNoSignature},
		{name: "semicolons are not separators", header: "t=1767225600;v1=" + vecSig, want: ErrNoSignature},

		{name: "5 minutes old passes by default", header: vecHeader, now: vecTime.Add(5 * time.Minute)},
		{name: "5 minutes and 1 s old is too old by default", header: vecHeader, now: vecTime.Add(5*time.Minute + time.Second), want: ErrTooOld},
		{name: "negative tolerance means the default", header: vecHeader, tol: -1, now: vecTime.Add(6 * time.Minute), want: ErrTooOld},
		{name: "5 minutes in the future passes", header: vecHeader, now: vecTime.Add(-5 * time.Minute)},
		{name: "6 minutes in the future is refused", header: vecHeader, now: vecTime.Add(-6 * time.Minute), want: ErrTooOld},
		{name: "a wider tolerance lets an old one pass", header: vecHeader, tol: time.Hour, now: vecTime.Add(59 * time.Minute)},
		{name: "a narrower tolerance refuses", header: vecHeader, tol: 10 * time.Second, now: vecTime.Add(15 * time.Second), want: ErrTooOld},
		{name: "an old forged header is a mismatch, not too old", header: "t=1767225600,v1=" + strings.Repeat("0", 64), now: vecTime.Add(time.Hour), want: ErrMismatch},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			secret := c.secret
			switch secret {
			case "":
				secret = vecSecret
			case "-":
				secret = ""
			}
			b := body
			if c.body != "" {
				b = []byte(c.body)
			}
			now := c.now
			if now.IsZero() {
				now = vecTime
			}
			err := VerifyAt(secret, c.header, b, c.tol, now)
			if c.want == nil && err != nil {
				t.Fatalf("VerifyAt = %v, want nil", err)
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("VerifyAt = %v, want %v", err, c.want)
			}
		})
	}
}

func TestVerifyUsesTheClock(t *testing.T) {
	body := []byte(vecBody)
	if err := Verify(vecSecret, Sign(vecSecret, time.Now(), body), body, 0); err != nil {
		t.Errorf("Verify of a header signed now: %v", err)
	}
	// The documented vector is from 2026-01-01; today's clock is later.
	if err := Verify(vecSecret, Sign(vecSecret, time.Now().Add(-10*time.Minute), body), body, 0); !errors.Is(err, ErrTooOld) {
		t.Errorf("Verify of a header signed 10 minutes ago = %v, want ErrTooOld", err)
	}
}

func TestVerifyTimestampsFarAway(t *testing.T) {
	body := []byte(vecBody)
	for _, ts := range []string{"0", "253402300800", "9223372036854775807", "99999999999999999999999"} {
		h := "t=" + ts + ",v1=" + hexMAC(vecSecret, ts, body)
		// The signature matches; the time is beyond any tolerance, even
		// when it does not fit an int64 or a time.Time.
		if err := VerifyAt(vecSecret, h, body, 0, vecTime); !errors.Is(err, ErrTooOld) {
			t.Errorf("t=%s: %v, want ErrTooOld", ts, err)
		}
	}
}

func TestNewSecret(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		s, err := NewSecret()
		if err != nil {
			t.Fatal(err)
		}
		rest, ok := strings.CutPrefix(s, "whsec_")
		if !ok {
			t.Fatalf("%q lacks the whsec_ prefix", s)
		}
		raw, err := base64.RawURLEncoding.DecodeString(rest)
		if err != nil || len(raw) != 32 {
			t.Fatalf("%q: not 32 bytes of unpadded base64url (%d bytes, %v)", s, len(raw), err)
		}
		if seen[s] {
			t.Fatalf("%q twice", s)
		}
		seen[s] = true
	}
}

func FuzzVerify(f *testing.F) {
	f.Add(vecHeader, []byte(vecBody))
	f.Add("", []byte(""))
	f.Add("t=", []byte("{}"))
	f.Add("v1,t=1", []byte("{}"))
	f.Add(" t = 1767225600 , v1 = zz , v0=", []byte("x"))
	f.Add("t=1767225600,t=1,v1="+vecSig, []byte(vecBody))
	f.Add("t=99999999999999999999,v1=00", []byte(nil))
	f.Add("=,=,==,t==,v1==", []byte("\x00\xff"))
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		// Any header: an answer, never a panic, and nothing passes that
		// was not signed with this secret.
		if err := VerifyAt(vecSecret, header, body, 0, vecTime); err == nil {
			ts, sigs, _ := parseHeader(header)
			want := hexMAC(vecSecret, ts, body)
			found := false
			for _, s := range sigs {
				found = found || strings.EqualFold(s, want)
			}
			if !found {
				t.Fatalf("VerifyAt passed %q without a matching v1", header)
			}
		}
		// A header from Sign always verifies, with its body only.
		signed := Sign(vecSecret, vecTime, body)
		if err := VerifyAt(vecSecret, signed, body, 0, vecTime); err != nil {
			t.Fatalf("Sign()ed header %q: %v", signed, err)
		}
		if err := VerifyAt(vecSecret, signed, append(body, 'x'), 0, vecTime); !errors.Is(err, ErrMismatch) {
			t.Fatalf("Sign()ed header with a longer body: %v, want ErrMismatch", err)
		}
	})
}

// hexMAC is the v1 value for ts and body, for headers the tests write.
func hexMAC(secret, ts string, body []byte) string {
	return hex.EncodeToString(mac(secret, ts, body))
}
