package fieldcrypt_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"customerd"
	"customerd/fieldcrypt"
)

func mustMaster(t *testing.T) *fieldcrypt.MasterKey {
	t.Helper()
	k, err := fieldcrypt.GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustRing(t *testing.T, v *fieldcrypt.Vault, merchant string) (*fieldcrypt.Keyring, []customerd.WrappedKey) {
	t.Helper()
	wraps, err := v.NewMerchantKeys(merchant)
	if err != nil {
		t.Fatal(err)
	}
	r, err := v.Load(merchant, wraps)
	if err != nil {
		t.Fatal(err)
	}
	return r, wraps
}

func TestParseMasterKey(t *testing.T) {
	raw := bytes.Repeat([]byte{0xab}, 32)
	hexKey := strings.Repeat("ab", 32)
	b64 := base64.StdEncoding.EncodeToString(raw)
	good := map[string]string{
		"hex":                  hexKey,
		"hex with newline":     hexKey + "\n",
		"upper-case hex":       strings.ToUpper(hexKey),
		"base64":               b64,
		"base64 with newline":  "  " + b64 + "\r\n",
		"hex from Encode form": string(mustParse(t, hexKey).Encode()),
	}
	var want string
	for name, in := range good {
		k, err := fieldcrypt.ParseMasterKey([]byte(in))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if want == "" {
			want = k.ID()
		}
		if k.ID() != want {
			t.Fatalf("%s: id %s, want %s (the same key)", name, k.ID(), want)
		}
	}
	secret := strings.Repeat("zq", 32)
	bad := map[string]string{
		"empty":                   "",
		"too short hex":           hexKey[:62],
		"too long hex":            hexKey + "ab",
		"64 characters, not hex":  secret,
		"base64 of 31 bytes":      base64.StdEncoding.EncodeToString(raw[:31]),
		"unpadded base64":         strings.TrimRight(b64, "="),
		"url-safe base64 of junk": strings.Repeat("-", 44),
		"a passphrase":            "correct horse battery staple",
		"all zeros":               strings.Repeat("00", 32),
	}
	for name, in := range bad {
		_, err := fieldcrypt.ParseMasterKey([]byte(in))
		if !errors.Is(err, fieldcrypt.ErrBadMasterKey) {
			t.Fatalf("%s: err = %v, want ErrBadMasterKey", name, err)
		}
		if in != "" && strings.Contains(err.Error(), in) {
			t.Fatalf("%s: the error quotes the key: %v", name, err)
		}
	}
}

func mustParse(t *testing.T, s string) *fieldcrypt.MasterKey {
	t.Helper()
	k, err := fieldcrypt.ParseMasterKey([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestMasterKeyNeverPrintsItself(t *testing.T) {
	k := mustMaster(t)
	secret := strings.TrimSpace(string(k.Encode()))
	for _, s := range []string{k.String(), k.ID()} {
		if strings.Contains(s, secret) || strings.Contains(secret, s) {
			t.Fatalf("%q reveals the key", s)
		}
	}
}

func TestWriteMasterKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db.key")
	k := mustMaster(t)
	if err := fieldcrypt.WriteMasterKeyFile(path, k); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
	got, err := fieldcrypt.ReadMasterKeyFile(path)
	if err != nil || got.ID() != k.ID() {
		t.Fatalf("read back %v, %v", got, err)
	}
	err = fieldcrypt.WriteMasterKeyFile(path, mustMaster(t))
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("overwrite: err = %v, want ErrExist", err)
	}
	if got, _ := fieldcrypt.ReadMasterKeyFile(path); got.ID() != k.ID() {
		t.Fatal("an existing key file was replaced")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
}

func TestSealOpenRoundTrip(t *testing.T) {
	r, _ := mustRing(t, fieldcrypt.NewVault(mustMaster(t)), "m1")
	for _, pt := range []string{"jon@example.com", "9", strings.Repeat("x", 128), "ünïcødé"} {
		ct, err := r.Seal("cst_a", customerd.FieldEmailAddress, pt)
		if err != nil {
			t.Fatal(err)
		}
		// A one-byte plaintext appears by chance in about one random
		// 33-byte ciphertext in eight; four bytes or more never do.
		if len(pt) >= 4 && bytes.Contains(ct, []byte(pt)) {
			t.Fatalf("ciphertext contains the plaintext %q", pt)
		}
		if len(ct) != len(pt)+fieldcrypt.Overhead {
			t.Fatalf("len %d, want %d", len(ct), len(pt)+fieldcrypt.Overhead)
		}
		got, err := r.Open("cst_a", customerd.FieldEmailAddress, ct)
		if err != nil || got != pt {
			t.Fatalf("open = %q, %v; want %q", got, err, pt)
		}
	}
	a, _ := r.Seal("cst_a", "first_name", "Jon")
	b, _ := r.Seal("cst_a", "first_name", "Jon")
	if bytes.Equal(a, b) {
		t.Fatal("two seals of one value are equal: nonces are not fresh")
	}
}

func TestOpenRejectsTampering(t *testing.T) {
	r, _ := mustRing(t, fieldcrypt.NewVault(mustMaster(t)), "m1")
	ct, err := r.Seal("cst_a", customerd.FieldMobileNumber, "99887766")
	if err != nil {
		t.Fatal(err)
	}
	for i := 4; i < len(ct); i++ { // every byte after the version
		bad := bytes.Clone(ct)
		bad[i] ^= 0x01
		if _, err := r.Open("cst_a", customerd.FieldMobileNumber, bad); !errors.Is(err, fieldcrypt.ErrOpen) {
			t.Fatalf("flipped byte %d: err = %v, want ErrOpen", i, err)
		}
	}
	for _, bad := range [][]byte{nil, ct[:10], ct[:len(ct)-1]} {
		if _, err := r.Open("cst_a", customerd.FieldMobileNumber, bad); !errors.Is(err, fieldcrypt.ErrOpen) {
			t.Fatalf("truncated to %d: err = %v, want ErrOpen", len(bad), err)
		}
	}
}

func TestAssociatedDataBindsRowAndField(t *testing.T) {
	v := fieldcrypt.NewVault(mustMaster(t))
	r1, _ := mustRing(t, v, "m1")
	ct, err := r1.Seal("cst_a", customerd.FieldFirstName, "Jon")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r1.Open("cst_b", customerd.FieldFirstName, ct); !errors.Is(err, fieldcrypt.ErrOpen) {
		t.Fatalf("moved to another customer: err = %v, want ErrOpen", err)
	}
	if _, err := r1.Open("cst_a", customerd.FieldLastName, ct); !errors.Is(err, fieldcrypt.ErrOpen) {
		t.Fatalf("moved to another field: err = %v, want ErrOpen", err)
	}
	r2, _ := mustRing(t, v, "m2")
	if _, err := r2.Open("cst_a", customerd.FieldFirstName, ct); !errors.Is(err, fieldcrypt.ErrOpen) {
		t.Fatalf("opened with another merchant's keys: err = %v, want ErrOpen", err)
	}
}

func TestVersionIsBoundAndUnknownVersionIsReported(t *testing.T) {
	v := fieldcrypt.NewVault(mustMaster(t))
	r1, wraps := mustRing(t, v, "m1")
	old, _ := r1.Seal("cst_a", customerd.FieldFirstName, "Jon")
	v2, err := v.NewKey("m1", customerd.PurposeData, 2)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := v.Load("m1", append(wraps, v2...))
	if err != nil {
		t.Fatal(err)
	}
	if r2.Active() != 2 || !r2.Has(1) {
		t.Fatalf("active %d, has v1 %v", r2.Active(), r2.Has(1))
	}
	if got, err := r2.Open("cst_a", customerd.FieldFirstName, old); err != nil || got != "Jon" {
		t.Fatalf("v1 value after rotation: %q, %v", got, err)
	}
	ct, _ := r2.Seal("cst_a", customerd.FieldFirstName, "Jon")
	if ver, _ := fieldcrypt.VersionOf(ct); ver != 2 {
		t.Fatalf("sealed with v%d, want v2", ver)
	}
	if _, err := r1.Open("cst_a", customerd.FieldFirstName, ct); !errors.Is(err, fieldcrypt.ErrUnknownVersion) {
		t.Fatalf("stale keyring: err = %v, want ErrUnknownVersion", err)
	}
	relabelled := bytes.Clone(ct)
	relabelled[3] = 1 // claims v1
	if _, err := r2.Open("cst_a", customerd.FieldFirstName, relabelled); !errors.Is(err, fieldcrypt.ErrOpen) {
		t.Fatalf("relabelled version: err = %v, want ErrOpen", err)
	}
	if !bytes.Equal(r1.BlindIndex(customerd.FieldObjectReferenceID, "ref"), r2.BlindIndex(customerd.FieldObjectReferenceID, "ref")) {
		t.Fatal("the blind index changed with the data key")
	}
}

func TestBlindIndex(t *testing.T) {
	v := fieldcrypt.NewVault(mustMaster(t))
	r1, _ := mustRing(t, v, "m1")
	r2, _ := mustRing(t, v, "m2")
	const email = customerd.FieldEmailAddress
	a := r1.BlindIndex(email, "jon@example.com")
	if !bytes.Equal(a, r1.BlindIndex(email, "jon@example.com")) {
		t.Fatal("blind index is not deterministic")
	}
	if len(a) != 32 {
		t.Fatalf("len %d", len(a))
	}
	for _, other := range [][]byte{r1.BlindIndex(email, "Jon@example.com"), r1.BlindIndex(email, "jon@example.com "),
		r2.BlindIndex(email, "jon@example.com")} {
		if bytes.Equal(a, other) {
			t.Fatal("distinct values or merchants share an index")
		}
	}
	// The field is part of what is hashed: one value in three fields has
	// three indexes, and no split of field and value collides.
	seen := map[string]string{}
	for _, f := range []string{customerd.FieldObjectReferenceID, customerd.FieldMobileNumber, customerd.FieldEmailAddress} {
		for _, value := range []string{"99887766", "jon@example.com"} {
			key := string(r1.BlindIndex(f, value))
			if prev, dup := seen[key]; dup {
				t.Fatalf("%s=%q has the index of %s", f, value, prev)
			}
			seen[key] = f + "=" + value
		}
	}
	if bytes.Equal(r1.BlindIndex("email", "_addressx"), r1.BlindIndex("email_address", "x")) {
		t.Fatal("the field and the value are not separated")
	}
	if r1.IndexOptional(email, "") != nil || !bytes.Equal(r1.IndexOptional(email, "jon@example.com"), a) {
		t.Fatal("IndexOptional: no index for an unset field, BlindIndex otherwise")
	}
}

func TestWrongMasterKey(t *testing.T) {
	good := fieldcrypt.NewVault(mustMaster(t))
	_, wraps := mustRing(t, good, "m1")
	wrong := fieldcrypt.NewVault(mustMaster(t))
	_, err := wrong.Load("m1", wraps)
	if !errors.Is(err, fieldcrypt.ErrMasterKeyMismatch) {
		t.Fatalf("err = %v, want ErrMasterKeyMismatch", err)
	}
	if !strings.Contains(err.Error(), good.Primary().ID()) || !strings.Contains(err.Error(), wrong.Primary().ID()) {
		t.Fatalf("error should name both master key ids: %v", err)
	}
	// A wrap that claims the right master key but was altered does not open.
	bad := append([]customerd.WrappedKey(nil), wraps...)
	bad[0].Wrapped = bytes.Clone(bad[0].Wrapped)
	bad[0].Wrapped[20] ^= 1
	if _, err := good.Load("m1", bad); !errors.Is(err, fieldcrypt.ErrOpen) {
		t.Fatalf("altered wrap: err = %v, want ErrOpen", err)
	}
	// A wrap moved to another merchant does not open either.
	moved := append([]customerd.WrappedKey(nil), wraps...)
	for i := range moved {
		moved[i].MerchantID = "m2"
	}
	if _, err := good.Load("m2", moved); !errors.Is(err, fieldcrypt.ErrOpen) {
		t.Fatalf("wrap moved to another merchant: err = %v, want ErrOpen", err)
	}
}

func TestMasterKeyRotation(t *testing.T) {
	oldKey, newKey := mustMaster(t), mustMaster(t)
	oldVault := fieldcrypt.NewVault(oldKey)
	r, wraps := mustRing(t, oldVault, "m1")
	ct, _ := r.Seal("cst_a", customerd.FieldLastName, "Snow")

	var rewrapped []customerd.WrappedKey
	for _, w := range wraps {
		nw, err := oldVault.Rewrap(w, newKey)
		if err != nil {
			t.Fatal(err)
		}
		if nw.MasterKeyID != newKey.ID() {
			t.Fatalf("rewrapped under %s", nw.MasterKeyID)
		}
		rewrapped = append(rewrapped, nw)
	}
	// A node on the new key alone reads the new wraps; one on the old key
	// alone still reads the old ones; both see the same data key.
	for name, tc := range map[string]struct {
		v     *fieldcrypt.Vault
		wraps []customerd.WrappedKey
	}{
		"new key, new wraps only": {fieldcrypt.NewVault(newKey), rewrapped},
		"new key, both wraps":     {fieldcrypt.NewVault(newKey), append(append([]customerd.WrappedKey(nil), wraps...), rewrapped...)},
		"old key, both wraps":     {fieldcrypt.NewVault(oldKey), append(append([]customerd.WrappedKey(nil), wraps...), rewrapped...)},
		"new key plus previous":   {fieldcrypt.NewVault(newKey, oldKey), wraps},
	} {
		ring, err := tc.v.Load("m1", tc.wraps)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got, err := ring.Open("cst_a", customerd.FieldLastName, ct); err != nil || got != "Snow" {
			t.Fatalf("%s: open = %q, %v", name, got, err)
		}
	}
	// A vault with a previous key wraps new keys under both.
	both, err := fieldcrypt.NewVault(newKey, oldKey).NewKey("m1", customerd.PurposeData, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(both) != 2 || both[0].MasterKeyID != newKey.ID() || both[1].MasterKeyID != oldKey.ID() {
		t.Fatalf("wraps of a new key: %+v", both)
	}
}

func TestSealCustomer(t *testing.T) {
	r, _ := mustRing(t, fieldcrypt.NewVault(mustMaster(t)), "m1")
	c := &customerd.Customer{ID: "cst_a", MerchantID: "m1", ObjectReferenceID: "ref@example.com",
		MobileNumber: "99887766", MobileCountryCode: "65", EmailAddress: "jon@example.com", FirstName: "Jon"}
	s, err := r.SealCustomer(c)
	if err != nil {
		t.Fatal(err)
	}
	if s.LastName != nil || s.KeyVersion != 1 || !bytes.Equal(s.RefIndex, r.BlindIndex(customerd.FieldObjectReferenceID, c.ObjectReferenceID)) ||
		!bytes.Equal(s.MobileIndex, r.BlindIndex(customerd.FieldMobileNumber, c.MobileNumber)) ||
		!bytes.Equal(s.EmailIndex, r.BlindIndex(customerd.FieldEmailAddress, c.EmailAddress)) {
		t.Fatalf("sealed %+v", s)
	}
	if noEmail, err := r.SealCustomer(&customerd.Customer{ID: "cst_b", MerchantID: "m1", ObjectReferenceID: "r",
		MobileNumber: "1"}); err != nil || noEmail.EmailIndex != nil {
		t.Fatalf("a customer without email has an email index: %+v, %v", noEmail, err)
	}
	if s.ID != c.ID || s.MerchantID != c.MerchantID || s.MobileCountryCode != "65" || bytes.Contains(s.EmailAddress, []byte("jon")) {
		t.Fatalf("sealed row %+v", s)
	}
	got, err := r.OpenCustomer(&s)
	if err != nil {
		t.Fatal(err)
	}
	if *got != *c {
		t.Fatalf("round trip\n got %+v\nwant %+v", *got, *c)
	}
	// Swapping two columns of one row is caught, and so is a row moved to
	// another customer.
	moved := s
	moved.ID = "cst_b"
	if _, err := r.OpenCustomer(&moved); !errors.Is(err, fieldcrypt.ErrOpen) {
		t.Fatalf("moved row: err = %v, want ErrOpen", err)
	}
	s.EmailAddress, s.ObjectReferenceID = s.ObjectReferenceID, s.EmailAddress
	if _, err := r.OpenCustomer(&s); !errors.Is(err, fieldcrypt.ErrOpen) {
		t.Fatalf("swapped columns: err = %v, want ErrOpen", err)
	}
	if _, err := r.SealCustomer(&customerd.Customer{ID: "cst_b", MerchantID: "m2"}); err == nil {
		t.Fatal("sealed another merchant's customer")
	}
}
