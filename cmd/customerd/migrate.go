package main

import (
	"context"
	"fmt"
	"io"
)

// runMigrate implements "customerd migrate": it applies the embedded
// migrations of the store --db names and exits. serve migrates on start too;
// this lets an operator migrate once before starting many nodes, or with a
// role that the nodes themselves do not have.
func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("migrate", "migrate [--db URL] [--master-key-file FILE]", getenv, stdout, stderr)
	db := fs.String("db", defaultDB, dbUsage)
	keys := addMasterKeyFlags(fs)
	pos, err := fs.parse(args)
	if err != nil {
		return usageError(err)
	}
	if len(pos) != 0 {
		fs.Usage()
		return errUsage
	}
	s, err := openStore(ctx, *db, keys, stderr)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.Ping(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: schema is up to date\n", redactDB(*db))
	return nil
}
