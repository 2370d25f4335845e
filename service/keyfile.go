package service

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"customerd"
	"customerd/fieldcrypt"
)

// KeyFiles are the default master key files of an embedded database: the
// key a process uses, and the previous one that a rotation of the default
// file keeps until it is retired.
type KeyFiles struct{ Current, Previous string }

// DefaultKeyFiles returns the key files beside the database file at dbPath.
func DefaultKeyFiles(dbPath string) KeyFiles {
	return KeyFiles{Current: dbPath + ".key", Previous: dbPath + ".key.old"}
}

// Vault returns a vault of the key in f.Current, accepting the key in
// f.Previous too while that file exists. When f.Current does not exist and
// the store holds no keys yet, a new key is written to it (mode 0600) and
// onCreated, if not nil, hears its path. A store that holds keys while its
// key file is missing is an error, never a new key that would hide the data.
func (f KeyFiles) Vault(ctx context.Context, store customerd.StoreReader, onCreated func(path string)) (*fieldcrypt.Vault, error) {
	k, err := fieldcrypt.ReadMasterKeyFile(f.Current)
	if err == nil {
		prev, err := fieldcrypt.ReadMasterKeyFile(f.Previous)
		switch {
		case err == nil:
			return fieldcrypt.NewVault(k, prev), nil
		case errors.Is(err, fs.ErrNotExist):
			return fieldcrypt.NewVault(k), nil
		default:
			return nil, err
		}
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	wraps, err := store.ListWrappedKeys(ctx, "")
	if err != nil {
		return nil, err
	}
	if len(wraps) > 0 {
		return nil, fmt.Errorf("the database holds encrypted data but its master key file %s is missing; supply the master key it was created with", f.Current)
	}
	if k, err = fieldcrypt.GenerateMasterKey(); err != nil {
		return nil, err
	}
	switch err := fieldcrypt.WriteMasterKeyFile(f.Current, k); {
	case errors.Is(err, fs.ErrExist): // another process created it first
		if k, err = fieldcrypt.ReadMasterKeyFile(f.Current); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, fmt.Errorf("create master key file: %w", err)
	case onCreated != nil:
		onCreated(f.Current)
	}
	return fieldcrypt.NewVault(k), nil
}
