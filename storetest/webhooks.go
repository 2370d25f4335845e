package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"customerd"
)

func endpointRow(merchantID string, i int) customerd.SealedEndpoint {
	return customerd.SealedEndpoint{ID: fmt.Sprintf("we_%016d", i), MerchantID: merchantID,
		URL: fmt.Sprintf("https://hooks.example.com/%d", i), EnabledEvents: []string{customerd.EventCustomerCreated, customerd.EventCustomerDeleted},
		Description: fmt.Sprintf("endpoint %d", i), Created: T0.Add(time.Duration(i) * time.Second), Secret: []byte(fmt.Sprintf("sealed secret %d", i))}
}

func insertEndpoint(t *testing.T, s customerd.Store, e customerd.SealedEndpoint) error {
	t.Helper()
	return write(t, s, func(tx customerd.StoreTx) error {
		return tx.InsertWebhookEndpoint(ctx, e, customerd.MaxWebhookEndpoints)
	})
}

func targets(t *testing.T, s customerd.Store, merchantID string) []customerd.WebhookTarget {
	t.Helper()
	var out []customerd.WebhookTarget
	if err := write(t, s, func(tx customerd.StoreTx) (err error) {
		out, err = tx.WebhookTargets(ctx, merchantID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func testWebhookEndpoints(t *testing.T, s customerd.Store) {
	MustMerchant(t, s, "m1")
	MustMerchant(t, s, "m2")
	var rows []customerd.SealedEndpoint
	for i := range 3 {
		rows = append(rows, endpointRow("m1", i))
		if err := insertEndpoint(t, s, rows[i]); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.FindWebhookEndpoint(ctx, "m1", rows[1].ID); err != nil || !reflect.DeepEqual(got, rows[1]) {
		t.Fatalf("find:\n got %+v, %v\nwant %+v", got, err, rows[1])
	}
	if _, err := s.FindWebhookEndpoint(ctx, "m2", rows[1].ID); !errors.Is(err, customerd.ErrNotFound) {
		t.Fatalf("another merchant's endpoint was found: %v", err)
	}
	if err := insertEndpoint(t, s, rows[0]); !errors.Is(err, customerd.ErrConflict) {
		t.Fatalf("an endpoint id inserted twice: %v", err)
	}
	ghost := endpointRow("nobody", 9)
	if err := insertEndpoint(t, s, ghost); !errors.Is(err, customerd.ErrNotFound) {
		t.Fatalf("an endpoint of a merchant that does not exist: %v", err)
	}

	// Listed newest first by default, with paging and a total.
	list := func(p customerd.Page) ([]customerd.SealedEndpoint, int, bool) {
		t.Helper()
		got, total, more, err := s.ListWebhookEndpoints(ctx, "m1", p)
		if err != nil {
			t.Fatal(err)
		}
		return got, total, more
	}
	got, total, more := list(customerd.Page{Limit: 2})
	if total != 3 || !more || len(got) != 2 || got[0].ID != rows[2].ID || got[1].ID != rows[1].ID {
		t.Fatalf("first page: %d %v %v", total, more, endpointIDs(got))
	}
	got, _, more = list(customerd.Page{Limit: 2, StartingAfter: rows[1].ID})
	if more || len(got) != 1 || got[0].ID != rows[0].ID {
		t.Fatalf("page after %s: %v %v", rows[1].ID, more, endpointIDs(got))
	}
	got, _, _ = list(customerd.Page{Limit: 10, Ascending: true, Offset: 1})
	if len(got) != 2 || got[0].ID != rows[1].ID {
		t.Fatalf("ascending from offset 1: %v", endpointIDs(got))
	}
	if _, _, _, err := s.ListWebhookEndpoints(ctx, "m2", customerd.Page{Limit: 2, StartingAfter: rows[1].ID}); !errors.Is(err, customerd.ErrBadCursor) {
		t.Fatalf("another merchant's endpoint as a cursor: %v", err)
	}
	if got, total, _, err := s.ListWebhookEndpoints(ctx, "m2", customerd.Page{Limit: 10}); err != nil || total != 0 || len(got) != 0 {
		t.Fatalf("m2 lists %v (%d), %v", endpointIDs(got), total, err)
	}

	// Updates rewrite what may change and keep the secret; the locked read
	// sees the row.
	changed := rows[1]
	changed.URL, changed.EnabledEvents, changed.Description, changed.Disabled = "https://other.example.com/", []string{"*"}, "", true
	if err := write(t, s, func(tx customerd.StoreTx) error {
		locked, err := tx.LockWebhookEndpoint(ctx, "m1", rows[1].ID)
		if err != nil || !reflect.DeepEqual(locked, rows[1]) {
			return fmt.Errorf("locked read %+v, %v", locked, err)
		}
		tampered := changed
		tampered.Secret, tampered.Created = []byte("other"), T0.Add(time.Hour)
		return tx.UpdateWebhookEndpoint(ctx, tampered)
	}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.FindWebhookEndpoint(ctx, "m1", rows[1].ID); err != nil || !reflect.DeepEqual(got, changed) {
		t.Fatalf("after the update:\n got %+v, %v\nwant %+v", got, err, changed)
	}
	other := changed
	other.MerchantID = "m2"
	if err := write(t, s, func(tx customerd.StoreTx) error { return tx.UpdateWebhookEndpoint(ctx, other) }); !errors.Is(err, customerd.ErrNotFound) {
		t.Fatalf("updated another merchant's endpoint: %v", err)
	}

	// The targets are the enabled endpoints, oldest first.
	if got := targets(t, s, "m1"); len(got) != 2 || got[0].EndpointID != rows[0].ID || got[1].EndpointID != rows[2].ID ||
		!reflect.DeepEqual(got[0].EnabledEvents, rows[0].EnabledEvents) {
		t.Fatalf("targets: %+v", got)
	}
	if got := targets(t, s, "m2"); len(got) != 0 {
		t.Fatalf("m2 has targets %+v", got)
	}

	// Deleting removes the endpoint and its attempts, only the merchant's.
	if err := write(t, s, func(tx customerd.StoreTx) error { return tx.DeleteWebhookEndpoint(ctx, "m2", rows[0].ID) }); !errors.Is(err, customerd.ErrNotFound) {
		t.Fatalf("deleted another merchant's endpoint: %v", err)
	}
	a := customerd.WebhookAttempt{ID: "wa_0000000000000001", MerchantID: "m1", EndpointID: rows[0].ID, EventID: "evt_0000000000000001",
		Attempt: 1, Created: T0, Duration: time.Second}
	if err := write(t, s, func(tx customerd.StoreTx) error { return tx.InsertWebhookAttempt(ctx, a) }); err != nil {
		t.Fatal(err)
	}
	if err := write(t, s, func(tx customerd.StoreTx) error { return tx.DeleteWebhookEndpoint(ctx, "m1", rows[0].ID) }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FindWebhookEndpoint(ctx, "m1", rows[0].ID); !errors.Is(err, customerd.ErrNotFound) {
		t.Fatalf("a deleted endpoint was found: %v", err)
	}
	if n, err := s.LastWebhookAttempt(ctx, "m1", rows[0].ID, a.EventID); err != nil || n != 0 {
		t.Fatalf("a deleted endpoint's attempts remain: %d, %v", n, err)
	}
	if err := write(t, s, func(tx customerd.StoreTx) error { return tx.DeleteWebhookEndpoint(ctx, "m1", rows[0].ID) }); !errors.Is(err, customerd.ErrNotFound) {
		t.Fatalf("deleted twice: %v", err)
	}
}

func endpointIDs(es []customerd.SealedEndpoint) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.ID)
	}
	return out
}

func testWebhookEndpointLimit(t *testing.T, s customerd.Store) {
	MustMerchant(t, s, "m1")
	MustMerchant(t, s, "m2")
	for i := range customerd.MaxWebhookEndpoints {
		if err := insertEndpoint(t, s, endpointRow("m1", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := insertEndpoint(t, s, endpointRow("m1", 99)); !errors.Is(err, customerd.ErrTooManyEndpoints) {
		t.Fatalf("endpoint %d of one merchant: %v", customerd.MaxWebhookEndpoints+1, err)
	}
	if err := insertEndpoint(t, s, endpointRow("m2", 99)); err != nil {
		t.Fatalf("another merchant's first endpoint: %v", err)
	}
	if err := write(t, s, func(tx customerd.StoreTx) error { return tx.DeleteWebhookEndpoint(ctx, "m1", endpointRow("m1", 0).ID) }); err != nil {
		t.Fatal(err)
	}
	if err := insertEndpoint(t, s, endpointRow("m1", 99)); err != nil {
		t.Fatalf("an endpoint after one was deleted: %v", err)
	}
}

func testWebhookAttempts(t *testing.T, s customerd.Store) {
	MustMerchant(t, s, "m1")
	MustMerchant(t, s, "m2")
	ep := endpointRow("m1", 1)
	if err := insertEndpoint(t, s, ep); err != nil {
		t.Fatal(err)
	}
	// Five attempts within one second: listed by their exact time.
	var want []customerd.WebhookAttempt
	for i := 1; i <= 5; i++ {
		a := customerd.WebhookAttempt{ID: fmt.Sprintf("wa_%016d", 10-i), MerchantID: "m1", EndpointID: ep.ID,
			EventID: "evt_0000000000000001", Attempt: i, Created: T0.Add(time.Duration(i) * 100 * time.Millisecond),
			StatusCode: 500, Duration: 1500 * time.Millisecond, Error: "status 500", NextRetry: T0.Add(time.Minute)}
		if i == 5 {
			a.StatusCode, a.Error, a.NextRetry, a.Delivered = 200, "", time.Time{}, true
		}
		if i == 3 {
			a.StatusCode, a.Error = 0, "timeout after 10s"
		}
		want = append(want, a)
		if err := write(t, s, func(tx customerd.StoreTx) error { return tx.InsertWebhookAttempt(ctx, a) }); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.LastWebhookAttempt(ctx, "m1", ep.ID, "evt_0000000000000001"); err != nil || n != 5 {
		t.Fatalf("last attempt %d, %v", n, err)
	}
	if n, err := s.LastWebhookAttempt(ctx, "m1", ep.ID, "evt_0000000000000002"); err != nil || n != 0 {
		t.Fatalf("last attempt of an event never tried: %d, %v", n, err)
	}
	got, total, more, err := s.ListWebhookAttempts(ctx, "m1", ep.ID, customerd.Page{Limit: 3})
	if err != nil || total != 5 || !more || len(got) != 3 {
		t.Fatalf("list: %d %v %d, %v", total, more, len(got), err)
	}
	for i, a := range got {
		if !reflect.DeepEqual(a, want[4-i]) {
			t.Fatalf("attempt %d:\n got %+v\nwant %+v", i, a, want[4-i])
		}
	}
	rest, _, more, err := s.ListWebhookAttempts(ctx, "m1", ep.ID, customerd.Page{Limit: 3, StartingAfter: got[2].ID})
	if err != nil || more || len(rest) != 2 || rest[0].Attempt != 2 || rest[1].Attempt != 1 {
		t.Fatalf("second page: %+v %v, %v", rest, more, err)
	}
	if got, total, _, err := s.ListWebhookAttempts(ctx, "m2", ep.ID, customerd.Page{Limit: 3}); err != nil || total != 0 || len(got) != 0 {
		t.Fatalf("another merchant lists %d attempts, %v", total, err)
	}
	// Pruning takes those before the time, of the merchant only.
	var n int
	if err := write(t, s, func(tx customerd.StoreTx) (err error) {
		n, err = tx.DeleteWebhookAttemptsBefore(ctx, "m1", T0.Add(350*time.Millisecond), 2)
		return err
	}); err != nil || n != 2 {
		t.Fatalf("pruned %d, %v; want 2 (the limit)", n, err)
	}
	if err := write(t, s, func(tx customerd.StoreTx) (err error) {
		n, err = tx.DeleteWebhookAttemptsBefore(ctx, "m1", T0.Add(350*time.Millisecond), 10)
		return err
	}); err != nil || n != 1 {
		t.Fatalf("pruned %d, %v; want the third before the time", n, err)
	}
	if _, total, _, _ := s.ListWebhookAttempts(ctx, "m1", ep.ID, customerd.Page{Limit: 3}); total != 2 {
		t.Fatalf("%d attempts left, want 2", total)
	}
}
