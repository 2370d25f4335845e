package main

import (
	"fmt"
	"io"
	"net/url"
	"runtime"
	"runtime/debug"
)

// version and commit are stamped with -ldflags "-X main.version=… -X main.commit=…";
// otherwise they come from the build information.
var (
	version = ""
	commit  = ""
)

func runVersion(stdout io.Writer) error {
	fmt.Fprintf(stdout, "customerd %s\n", versionString())
	return nil
}

// versionString is the version, the commit and the Go version of this
// binary, e.g. "v1.2.0 (commit 1a2b3c4, go1.26.0)".
func versionString() string {
	v, c := version, commit
	if info, ok := debug.ReadBuildInfo(); ok {
		if v == "" {
			v = info.Main.Version
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && c == "" {
				c = s.Value
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	if c == "" {
		c = "unknown"
	}
	return fmt.Sprintf("%s (commit %s, %s)", v, c, runtime.Version())
}

var (
	parseURL        = url.Parse
	urlUserPassword = url.UserPassword
)
