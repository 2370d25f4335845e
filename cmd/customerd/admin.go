package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"customerd"
)

// runMerchant implements "customerd merchant create ID" and "merchant list".
func runMerchant(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("merchant", "merchant create ID | merchant list  [--db URL] [--master-key-file FILE]", getenv, stdout, stderr)
	db := fs.String("db", defaultDB, dbUsage)
	keys := addMasterKeyFlags(fs)
	pos, err := fs.parse(args)
	if err != nil {
		return usageError(err)
	}
	if !(len(pos) == 2 && pos[0] == "create" || len(pos) == 1 && pos[0] == "list") {
		fs.Usage()
		return errUsage
	}
	s, err := openService(ctx, *db, keys, stderr)
	if err != nil {
		return err
	}
	defer s.Close()
	if pos[0] == "list" {
		merchants, err := s.ListMerchants(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "MERCHANT\tCREATED")
		for _, m := range merchants {
			fmt.Fprintf(tw, "%s\t%s\n", m.ID, m.CreatedAt.Format(time.RFC3339))
		}
		return tw.Flush()
	}
	key, err := s.CreateMerchant(ctx, pos[1])
	switch customerd.ErrorCode(err) {
	case "":
	case customerd.ECONFLICT:
		return fmt.Errorf("merchant %q already exists", pos[1])
	case customerd.EINVALID:
		return fmt.Errorf("invalid merchant id %q: %s", pos[1], errMessage(err))
	default:
		return err
	}
	fmt.Fprintln(stdout, key)
	return nil
}

func errMessage(err error) string {
	var e *customerd.Error
	if errors.As(err, &e) {
		return e.Message
	}
	return err.Error()
}

// runKey implements "customerd key create|list|revoke".
func runKey(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("key", "key create|list MERCHANT_ID | key revoke KEY_OR_PREFIX [--db URL] [--master-key-file FILE]", getenv, stdout, stderr)
	db := fs.String("db", defaultDB, dbUsage)
	keys := addMasterKeyFlags(fs)
	pos, err := fs.parse(args)
	if err != nil {
		return usageError(err)
	}
	// Refused before the store is opened, which creates a SQLite database.
	if len(pos) != 2 || !slices.Contains(subcommands()["key"], pos[0]) {
		fs.Usage()
		return errUsage
	}
	s, err := openService(ctx, *db, keys, stderr)
	if err != nil {
		return err
	}
	defer s.Close()
	switch pos[0] {
	case "create":
		key, err := s.CreateAPIKey(ctx, pos[1])
		if customerd.ErrorCode(err) == customerd.ENOTFOUND {
			return fmt.Errorf("merchant %q does not exist", pos[1])
		}
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, key)
	case "list":
		keys, err := s.ListAPIKeys(ctx, pos[1])
		if customerd.ErrorCode(err) == customerd.ENOTFOUND {
			return fmt.Errorf("merchant %q does not exist", pos[1])
		}
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PREFIX\tCREATED\tREVOKED")
		for _, k := range keys {
			revoked := "-"
			if k.Revoked() {
				revoked = k.RevokedAt.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s…\t%s\t%s\n", k.Prefix, k.CreatedAt.Format(time.RFC3339), revoked)
		}
		return tw.Flush()
	case "revoke":
		// "key list" prints each prefix with an ellipsis (cdk_070ce3448816…):
		// accept one pasted from there, or typed with three dots.
		keyOrPrefix := strings.TrimSuffix(strings.TrimSuffix(pos[1], "…"), "...")
		err := s.RevokeAPIKey(ctx, keyOrPrefix)
		if customerd.ErrorCode(err) == customerd.ENOTFOUND {
			return fmt.Errorf("no key with that prefix")
		}
		if err != nil {
			return err
		}
		prefix := keyOrPrefix
		if p, ok := customerd.APIKeyPrefix(prefix); ok {
			prefix = p
		}
		fmt.Fprintf(stderr, "revoked key %s…: refused within 5 s; in practice about 2 s\n", prefix)
	default:
		fs.Usage()
		return errUsage
	}
	return nil
}
