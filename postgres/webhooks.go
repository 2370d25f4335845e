package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"customerd"

	"github.com/jackc/pgx/v5"
)

const endpointColumns = `merchant_id, id, url, enabled_events, description, disabled, created, secret`

const attemptColumns = `merchant_id, id, endpoint_id, event_id, attempt, created, status_code, duration_ms,
	error, next_retry, delivered`

func scanEndpoint(r pgx.Row) (customerd.SealedEndpoint, error) {
	var e customerd.SealedEndpoint
	var events string
	err := r.Scan(&e.MerchantID, &e.ID, &e.URL, &events, &e.Description, &e.Disabled, &e.Created, &e.Secret)
	if errors.Is(err, pgx.ErrNoRows) {
		return e, customerd.ErrNotFound
	}
	e.EnabledEvents = strings.Split(events, ",")
	e.Created = e.Created.UTC().Truncate(time.Second)
	return e, err
}

func scanAttempt(r pgx.Row) (customerd.WebhookAttempt, error) {
	var a customerd.WebhookAttempt
	var status *int32
	var durationMS int64
	var errText *string
	var next *time.Time
	err := r.Scan(&a.MerchantID, &a.ID, &a.EndpointID, &a.EventID, &a.Attempt, &a.Created, &status, &durationMS,
		&errText, &next, &a.Delivered)
	a.Created = a.Created.UTC()
	if status != nil {
		a.StatusCode = int(*status)
	}
	a.Duration = time.Duration(durationMS) * time.Millisecond
	if errText != nil {
		a.Error = *errText
	}
	if next != nil {
		a.NextRetry = next.UTC()
	}
	return a, err
}

// FindWebhookEndpoint implements customerd.StoreReader.
func (s *Store) FindWebhookEndpoint(ctx context.Context, merchantID, id string) (customerd.SealedEndpoint, error) {
	if !storable(merchantID, id) {
		return customerd.SealedEndpoint{}, customerd.ErrNotFound
	}
	return queryRow(s, ctx, scanEndpoint, `SELECT `+endpointColumns+` FROM webhook_endpoints
		WHERE merchant_id = $1 AND id = $2`, merchantID, id)
}

// ListWebhookEndpoints implements customerd.StoreReader.
func (s *Store) ListWebhookEndpoints(ctx context.Context, merchantID string, page customerd.Page) ([]customerd.SealedEndpoint, int, bool, error) {
	return listPage(s, ctx, "webhook_endpoints", endpointColumns, []string{"merchant_id"}, []any{merchantID}, page, scanEndpoint)
}

// ListWebhookAttempts implements customerd.StoreReader.
func (s *Store) ListWebhookAttempts(ctx context.Context, merchantID, endpointID string, page customerd.Page) ([]customerd.WebhookAttempt, int, bool, error) {
	return listPage(s, ctx, "webhook_attempts", attemptColumns, []string{"merchant_id", "endpoint_id"},
		[]any{merchantID, endpointID}, page, scanAttempt)
}

// listPage reads one page of a table whose rows are listed by (created,
// id), with the total of the rows whose columns equal values, in one
// REPEATABLE READ transaction so that they agree: the paging of every list
// but the event log's (which is by sequence).
func listPage[T any](s *Store, ctx context.Context, table, columns string, keys []string, values []any, page customerd.Page,
	scan func(pgx.Row) (T, error)) ([]T, int, bool, error) {
	for _, v := range values {
		if !storable(v.(string)) {
			return nil, 0, false, nil
		}
	}
	if !storable(page.StartingAfter) {
		return nil, 0, false, customerd.ErrBadCursor
	}
	var conds []string
	for i, k := range keys {
		conds = append(conds, fmt.Sprintf("%s = $%d", k, i+1))
	}
	base := strings.Join(conds, " AND ")
	where, args := base, append([]any(nil), values...)
	add := func(cond string, v any) {
		args = append(args, v)
		where += fmt.Sprintf(cond, len(args))
	}
	if !page.CreatedAfter.IsZero() {
		add(" AND created >= $%d", page.CreatedAfter)
	}
	if !page.CreatedBefore.IsZero() {
		add(" AND created < $%d", page.CreatedBefore)
	}
	var items []T
	var total int
	err := s.read(ctx, func(ctx context.Context) error {
		return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
			if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM `+table+` WHERE `+where, args...).Scan(&total); err != nil {
				return err
			}
			w, a := where, args
			dir, cmp := "DESC", "<"
			if page.Ascending {
				dir, cmp = "ASC", ">"
			}
			if page.StartingAfter != "" {
				var created time.Time
				err := tx.QueryRow(ctx, fmt.Sprintf(`SELECT created FROM %s WHERE %s AND id = $%d`, table, base, len(values)+1),
					append(append([]any(nil), values...), page.StartingAfter)...).Scan(&created)
				if errors.Is(err, pgx.ErrNoRows) {
					return customerd.ErrBadCursor
				}
				if err != nil {
					return err
				}
				a = append(append([]any(nil), args...), created, page.StartingAfter)
				w += fmt.Sprintf(` AND (created, id) %s ($%d, $%d)`, cmp, len(a)-1, len(a))
			}
			rows, err := tx.Query(ctx, fmt.Sprintf(`SELECT %s FROM %s WHERE %s ORDER BY created %s, id %s LIMIT %d OFFSET %d`,
				columns, table, w, dir, dir, page.Limit+1, page.Offset), a...)
			items, err = collect(rows, err, scan)
			return err
		})
	})
	if err != nil {
		return nil, 0, false, err
	}
	items, more := customerd.CutPage(items, page)
	return items, total, more, nil
}

// LastWebhookAttempt implements customerd.StoreReader.
func (s *Store) LastWebhookAttempt(ctx context.Context, merchantID, endpointID, eventID string) (int, error) {
	if !storable(merchantID, endpointID, eventID) {
		return 0, nil
	}
	return queryRow(s, ctx, scanOne[int], `SELECT COALESCE(MAX(attempt), 0)::int FROM webhook_attempts
		WHERE merchant_id = $1 AND endpoint_id = $2 AND event_id = $3`, merchantID, endpointID, eventID)
}

// InsertWebhookEndpoint implements customerd.StoreTx. The merchant's row is
// locked first, so that two nodes creating endpoints at once count each
// other's.
func (t txn) InsertWebhookEndpoint(ctx context.Context, e customerd.SealedEndpoint, max int) error {
	var n int
	err := t.tx.QueryRow(ctx, `SELECT (SELECT COUNT(*) FROM webhook_endpoints WHERE merchant_id = m.id)::int
		FROM merchants m WHERE m.id = $1 FOR UPDATE`, e.MerchantID).Scan(&n)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return customerd.ErrNotFound
	case err != nil:
		return mapError(err)
	case n >= max:
		return customerd.ErrTooManyEndpoints
	}
	_, err = t.exec(ctx, `INSERT INTO webhook_endpoints (`+endpointColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		e.MerchantID, e.ID, e.URL, strings.Join(e.EnabledEvents, ","), e.Description, e.Disabled, e.Created.UTC(), e.Secret)
	return err
}

// LockWebhookEndpoint implements customerd.StoreTx.
func (t txn) LockWebhookEndpoint(ctx context.Context, merchantID, id string) (customerd.SealedEndpoint, error) {
	if !storable(merchantID, id) {
		return customerd.SealedEndpoint{}, customerd.ErrNotFound
	}
	e, err := scanEndpoint(t.tx.QueryRow(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints
		WHERE merchant_id = $1 AND id = $2 FOR UPDATE`, merchantID, id))
	return e, mapError(err)
}

// UpdateWebhookEndpoint implements customerd.StoreTx.
func (t txn) UpdateWebhookEndpoint(ctx context.Context, e customerd.SealedEndpoint) error {
	return t.execOne(ctx, `UPDATE webhook_endpoints SET url = $3, enabled_events = $4, description = $5, disabled = $6
		WHERE merchant_id = $1 AND id = $2`,
		e.MerchantID, e.ID, e.URL, strings.Join(e.EnabledEvents, ","), e.Description, e.Disabled)
}

// DeleteWebhookEndpoint implements customerd.StoreTx.
func (t txn) DeleteWebhookEndpoint(ctx context.Context, merchantID, id string) error {
	if err := t.execOne(ctx, `DELETE FROM webhook_endpoints WHERE merchant_id = $1 AND id = $2`, merchantID, id); err != nil {
		return err
	}
	_, err := t.exec(ctx, `DELETE FROM webhook_attempts WHERE merchant_id = $1 AND endpoint_id = $2`, merchantID, id)
	return err
}

// WebhookTargets implements customerd.StoreTx.
func (t txn) WebhookTargets(ctx context.Context, merchantID string) ([]customerd.WebhookTarget, error) {
	rows, err := t.tx.Query(ctx, `SELECT id, enabled_events FROM webhook_endpoints WHERE merchant_id = $1 AND NOT disabled
		ORDER BY created, id`, merchantID)
	out, err := collect(rows, err, func(r pgx.Row) (customerd.WebhookTarget, error) {
		var w customerd.WebhookTarget
		var events string
		err := r.Scan(&w.EndpointID, &events)
		w.EnabledEvents = strings.Split(events, ",")
		return w, err
	})
	return out, mapError(err)
}

// InsertWebhookAttempt implements customerd.StoreTx.
func (t txn) InsertWebhookAttempt(ctx context.Context, a customerd.WebhookAttempt) error {
	var next *time.Time
	if !a.NextRetry.IsZero() {
		n := a.NextRetry.UTC()
		next = &n
	}
	var status *int32
	if a.StatusCode != 0 {
		s := int32(a.StatusCode)
		status = &s
	}
	var errText *string
	if a.Error != "" {
		errText = &a.Error
	}
	_, err := t.exec(ctx, `INSERT INTO webhook_attempts (`+attemptColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		a.MerchantID, a.ID, a.EndpointID, a.EventID, int32(a.Attempt), a.Created.UTC(), status, a.Duration.Milliseconds(),
		errText, next, a.Delivered)
	return err
}

// DeleteWebhookAttemptsBefore implements customerd.StoreTx.
func (t txn) DeleteWebhookAttemptsBefore(ctx context.Context, merchantID string, before time.Time, limit int) (int, error) {
	tag, err := t.exec(ctx, `DELETE FROM webhook_attempts WHERE merchant_id = $1 AND id IN (
		SELECT id FROM webhook_attempts WHERE merchant_id = $1 AND created < $2 LIMIT $3)`, merchantID, before.UTC(), limit)
	return int(tag.RowsAffected()), err
}

// PgxTx returns the pgx transaction of the write, for the job queue, whose
// jobs are inserted in the transaction of the change they follow. The job
// queue is the only user; it must not commit or roll back.
func (t txn) PgxTx() pgx.Tx { return t.tx }
