package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"customerd/sqlite"
)

// runBackup implements "customerd backup": a consistent copy of a live
// SQLite database (extensions §6). PostgreSQL has pg_dump.
func runBackup(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("backup", "backup --out FILE [--db sqlite:PATH]", getenv, stdout, stderr)
	db := fs.String("db", defaultDB, "the SQLite database to copy: sqlite:PATH")
	out := fs.String("out", "", "the file to write the copy to (required); replaced only once the copy is complete")
	pos, err := fs.parse(args)
	if err != nil {
		return usageError(err)
	}
	if len(pos) != 0 {
		fs.Usage()
		return errUsage
	}
	if *out == "" {
		return fmt.Errorf("backup: --out is required")
	}
	if strings.HasPrefix(*db, "postgres://") || strings.HasPrefix(*db, "postgresql://") {
		return fmt.Errorf("backup copies a SQLite database; back up PostgreSQL with pg_dump (and restore with pg_restore), and the master key apart: see the README's Backups section")
	}
	path := sqlitePath(*db)
	if path == "" {
		return fmt.Errorf("backup: --db %q: want sqlite:PATH", *db)
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("backup: %s does not exist", path)
	}
	store, err := sqlite.Open(ctx, path)
	if err != nil {
		return err
	}
	defer store.Close()
	start := time.Now()
	if err := store.Backup(ctx, *out); err != nil {
		return err
	}
	size := int64(0)
	if st, err := os.Stat(*out); err == nil {
		size = st.Size()
	}
	fmt.Fprintf(stdout, "%s: a copy of %s as of %s (%d bytes, in %s)\n", *out, path, start.UTC().Format(time.RFC3339),
		size, time.Since(start).Round(time.Millisecond))
	fmt.Fprintln(stdout, "The copy holds sealed data only: keep the master key that opens it apart from it.")
	return nil
}
