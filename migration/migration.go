// Package migration reads the numbered SQL migrations a store embeds. Each
// store applies them its own way, under its own lock; this package only
// lists them, so both stores agree on names and order.
package migration

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Migration is one SQL file, "NNNN_name.sql".
type Migration struct {
	Version int
	Name    string // the file name
	SQL     string
}

// Load returns the *.sql files of dir in fsys, ordered by their numeric
// prefix. A file without a numeric prefix, or two with the same version, is
// an error: the set is fixed at build time, so callers may panic on it.
func Load(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.Glob(fsys, path.Join(dir, "*.sql"))
	if err != nil {
		return nil, err
	}
	var out []Migration
	seen := map[int]string{}
	for _, e := range entries {
		base := path.Base(e)
		v, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("migration %s: no numeric prefix", base)
		}
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s share version %d", other, base, v)
		}
		seen[v] = base
		body, err := fs.ReadFile(fsys, e)
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: v, Name: base, SQL: string(body)})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no migrations in %s", dir)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// MustLoad is Load for embedded files, where an error is a build mistake.
func MustLoad(fsys fs.FS, dir string) []Migration {
	m, err := Load(fsys, dir)
	if err != nil {
		panic(err)
	}
	return m
}
