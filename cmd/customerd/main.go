// Command customerd serves Juspay's Express Checkout Customer API and manages
// its merchants and API keys. It is the only place that wires the domain, the
// stores and the HTTP layer together.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The first signal starts a graceful shutdown; a second one (an impatient
	// Ctrl-C) gets the default action and stops the process at once.
	go func() { <-ctx.Done(); stop() }()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, errUsage) {
			fmt.Fprintln(os.Stderr, "customerd:", err)
		}
		os.Exit(1)
	}
}

// errUsage means the usage text has already been printed.
var errUsage = errors.New("usage")

const usage = `customerd serves Juspay's Express Checkout Customer API.

Usage:
  customerd serve [--listen ADDR] [--db URL]     run the server
        [--tls-cert FILE --tls-key FILE]         over HTTPS; SIGHUP reloads the certificate
  customerd merchant create ID [--db URL]        create a merchant; prints its first API key
  customerd merchant list [--db URL]             list the merchants
  customerd key create MERCHANT_ID [--db URL]    create another API key; prints it
  customerd key list MERCHANT_ID [--db URL]      list a merchant's keys (prefixes only)
  customerd key revoke KEY_OR_PREFIX [--db URL]  revoke a key
  customerd migrate [--db URL]                   apply the database migrations, then exit
  customerd cert create [--host H1,H2] [--out DIR]
                                                 write a self-signed development certificate
  customerd healthcheck [--listen ADDR]          exit 0 when the server's /healthz answers 200
  customerd master-key generate [--out FILE]     print (or write) a new master key
  customerd master-key rotate --new-key-file F   wrap every merchant key under a new master key too
  customerd master-key retire                    drop the wraps under the old master key
  customerd master-key status                    which master keys wrap the keys of how many merchants
  customerd data-key rotate MERCHANT_ID          new data key for a merchant; re-encrypts its customers and events
  customerd events --merchant ID [--customer C]  a merchant's event log, oldest first, one JSON event per line
  customerd webhook create --merchant ID --url U create a webhook endpoint; prints its signing secret once
  customerd webhook list --merchant ID           list a merchant's webhook endpoints
  customerd webhook disable --merchant ID WE_ID  pause an endpoint's deliveries (enable resumes them)
  customerd webhook enable --merchant ID WE_ID   resume a disabled endpoint
  customerd webhook delete --merchant ID WE_ID   delete an endpoint; its pending deliveries are dropped
  customerd import --merchant ID FILE            load customers from CSV or NDJSON (a Juspay export too)
  customerd export --merchant ID [--out FILE]    every customer of a merchant, as NDJSON or CSV
  customerd backup --out FILE                    a consistent copy of a live SQLite database
  customerd version                              print version, commit and Go version

Run "customerd COMMAND --help" for the flags of a command.
`

// run is main without the process: tests call it directly.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return runServe(ctx, rest, getenv, stdout, stderr)
	case "merchant":
		return runMerchant(ctx, rest, getenv, stdout, stderr)
	case "key":
		return runKey(ctx, rest, getenv, stdout, stderr)
	case "cert":
		return runCert(ctx, rest, getenv, stdout, stderr)
	case "migrate":
		return runMigrate(ctx, rest, getenv, stdout, stderr)
	case "healthcheck":
		return runHealthcheck(ctx, rest, getenv, stdout, stderr)
	case "master-key":
		return runMasterKey(ctx, rest, getenv, stdout, stderr)
	case "data-key":
		return runDataKey(ctx, rest, getenv, stdout, stderr)
	case "events":
		return runEvents(ctx, rest, getenv, stdout, stderr)
	case "webhook":
		return runWebhook(ctx, rest, getenv, stdout, stderr)
	case "import":
		return runImport(ctx, rest, getenv, stdout, stderr)
	case "export":
		return runExport(ctx, rest, getenv, stdout, stderr)
	case "backup":
		return runBackup(ctx, rest, getenv, stdout, stderr)
	case "version", "--version":
		return runVersion(stdout)
	case "help", "-h", "-help", "--help":
		printHelp(stdout, getenv)
		return nil
	}
	fmt.Fprintf(stderr, "customerd: unknown command %q%s\n%s\n", cmd, didYouMean(cmd, commands(), `"`, `"`), seeHelp(""))
	return errUsage
}

// printHelp prints the usage and the flags of serve with their environment
// variables and defaults, the configuration an operator looks for first.
func printHelp(w io.Writer, getenv func(string) string) {
	fmt.Fprint(w, usage)
	fs, _ := newServeFlags(getenv, io.Discard, io.Discard)
	fmt.Fprint(w, "\nFlags of serve (each also read from its environment variable; a flag beats the variable):\n")
	fs.printFlags(w)
}
