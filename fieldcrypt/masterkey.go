// Package fieldcrypt is the envelope encryption of customer data at rest.
//
// A master key, supplied by the operator and never stored in the database,
// wraps each merchant's keys. Every merchant has:
//
//   - data keys, numbered from 1, that seal the personal fields of its
//     customers with AES-256-GCM; the highest version seals new values, the
//     older ones stay to open what they sealed until it is re-encrypted;
//   - one index key that computes the blind index of object_reference_id
//     (HMAC-SHA-256), so that lookups and uniqueness work without the
//     plaintext. It never rotates: rotating it would change every stored
//     index at once.
//
// Every sealed value is bound by its associated data to the merchant, the
// customer id, the field name and the data-key version, so a ciphertext moved
// to another row or field, or relabelled with another version, fails to open.
// The package knows nothing of databases: stores keep the wrapped keys and
// sealed values it produces.
package fieldcrypt

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// KeySize is the size in bytes of every key: AES-256 and HMAC-SHA-256.
const KeySize = 32

// MasterKey is the operator's key that wraps the merchants' keys. Its ID is
// a fingerprint that may be stored and logged; the key itself never is.
type MasterKey struct {
	key [KeySize]byte
	id  string
}

// MasterKeyFormat says what ParseMasterKey accepts, for error messages and docs.
const MasterKeyFormat = "32 random bytes written as 64 hexadecimal characters or as 44 characters of standard base64"

// ErrBadMasterKey is returned for a master key that is not in MasterKeyFormat.
var ErrBadMasterKey = errors.New("master key must be " + MasterKeyFormat)

// ParseMasterKey decodes a master key: 64 hex characters or standard padded
// base64 of 32 bytes, with surrounding whitespace (a trailing newline) ignored.
// The error never quotes the input.
func ParseMasterKey(text []byte) (*MasterKey, error) {
	s := bytes.TrimSpace(text)
	var raw []byte
	switch len(s) {
	case 2 * KeySize:
		b, err := hex.DecodeString(string(s))
		if err != nil {
			return nil, fmt.Errorf("%w (64 characters, but not all hexadecimal)", ErrBadMasterKey)
		}
		raw = b
	case base64.StdEncoding.EncodedLen(KeySize):
		b, err := base64.StdEncoding.Strict().DecodeString(string(s))
		if err != nil || len(b) != KeySize {
			return nil, fmt.Errorf("%w (44 characters, but not base64 of 32 bytes)", ErrBadMasterKey)
		}
		raw = b
	default:
		return nil, fmt.Errorf("%w (got %d characters)", ErrBadMasterKey, len(s))
	}
	k := newMasterKey(raw)
	if k.key == [KeySize]byte{} {
		return nil, fmt.Errorf("%w (it is all zeros)", ErrBadMasterKey)
	}
	return k, nil
}

func newMasterKey(raw []byte) *MasterKey {
	k := &MasterKey{}
	copy(k.key[:], raw)
	// The id is a keyed hash of a constant: it identifies the key without
	// helping anyone guess it.
	m := hmac.New(sha256.New, k.key[:])
	m.Write([]byte("customerd master key id"))
	k.id = hex.EncodeToString(m.Sum(nil)[:8])
	return k
}

// GenerateMasterKey returns a new master key from crypto/rand.
func GenerateMasterKey() (*MasterKey, error) {
	var b [KeySize]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	return newMasterKey(b[:]), nil
}

// ID returns the key's fingerprint: 16 hex characters, safe to store and log.
func (k *MasterKey) ID() string { return k.id }

// String returns the fingerprint, so that a key printed by mistake shows
// nothing secret.
func (k *MasterKey) String() string { return "master key " + k.id }

// Encode returns the key in the format key files use: 64 hex characters and
// a newline.
func (k *MasterKey) Encode() []byte {
	return []byte(hex.EncodeToString(k.key[:]) + "\n")
}

// ReadMasterKeyFile reads a key file written in MasterKeyFormat.
func ReadMasterKeyFile(path string) (*MasterKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("master key file: %w", err)
	}
	k, err := ParseMasterKey(b)
	if err != nil {
		return nil, fmt.Errorf("master key file %s: %w", path, err)
	}
	return k, nil
}

// WriteMasterKeyFile writes k to path with mode 0600. It never replaces an
// existing file: when path exists it returns an error satisfying
// errors.Is(err, fs.ErrExist). The file appears complete or not at all, so a
// process racing to read it never sees half a key.
func WriteMasterKeyFile(path string, k *MasterKey) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".customerd-key-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(k.Encode()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	// A hard link fails when path exists, unlike a rename.
	if err := os.Link(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
