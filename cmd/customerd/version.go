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
	fmt.Fprintf(stdout, "customerd %s (commit %s, %s)\n", v, c, runtime.Version())
	return nil
}

var (
	parseURL        = url.Parse
	urlUserPassword = url.UserPassword
)
