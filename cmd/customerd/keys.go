package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"customerd"
	"customerd/fieldcrypt"
	"customerd/service"
)

// masterKeyEnv holds the master key itself, for deployments that pass
// secrets as environment variables rather than files.
const masterKeyEnv = "CUSTOMERD_MASTER_KEY"

// masterKeyFlags are the flags of every command that opens the database:
// customer data cannot be read or written without the master key.
type masterKeyFlags struct {
	file, previous *string
	getenv         func(string) string
}

func addMasterKeyFlags(fs *flagSet) *masterKeyFlags {
	return &masterKeyFlags{
		file: fs.String("master-key-file", "",
			"file with the master key that encrypts customer data ("+fieldcrypt.MasterKeyFormat+
				"); or set "+masterKeyEnv+" to the key itself. SQLite default: DBPATH.key, created on first run"),
		previous: fs.String("previous-master-key-file", "",
			"during a master-key rotation: the old master key, still accepted until \"master-key retire\""),
		getenv: fs.getenv,
	}
}

// vault returns the vault the flags describe, or nil when no master key is
// given (SQLite then uses the key file beside the database).
func (f *masterKeyFlags) vault() (*fieldcrypt.Vault, error) {
	env := f.getenv(masterKeyEnv)
	var primary *fieldcrypt.MasterKey
	var err error
	switch {
	case *f.file != "" && env != "":
		return nil, fmt.Errorf("both --master-key-file and %s are set: give the master key one way only", masterKeyEnv)
	case *f.file != "":
		primary, err = fieldcrypt.ReadMasterKeyFile(*f.file)
	case env != "":
		if primary, err = fieldcrypt.ParseMasterKey([]byte(env)); err != nil {
			err = fmt.Errorf("%s: %w", masterKeyEnv, err)
		}
	case *f.previous != "":
		return nil, errors.New("--previous-master-key-file needs the new master key too (--master-key-file or " + masterKeyEnv + ")")
	default:
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var prev *fieldcrypt.MasterKey
	if *f.previous != "" {
		if prev, err = fieldcrypt.ReadMasterKeyFile(*f.previous); err != nil {
			return nil, err
		}
	}
	return fieldcrypt.NewVault(primary, prev), nil
}

// sqlitePath returns the file of a sqlite: URL, or "" for another database.
func sqlitePath(dbURL string) string {
	if !strings.HasPrefix(dbURL, "sqlite:") {
		return ""
	}
	return strings.TrimPrefix(strings.TrimPrefix(dbURL, "sqlite:"), "//") // sqlite:///abs and sqlite://rel
}

// runMasterKey implements "customerd master-key generate|rotate|retire|status".
func runMasterKey(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("master-key", "master-key generate [--out FILE] | rotate --new-key-file FILE | retire | status  [--db URL] [--master-key-file FILE]", getenv, stdout, stderr)
	db := fs.String("db", defaultDB, dbUsage)
	keys := addMasterKeyFlags(fs)
	newKeyFile := fs.String("new-key-file", "", "rotate: file with the new master key")
	out := fs.String("out", "", "generate: write the key to this new file (mode 0600) instead of stdout")
	pos, err := fs.parse(args)
	if err != nil {
		return usageError(err)
	}
	if len(pos) != 1 {
		fs.Usage()
		return errUsage
	}
	if pos[0] == "generate" {
		k, err := fieldcrypt.GenerateMasterKey()
		if err != nil {
			return err
		}
		if *out == "" {
			_, err = stdout.Write(k.Encode())
			return err
		}
		if err := fieldcrypt.WriteMasterKeyFile(*out, k); errors.Is(err, os.ErrExist) {
			// A key is never overwritten: data may be encrypted under it.
			return fmt.Errorf("%s already exists; remove it first or choose another --out", *out)
		} else if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "wrote %s to %s\n", k, *out)
		return nil
	}
	if pos[0] != "rotate" && pos[0] != "retire" && pos[0] != "status" {
		fs.Usage()
		return errUsage
	}
	var newKey *fieldcrypt.MasterKey
	if pos[0] == "rotate" {
		if *newKeyFile == "" {
			return errors.New("master-key rotate: --new-key-file is required")
		}
		if newKey, err = fieldcrypt.ReadMasterKeyFile(*newKeyFile); err != nil {
			return err
		}
	}
	v, err := keys.vault()
	if err != nil {
		return err
	}
	// With no key given, a SQLite database uses its key file, which the
	// rotation itself replaces.
	defaultFile := ""
	if v == nil {
		defaultFile = sqlitePath(*db)
	}
	files := service.DefaultKeyFiles(defaultFile)
	if pos[0] == "rotate" && defaultFile != "" {
		if _, err := os.Stat(files.Previous); err == nil {
			return fmt.Errorf("%s exists: a previous rotation was not retired; run \"customerd master-key retire\" first", files.Previous)
		}
	}
	admin, err := openService(ctx, *db, keys, stderr)
	if err != nil {
		return err
	}
	defer admin.Close()
	switch pos[0] {
	case "rotate":
		n, err := admin.RewrapKeys(ctx, newKey)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "wrapped %d merchant keys under the new %s; the old wraps are kept\n", n, newKey)
		if defaultFile != "" {
			return rotateDefaultKeyFile(files, newKey, stderr)
		}
		fmt.Fprintf(stderr, "next: restart every node with --master-key-file %s --previous-master-key-file OLD, then run \"customerd master-key retire\" with the new key\n", *newKeyFile)
	case "retire":
		n, err := admin.RetireMasterKeys(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "deleted %d wraps under master keys other than the current one\n", n)
		if defaultFile != "" {
			if err := os.Remove(files.Previous); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
	case "status":
		usage, err := admin.MasterKeyUsage(ctx)
		if err != nil {
			return err
		}
		for _, u := range usage {
			fmt.Fprintf(stdout, "master key %s wraps the keys of %s (%s: data and index)\n", u.MasterKeyID,
				plural(u.Merchants, "merchant"), plural(u.Keys, "key"))
		}
	}
	return nil
}

// plural is n and noun, with an s when n is not 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// rotateDefaultKeyFile replaces a SQLite database's default key file by the
// new key and keeps the old one beside it, so that processes started from
// now on use the new key and still accept the old.
func rotateDefaultKeyFile(files service.KeyFiles, newKey *fieldcrypt.MasterKey, stderr io.Writer) error {
	cur, prev := files.Current, files.Previous
	if err := os.Link(cur, prev); err != nil { // fails if prev exists
		return err
	}
	if err := os.Remove(cur); err != nil {
		return err
	}
	if err := fieldcrypt.WriteMasterKeyFile(cur, newKey); err != nil {
		return fmt.Errorf("the old key is now in %s; writing the new one to %s failed: %w", prev, cur, err)
	}
	fmt.Fprintf(stderr, "%s now holds the new key, %s the old one. Running processes keep working; restart them, then run \"customerd master-key retire\"\n", cur, prev)
	return nil
}

// runDataKey implements "customerd data-key rotate MERCHANT_ID".
func runDataKey(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("data-key", "data-key rotate MERCHANT_ID [--db URL] [--master-key-file FILE] [--batch N]", getenv, stdout, stderr)
	db := fs.String("db", defaultDB, dbUsage)
	keys := addMasterKeyFlags(fs)
	batch := fs.Int("batch", 500, "customers (or events) re-encrypted per transaction")
	pos, err := fs.parse(args)
	if err != nil {
		return usageError(err)
	}
	if len(pos) != 2 || pos[0] != "rotate" || *batch < 1 {
		fs.Usage()
		return errUsage
	}
	admin, err := openService(ctx, *db, keys, stderr)
	if err != nil {
		return err
	}
	defer admin.Close()
	merchant := pos[1]
	version, err := admin.RotateDataKey(ctx, merchant)
	if customerd.ErrorCode(err) == customerd.ENOTFOUND {
		return fmt.Errorf("merchant %q does not exist", merchant)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "merchant %q: data key v%d created; new writes use it\n", merchant, version)
	customers, events := 0, 0
	for {
		c, e, err := admin.Reencrypt(ctx, merchant, *batch)
		if err != nil {
			return fmt.Errorf("re-encrypted %s and %s, then: %w (the server finishes the re-encryption when it next starts)",
				plural(customers, "customer"), plural(events, "event"), err)
		}
		if c+e == 0 {
			break
		}
		customers, events = customers+c, events+e
		fmt.Fprintf(stderr, "re-encrypted %s and %s\n", plural(customers, "customer"), plural(events, "event"))
	}
	fmt.Fprintf(stdout, "merchant %s: data key v%d, %s and %s re-encrypted\n", merchant, version,
		plural(customers, "customer"), plural(events, "event"))
	return nil
}
