package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Backup writes a consistent copy of the database to dst while the store
// serves: VACUUM INTO reads one snapshot (a WAL read transaction, which
// writers do not wait for), so the copy holds every write committed before
// it began and none after. The copy is written to a temporary file beside
// dst, checked (PRAGMA quick_check), synced, and only then renamed to dst,
// so that dst is never a partial file: a full disk or a crash leaves dst as
// it was and at most the temporary file, which a later backup does not
// mistake for one. The copy holds the sealed records only; the master key
// that opens them is not in the database.
func (s *Store) Backup(ctx context.Context, dst string) error {
	abs, err := filepath.Abs(dst)
	if err != nil {
		return err
	}
	if same, _ := sameFile(abs, s.path); same {
		return fmt.Errorf("sqlite: backup: %s is the database itself", dst)
	}
	dir := filepath.Dir(abs)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(abs)+".partial-*")
	if err != nil {
		return fmt.Errorf("sqlite: backup: %w", err)
	}
	tmpPath := tmp.Name()
	tmp.Close() // VACUUM INTO writes into an empty file
	done := false
	defer func() {
		if !done {
			os.Remove(tmpPath)
		}
	}()
	// A connection of its own: VACUUM INTO is refused on the read pool's
	// query_only connections, and on the writer's it would hold up writes.
	db, err := sql.Open("sqlite", dsn(s.path, ""))
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, `VACUUM INTO '`+strings.ReplaceAll(tmpPath, "'", "''")+`'`); err != nil {
		return fmt.Errorf("sqlite: backup: %w", err)
	}
	if err := checkCopy(ctx, tmpPath); err != nil {
		return err
	}
	if err := syncFile(tmpPath); err != nil {
		return fmt.Errorf("sqlite: backup: %w", err)
	}
	if err := os.Rename(tmpPath, abs); err != nil {
		return fmt.Errorf("sqlite: backup: %w", err)
	}
	done = true
	if err := syncFile(dir); err != nil { // the rename itself
		return fmt.Errorf("sqlite: backup: %s is written, but syncing its directory failed: %w", dst, err)
	}
	return nil
}

// checkCopy runs PRAGMA quick_check on a finished copy.
func checkCopy(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite", "file:"+strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)+"?mode=ro")
	if err != nil {
		return err
	}
	defer db.Close()
	var res string
	if err := db.QueryRowContext(ctx, `PRAGMA quick_check`).Scan(&res); err != nil {
		return fmt.Errorf("sqlite: backup: checking the copy: %w", err)
	}
	if res != "ok" {
		return fmt.Errorf("sqlite: backup: the copy fails its check: %s", res)
	}
	return nil
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// sameFile reports whether a and b are one file.
func sameFile(a, b string) (bool, error) {
	sa, err := os.Stat(a)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false, nil
		}
		return false, err
	}
	sb, err := os.Stat(b)
	if err != nil {
		return false, err
	}
	return os.SameFile(sa, sb), nil
}
