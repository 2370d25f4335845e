// Package browsertest drives the dashboard in a real Chromium, against a
// real "customerd serve" process. Without Chromium the tests are skipped,
// and say so in go test's plain output; with CUSTOMERD_REQUIRE_BROWSER=1
// (as CI sets it) they fail instead.
package browsertest

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"customerd/internal/binarytest"
)

// envChromium names the browser to use; the default is the first of
// chromiumNames on PATH.
const envChromium = "CUSTOMERD_CHROMIUM"

// envRequire makes a missing browser a failure rather than a skip.
const envRequire = "CUSTOMERD_REQUIRE_BROWSER"

// envArtifacts is where the screenshots go; a new temporary folder when unset.
const envArtifacts = "CUSTOMERD_TEST_ARTIFACTS"

var chromiumNames = []string{"chromium", "chromium-browser", "google-chrome"}

// chromiumPath returns the browser to drive, or "".
func chromiumPath() string {
	if p := os.Getenv(envChromium); p != "" {
		return p
	}
	for _, name := range chromiumNames {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

const skipMessage = "customerd/dashboard/browsertest: browser tests skipped: no chromium on PATH " +
	"(apt-get install chromium, or set " + envChromium + ")\n"

func TestMain(m *testing.M) {
	if chromiumPath() == "" && os.Getenv(envRequire) == "" {
		announce()
	}
	code := m.Run()
	binarytest.Cleanup()
	os.Exit(code)
}

// announce says that the tests are skipped where a person running go test
// sees it: on stderr, which go test shows with -v and for a package that
// fails, and on the terminal, since go test ./... drops the output of a
// package that passes.
func announce() {
	io.WriteString(os.Stderr, skipMessage)
	for _, a := range os.Args[1:] {
		if strings.HasPrefix(a, "-test.v") && a != "-test.v=false" {
			return
		}
	}
	if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		return
	}
	// The system call, not os.OpenFile: go test would record the terminal
	// as an input of the test, and never cache its result.
	fd, err := syscall.Open("/dev/tty", syscall.O_WRONLY|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	tty := os.NewFile(uintptr(fd), "/dev/tty")
	fmt.Fprint(tty, skipMessage)
	tty.Close()
}

// needChromium returns the browser's path, or skips (fails under
// CUSTOMERD_REQUIRE_BROWSER) the test.
func needChromium(t *testing.T) string {
	t.Helper()
	p := chromiumPath()
	if p == "" {
		if os.Getenv(envRequire) != "" {
			t.Fatalf("%s is set but no chromium is on PATH", envRequire)
		}
		t.Skip(strings.TrimSpace(skipMessage))
	}
	return p
}
