package pgtest

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

type closeBuffer struct{ bytes.Buffer }

func (*closeBuffer) Close() error { return nil }

func TestAnnounceSaysOnceWhichVariableRunsTheSkippedTests(t *testing.T) {
	for _, tc := range []struct {
		name             string
		url              string
		args             []string
		stderrIsTerminal bool
		hasTerminal      bool
		wantStderr       bool
		wantTerminal     bool
	}{
		{name: "variable set: silent", url: "postgres://x", hasTerminal: true},
		{name: "go test ./... in a terminal: stderr and the terminal", args: []string{"-test.timeout=10m0s"}, hasTerminal: true, wantStderr: true, wantTerminal: true},
		{name: "no terminal (CI): stderr only", hasTerminal: false, wantStderr: true},
		{name: "-v: stderr only, which go test shows", args: []string{"-test.v=true"}, hasTerminal: true, wantStderr: true},
		{name: "-v=test2json: stderr only", args: []string{"-test.v=test2json"}, hasTerminal: true, wantStderr: true},
		{name: "-test.v=false: as without -v", args: []string{"-test.v=false"}, hasTerminal: true, wantStderr: true, wantTerminal: true},
		{name: "stderr is the terminal: once", stderrIsTerminal: true, hasTerminal: true, wantStderr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			tty := &closeBuffer{}
			terminal := func() (io.WriteCloser, error) {
				if !tc.hasTerminal {
					return nil, errors.New("no terminal")
				}
				return tty, nil
			}
			announce(tc.url, "customerd/example", tc.args, &stderr, tc.stderrIsTerminal, terminal)
			for _, out := range []struct {
				what string
				got  string
				want bool
			}{{"stderr", stderr.String(), tc.wantStderr}, {"terminal", tty.String(), tc.wantTerminal}} {
				if !out.want {
					if out.got != "" {
						t.Errorf("%s: %q, want nothing", out.what, out.got)
					}
					continue
				}
				if strings.Count(out.got, "\n") != 1 || !strings.HasPrefix(out.got, "customerd/example: ") ||
					!strings.Contains(out.got, "set "+EnvURL) {
					t.Errorf("%s: %q, want one line naming the package and %s", out.what, out.got, EnvURL)
				}
			}
		})
	}
}

// Every package whose tests need PostgreSQL announces the skip, so that a
// package added later does not skip silently.
func TestEveryPackageUsingPgtestAnnouncesTheSkip(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Dir(filepath.Dir(filepath.Dir(file)))
	uses, announces := map[string]bool{}, map[string]bool{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if !strings.HasSuffix(p, "_test.go") || filepath.Dir(p) == filepath.Dir(file) {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		dir, src := filepath.Dir(p), string(b)
		if strings.Contains(src, "pgtest.") || strings.Contains(src, EnvURL) {
			uses[dir] = true
		}
		if strings.Contains(src, "pgtest.Main(m)") || strings.Contains(src, "pgtest.Announce()") {
			announces[dir] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(uses) == 0 {
		t.Fatal("found no package that uses pgtest")
	}
	for dir := range uses {
		if !announces[dir] {
			rel, _ := filepath.Rel(root, dir)
			t.Errorf("%s: tests use PostgreSQL but no TestMain calls pgtest.Main(m) (or pgtest.Announce())", rel)
		}
	}
}
