package fieldcrypt

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"testing"

	"customerd"
)

// The reference's blind index is what the stored rows and their unique
// constraint hold: generalizing the index to other fields must not change
// its value, HMAC-SHA-256(index key, "object_reference_id" || 0 || ref).
func TestReferenceIndexIsUnchanged(t *testing.T) {
	r := &Keyring{merchantID: "m1", index: bytes.Repeat([]byte{7}, 32)}
	for _, ref := range []string{"jon@example.com", "", "x\x00y", string(bytes.Repeat([]byte("é"), 128))} {
		m := hmac.New(sha256.New, r.index)
		m.Write([]byte("object_reference_id\x00"))
		m.Write([]byte(ref))
		if got := r.BlindIndex(customerd.FieldObjectReferenceID, ref); !bytes.Equal(got, m.Sum(nil)) {
			t.Fatalf("index of %q changed: %x", ref, got)
		}
	}
}
