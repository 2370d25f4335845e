package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/mattn/go-isatty"
)

// newLogger returns the logger of --log-format and --log-level, and whether
// it writes JSON. "auto" is text on a terminal and JSON otherwise (a
// container, systemd, a file), where logs are collected and searched.
func newLogger(w io.Writer, format, level string) (*slog.Logger, bool, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, false, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	if format == "auto" {
		format = "json"
		if isTerminal(w) {
			format = "text"
		}
	}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), true, nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), false, nil
	}
	return nil, false, fmt.Errorf("--log-format %q: want json, text or auto", format)
}

func isTerminal(w io.Writer) bool {
	if u, ok := w.(interface{ Unwrap() io.Writer }); ok {
		w = u.Unwrap()
	}
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// effectiveConfig is every flag's value after the command line and the
// environment, for the startup record, with secrets redacted: a password in
// a URL, and the whole value of a flag whose name says it is a secret.
func (fs *flagSet) effectiveConfig() slog.Value {
	var attrs []slog.Attr
	fs.VisitAll(func(f *flag.Flag) {
		attrs = append(attrs, slog.String(f.Name, redactFlag(f.Name, f.Value.String())))
	})
	return slog.GroupValue(attrs...)
}

func redactFlag(name, value string) string {
	for _, secret := range []string{"password", "secret", "token"} {
		if strings.Contains(name, secret) && value != "" {
			return "REDACTED"
		}
	}
	return redactDB(value)
}
