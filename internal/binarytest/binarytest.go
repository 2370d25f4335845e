// Package binarytest builds the real customerd binary once per test process,
// for tests that run it as a separate process: to kill it with SIGKILL, to
// signal it, or to run several nodes side by side.
package binarytest

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"customerd/fieldcrypt"
)

var (
	once sync.Once
	dir  string
	path string
	err  error
)

// Path returns the path of the customerd binary built from this module. It is
// built with -race when the calling tests run with -race. Tests are skipped
// under -short.
func Path(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the customerd binary; skipped with -short")
	}
	once.Do(build)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func build() {
	root, rerr := moduleRoot()
	if rerr != nil {
		err = rerr
		return
	}
	statSources(root)
	dir, err = os.MkdirTemp("", "customerd-bin-")
	if err != nil {
		return
	}
	path = filepath.Join(dir, "customerd")
	args := []string{"build", "-o", path}
	if raceEnabled {
		args = append(args, "-race")
	}
	// go test puts its own go command first on PATH.
	cmd := exec.Command("go", append(args, "customerd/cmd/customerd")...)
	cmd.Dir = root
	if out, berr := cmd.CombinedOutput(); berr != nil {
		err = fmt.Errorf("go build: %v\n%s", berr, out)
	}
}

// Cleanup removes the built binary; call it from TestMain after m.Run.
func Cleanup() {
	if dir != "" {
		os.RemoveAll(dir)
	}
}

// MasterKey is the master key of every process a test run starts, as one
// deployment shares one key.
var MasterKey = func() string {
	k, err := fieldcrypt.GenerateMasterKey()
	if err != nil {
		panic(err)
	}
	return strings.TrimSpace(string(k.Encode()))
}()

// ChildEnv is this process's environment without CUSTOMERD_* variables, so
// that only the flags a test passes configure the child, plus
// CUSTOMERD_MASTER_KEY=MasterKey.
func ChildEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CUSTOMERD_") {
			env = append(env, kv)
		}
	}
	return append(env, "CUSTOMERD_MASTER_KEY="+MasterKey)
}

func moduleRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("binarytest: cannot locate the module")
	}
	return filepath.Dir(filepath.Dir(filepath.Dir(file))), nil
}

// statSources stats every source file of the module. go test caches a
// package's result keyed on the files its tests touch; the binary is built in
// a child process, so without this a change to the server alone would not
// invalidate a cached pass of the tests that run it.
func statSources(root string) {
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() {
			if p != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules" || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		switch filepath.Ext(p) {
		case ".go", ".sql", ".mod", ".sum", ".yaml":
			_, _ = os.Stat(p)
		}
		return nil
	})
}
