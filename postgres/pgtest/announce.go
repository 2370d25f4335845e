package pgtest

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
)

// howToRun says how to run the PostgreSQL tests; the database named in the
// example exists on every server, and each test makes a schema or database
// of its own beside what is there.
const howToRun = "set " + EnvURL + ", e.g. " + EnvURL +
	"='postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable' go test ./... (README: Testing against PostgreSQL)"

// Main is the TestMain of a package whose tests need PostgreSQL: it
// announces a skip (see Announce) and runs the tests.
func Main(m *testing.M) {
	Announce()
	os.Exit(m.Run())
}

// Announce prints one line when EnvURL is unset: that the calling package's
// PostgreSQL tests are skipped, and how to run them. A package whose tests
// use this package calls it once, from its TestMain (see Main) or, when that
// TestMain lives in a file of its own, from an init function.
//
// The line goes to stderr, which go test shows with -v, for a failing
// package, and when run without package arguments. In package list mode
// (go test ./...) the go command drops all output of a passing package, so
// the line also goes to the controlling terminal when there is one, which is
// where a person reading that output is.
func Announce() {
	announce(os.Getenv(EnvURL), packagePath(), os.Args[1:], os.Stderr, isTerminal(os.Stderr), openTerminal)
}

// announce is Announce with the process's surroundings as arguments.
func announce(url, pkg string, args []string, stderr io.Writer, stderrIsTerminal bool, terminal func() (io.WriteCloser, error)) {
	if url != "" {
		return
	}
	line := pkg + ": PostgreSQL tests skipped: " + howToRun + "\n"
	io.WriteString(stderr, line)
	// With -v, or when stderr is the terminal already, the line is shown once.
	if stderrIsTerminal || verbose(args) {
		return
	}
	if tty, err := terminal(); err == nil {
		io.WriteString(tty, line)
		tty.Close()
	}
}

// verbose reports whether the test binary was started with -test.v, as
// go test -v does. The flags are not parsed yet when an init function runs.
func verbose(args []string) bool {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "-test.v"); ok && (v == "" || strings.HasPrefix(v, "=") && v != "=false") {
			return true
		}
	}
	return false
}

// packagePath is the import path of the package under test: the test binary
// is built as "IMPORTPATH.test".
func packagePath() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Path != "" {
		return strings.TrimSuffix(bi.Path, ".test")
	}
	return "this package"
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// openTerminal opens the controlling terminal for writing. It uses the
// system call rather than os.OpenFile, which go test records as an input of
// the test: a terminal changes with every keystroke, and no result would
// ever come from the cache.
func openTerminal() (io.WriteCloser, error) {
	fd, err := syscall.Open("/dev/tty", syscall.O_WRONLY|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/tty: %w", err)
	}
	return os.NewFile(uintptr(fd), "/dev/tty"), nil
}
