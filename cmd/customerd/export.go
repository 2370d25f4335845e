package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"customerd"
	"customerd/httpapi"
	"customerd/transfer"
)

// runExport implements "customerd export": every customer of a merchant,
// decrypted, in the shape GET answers, in a file import takes back.
func runExport(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("export", "export --merchant ID [--format ndjson|csv] [--out FILE] [--db URL]", getenv, stdout, stderr)
	db := fs.String("db", defaultDB, dbUsage)
	keys := addMasterKeyFlags(fs)
	merchant := fs.String("merchant", "", "the merchant whose customers to export (required)")
	format := fs.String("format", "ndjson", "ndjson (one customer object per line, as GET answers) or csv")
	out := fs.String("out", "", "the file to write (replaced once complete); standard output when not given")
	pos, err := fs.parse(args)
	if err != nil {
		return usageError(err)
	}
	if len(pos) != 0 {
		fs.Usage()
		return errUsage
	}
	if *merchant == "" {
		return fmt.Errorf("export: --merchant is required")
	}
	f, err := transfer.ParseFormat(*format)
	if err != nil || f == transfer.FormatAuto {
		return fmt.Errorf("export: --format %q: want ndjson or csv", *format)
	}
	svc, err := openService(ctx, *db, keys, stderr)
	if err != nil {
		return err
	}
	defer svc.Close()
	if _, err := svc.ListAPIKeys(ctx, *merchant); customerd.ErrorCode(err) == customerd.ENOTFOUND {
		return fmt.Errorf("merchant %q does not exist", *merchant)
	} else if err != nil {
		return err
	}

	w := stdout
	var tmp *os.File
	if *out != "" {
		// The export is written beside the file and renamed once complete:
		// an interrupted export leaves no file that looks like a whole one.
		if tmp, err = os.CreateTemp(filepath.Dir(*out), "."+filepath.Base(*out)+".partial-*"); err != nil {
			return fmt.Errorf("export: %w", err)
		}
		defer os.Remove(tmp.Name()) // after the rename, nothing to remove
		defer tmp.Close()
		w = tmp
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	if f == transfer.FormatCSV {
		if _, err := bw.WriteString(transfer.CSVHeader); err != nil {
			return err
		}
	}
	start := time.Now()
	n := 0
	var line []byte
	err = svc.ExportCustomers(ctx, *merchant, func(c *customerd.Customer) error {
		if f == transfer.FormatCSV {
			line = transfer.AppendCSV(line[:0], c)
		} else {
			line = append(httpapi.AppendCustomer(line[:0], c), '\n')
		}
		n++
		_, err := bw.Write(line)
		return err
	})
	if err == nil {
		err = bw.Flush()
	}
	if err == nil && tmp != nil {
		if err = tmp.Sync(); err == nil {
			if err = tmp.Close(); err == nil {
				err = os.Rename(tmp.Name(), *out)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	elapsed := time.Since(start)
	fmt.Fprintf(stderr, "customerd export: %d customers of %s in %s (%.0f rows/s)\n", n, *merchant,
		elapsed.Round(time.Millisecond), float64(n)/max(elapsed.Seconds(), 1e-9))
	return nil
}
