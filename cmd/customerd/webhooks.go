package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"customerd"
	"customerd/delivery"
)

// runWebhook implements "customerd webhook create|list|enable|disable|delete":
// a merchant's webhook endpoints, for an operator.
func runWebhook(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("webhook", "webhook create --merchant ID --url URL [--events TYPES] [--description TEXT]\n"+
		"       customerd webhook list --merchant ID\n"+
		"       customerd webhook enable|disable|delete --merchant ID ENDPOINT_ID\n"+
		"       [--db URL] [--master-key-file FILE]", getenv, stdout, stderr)
	db := fs.String("db", defaultDB, dbUsage)
	keys := addMasterKeyFlags(fs)
	merchant := fs.String("merchant", "", "the merchant whose endpoints these are (required)")
	url := fs.String("url", "", "create: where to deliver the events (https://…)")
	events := fs.String("events", customerd.AllEvents, "create: the event types to deliver, comma-separated, or * for every type")
	description := fs.String("description", "", "create: a note for the people who read the endpoint list")
	insecure := fs.Bool("allow-insecure", false, "create: accept an http:// URL or a loopback or private address (development only)")
	pos, err := fs.parse(args)
	if err != nil {
		return usageError(err)
	}
	subs := subcommands()["webhook"]
	if len(pos) == 0 || !slices.Contains(subs, pos[0]) {
		fs.Usage()
		return errUsage
	}
	sub := pos[0]
	wantArgs := 1
	if sub == "enable" || sub == "disable" || sub == "delete" {
		wantArgs = 2
	}
	if len(pos) != wantArgs {
		fs.Usage()
		return errUsage
	}
	if *merchant == "" {
		return fmt.Errorf("webhook %s: --merchant is required", sub)
	}
	if sub == "create" && *url == "" {
		return fmt.Errorf("webhook create: --url is required")
	}
	svc, _, err := openServiceWith(ctx, *db, keys, stderr, storeOptions{webhooks: delivery.Config{AllowInsecure: *insecure}})
	if err != nil {
		return err
	}
	defer svc.Close()
	if _, err := svc.ListAPIKeys(ctx, *merchant); customerd.ErrorCode(err) == customerd.ENOTFOUND {
		return fmt.Errorf("merchant %q does not exist", *merchant)
	} else if err != nil {
		return err
	}
	caller := customerd.Caller{MerchantID: *merchant, RequestID: "cli-webhook-" + sub}
	switch sub {
	case "create":
		req := customerd.EndpointRequest{URL: customerd.Present(*url), EnabledEvents: customerd.Present(*events)}
		if *description != "" {
			req.Description = customerd.Present(*description)
		}
		e, err := svc.CreateWebhookEndpoint(ctx, caller, req)
		if err != nil {
			return fmt.Errorf("webhook create: %s", errMessage(err))
		}
		fmt.Fprintf(stdout, "created webhook endpoint %s for %s (events: %s)\n", e.ID, e.URL, strings.Join(e.EnabledEvents, ","))
		fmt.Fprintf(stdout, "signing secret (shown once; receivers verify customerd-signature with it):\n%s\n", e.Secret)
		return nil
	case "list":
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ENDPOINT\tURL\tEVENTS\tSTATE\tCREATED\tDESCRIPTION")
		page := customerd.Page{Limit: customerd.MaxPageSize, Ascending: true}
		for {
			endpoints, _, more, err := svc.ListWebhookEndpoints(ctx, *merchant, page)
			if err != nil {
				return err
			}
			for _, e := range endpoints {
				state := "enabled"
				if e.Disabled {
					state = "disabled"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.URL, strings.Join(e.EnabledEvents, ","), state,
					e.Created.Format(time.RFC3339), e.Description)
			}
			if !more {
				return tw.Flush()
			}
			page.StartingAfter = endpoints[len(endpoints)-1].ID
		}
	case "enable", "disable":
		disabled := "false"
		if sub == "disable" {
			disabled = "true"
		}
		e, err := svc.UpdateWebhookEndpoint(ctx, caller, pos[1], customerd.EndpointRequest{Disabled: customerd.Present(disabled)})
		if customerd.ErrorCode(err) == customerd.ENOTFOUND {
			return fmt.Errorf("merchant %q has no webhook endpoint %q", *merchant, pos[1])
		} else if err != nil {
			return err
		}
		if e.Disabled {
			fmt.Fprintf(stdout, "disabled %s: its pending deliveries wait until it is enabled again\n", e.ID)
		} else {
			fmt.Fprintf(stdout, "enabled %s: its pending deliveries resume within a minute\n", e.ID)
		}
		return nil
	default: // delete
		if _, err := svc.DeleteWebhookEndpoint(ctx, caller, pos[1]); customerd.ErrorCode(err) == customerd.ENOTFOUND {
			return fmt.Errorf("merchant %q has no webhook endpoint %q", *merchant, pos[1])
		} else if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "deleted %s and its delivery attempts; its pending deliveries are dropped\n", pos[1])
		return nil
	}
}
