package main

import (
	"context"
	"fmt"
	"io"
	"strings"
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
	s, queue, err := openServiceWith(ctx, *db, keys, stderr, storeOptions{})
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.Ping(ctx); err != nil {
		return err
	}
	applied, version := s.Store().(interface{ Migrations() ([]string, int) }).Migrations()
	switch {
	case len(applied) == 0:
		fmt.Fprintf(stdout, "%s: schema version %d is up to date; nothing to apply\n", redactDB(*db), version)
	case len(applied) == version:
		fmt.Fprintf(stdout, "%s: created schema version %d (%s)\n", redactDB(*db), version, strings.Join(applied, ", "))
	default:
		fmt.Fprintf(stdout, "%s: applied %d migrations (%s); schema version %d\n", redactDB(*db), len(applied), strings.Join(applied, ", "), version)
	}
	if river := queue.Migrated(); len(river) > 0 {
		fmt.Fprintf(stdout, "webhook job queue (River): applied migrations %d to %d\n", river[0], river[len(river)-1])
	} else {
		fmt.Fprintln(stdout, "webhook job queue (River): up to date")
	}
	return nil
}
