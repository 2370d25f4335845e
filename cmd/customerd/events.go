package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"slices"

	"customerd"
	"customerd/httpapi"
)

// runEvents implements "customerd events": a merchant's event log, oldest
// first, one event per line in the API's JSON, for an operator.
func runEvents(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("events", "events --merchant ID [--customer ID_OR_REFERENCE] [--type TYPE] [--db URL] [--master-key-file FILE]",
		getenv, stdout, stderr)
	db := fs.String("db", defaultDB, dbUsage)
	keys := addMasterKeyFlags(fs)
	merchant := fs.String("merchant", "", "the merchant whose log to read (required)")
	customer := fs.String("customer", "", "only this customer's events: its id (an erased customer's too) or its reference")
	typ := fs.String("type", "", "only events of this type: customer.created, customer.updated or customer.deleted")
	pos, err := fs.parse(args)
	if err != nil {
		return usageError(err)
	}
	if len(pos) != 0 {
		fs.Usage()
		return errUsage
	}
	if *merchant == "" {
		return fmt.Errorf("events: --merchant is required")
	}
	if *typ != "" && !slices.Contains(customerd.EventTypes, *typ) {
		return fmt.Errorf("events: --type %q: want customer.created, customer.updated or customer.deleted", *typ)
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
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	q := customerd.EventQuery{Page: customerd.Page{Limit: customerd.MaxPageSize, Ascending: true}, Type: *typ, CustomerID: *customer}
	var line []byte
	for {
		events, _, more, err := svc.ListEvents(ctx, *merchant, q)
		if err != nil {
			return err
		}
		for _, e := range events {
			line = append(httpapi.AppendEvent(line[:0], e), '\n')
			if _, err := out.Write(line); err != nil {
				return err
			}
		}
		if !more {
			return nil
		}
		q.StartingAfter = events[len(events)-1].ID
	}
}
