package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"customerd"
)

const endpointColumns = `merchant_id, id, url, enabled_events, description, disabled, created, secret`

const attemptColumns = `merchant_id, id, endpoint_id, event_id, attempt, created, status_code, duration_ms,
	error, next_retry, delivered`

func scanEndpoint(r rowScanner) (customerd.SealedEndpoint, error) {
	var e customerd.SealedEndpoint
	var events string
	var created int64
	err := r.Scan(&e.MerchantID, &e.ID, &e.URL, &events, &e.Description, &e.Disabled, &created, &e.Secret)
	if errors.Is(err, sql.ErrNoRows) {
		return e, customerd.ErrNotFound
	}
	e.EnabledEvents = strings.Split(events, ",")
	e.Created = time.UnixMicro(created).UTC().Truncate(time.Second)
	return e, err
}

func scanAttempt(r rowScanner) (customerd.WebhookAttempt, error) {
	var a customerd.WebhookAttempt
	var created, durationMS int64
	var status, next sql.NullInt64
	var errText sql.NullString
	err := r.Scan(&a.MerchantID, &a.ID, &a.EndpointID, &a.EventID, &a.Attempt, &created, &status, &durationMS,
		&errText, &next, &a.Delivered)
	a.Created = time.UnixMicro(created).UTC()
	a.StatusCode = int(status.Int64)
	a.Duration = time.Duration(durationMS) * time.Millisecond
	a.Error = errText.String
	if next.Valid {
		a.NextRetry = time.UnixMicro(next.Int64).UTC()
	}
	return a, err
}

// FindWebhookEndpoint implements customerd.StoreReader.
func (s *Store) FindWebhookEndpoint(ctx context.Context, merchantID, id string) (customerd.SealedEndpoint, error) {
	return scanEndpoint(s.rdb.QueryRowContext(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints
		WHERE merchant_id = ? AND id = ?`, merchantID, id))
}

// ListWebhookEndpoints implements customerd.StoreReader.
func (s *Store) ListWebhookEndpoints(ctx context.Context, merchantID string, page customerd.Page) ([]customerd.SealedEndpoint, int, bool, error) {
	return listPage(ctx, s.rdb, "webhook_endpoints", endpointColumns, "merchant_id = ?", []any{merchantID}, page, scanEndpoint)
}

// ListWebhookAttempts implements customerd.StoreReader.
func (s *Store) ListWebhookAttempts(ctx context.Context, merchantID, endpointID string, page customerd.Page) ([]customerd.WebhookAttempt, int, bool, error) {
	return listPage(ctx, s.rdb, "webhook_attempts", attemptColumns, "merchant_id = ? AND endpoint_id = ?",
		[]any{merchantID, endpointID}, page, scanAttempt)
}

// listPage reads one page of a table whose rows are listed by (created,
// id), with the total of what where selects: the paging of every list
// but the event log's (which is by sequence).
func listPage[T any](ctx context.Context, db *sql.DB, table, columns, where string, args []any, page customerd.Page,
	scan func(rowScanner) (T, error)) ([]T, int, bool, error) {
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true}) // one snapshot for the page and its total
	if err != nil {
		return nil, 0, false, err
	}
	defer tx.Rollback()
	cursorWhere, cursorArgs := where+" AND id = ?", append(args[:len(args):len(args)], page.StartingAfter)
	if !page.CreatedAfter.IsZero() {
		where, args = where+" AND created >= ?", append(args, page.CreatedAfter.UnixMicro())
	}
	if !page.CreatedBefore.IsZero() {
		where, args = where+" AND created < ?", append(args, page.CreatedBefore.UnixMicro())
	}
	var total int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table+` WHERE `+where, args...).Scan(&total); err != nil {
		return nil, 0, false, err
	}
	dir, cmp := "DESC", "<"
	if page.Ascending {
		dir, cmp = "ASC", ">"
	}
	if page.StartingAfter != "" {
		var created int64
		err := tx.QueryRowContext(ctx, `SELECT created FROM `+table+` WHERE `+cursorWhere, cursorArgs...).Scan(&created)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, 0, false, customerd.ErrBadCursor
		}
		if err != nil {
			return nil, 0, false, err
		}
		where += ` AND (created, id) ` + cmp + ` (?, ?)`
		args = append(args, created, page.StartingAfter)
	}
	rows, err := tx.QueryContext(ctx, fmt.Sprintf(`SELECT %s FROM %s WHERE %s ORDER BY created %s, id %s LIMIT %d OFFSET %d`,
		columns, table, where, dir, dir, page.Limit+1, page.Offset), args...)
	items, err := collect(rows, err, scan)
	if err != nil {
		return nil, 0, false, err
	}
	items, more := customerd.CutPage(items, page)
	return items, total, more, nil
}

// LastWebhookAttempt implements customerd.StoreReader.
func (s *Store) LastWebhookAttempt(ctx context.Context, merchantID, endpointID, eventID string) (int, error) {
	var n int
	err := s.rdb.QueryRowContext(ctx, `SELECT COALESCE(MAX(attempt), 0) FROM webhook_attempts
		WHERE merchant_id = ? AND endpoint_id = ? AND event_id = ?`, merchantID, endpointID, eventID).Scan(&n)
	return n, err
}

// InsertWebhookEndpoint implements customerd.StoreTx. The writer holds the
// database's write lock: the count cannot change before the insert.
func (t *txn) InsertWebhookEndpoint(ctx context.Context, e customerd.SealedEndpoint, max int) error {
	var n int
	if err := t.tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM webhook_endpoints WHERE merchant_id = ?`, e.MerchantID).Scan(&n); err != nil {
		return err
	}
	if n >= max {
		return customerd.ErrTooManyEndpoints
	}
	delete(t.targets, e.MerchantID)
	_, err := t.tx.ExecContext(ctx, `INSERT INTO webhook_endpoints (`+endpointColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		e.MerchantID, e.ID, e.URL, strings.Join(e.EnabledEvents, ","), e.Description, e.Disabled, e.Created.UnixMicro(), e.Secret)
	return mapConstraint(err)
}

// LockWebhookEndpoint implements customerd.StoreTx: the writer's
// transaction holds the database's write lock already.
func (t *txn) LockWebhookEndpoint(ctx context.Context, merchantID, id string) (customerd.SealedEndpoint, error) {
	return scanEndpoint(t.tx.QueryRowContext(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints
		WHERE merchant_id = ? AND id = ?`, merchantID, id))
}

// UpdateWebhookEndpoint implements customerd.StoreTx.
func (t *txn) UpdateWebhookEndpoint(ctx context.Context, e customerd.SealedEndpoint) error {
	delete(t.targets, e.MerchantID)
	return t.affectOne(t.tx.ExecContext(ctx, `UPDATE webhook_endpoints SET url = ?, enabled_events = ?, description = ?,
		disabled = ? WHERE merchant_id = ? AND id = ?`,
		e.URL, strings.Join(e.EnabledEvents, ","), e.Description, e.Disabled, e.MerchantID, e.ID))
}

// DeleteWebhookEndpoint implements customerd.StoreTx.
func (t *txn) DeleteWebhookEndpoint(ctx context.Context, merchantID, id string) error {
	delete(t.targets, merchantID)
	if err := t.affectOne(t.tx.ExecContext(ctx, `DELETE FROM webhook_endpoints WHERE merchant_id = ? AND id = ?`,
		merchantID, id)); err != nil {
		return err
	}
	_, err := t.tx.ExecContext(ctx, `DELETE FROM webhook_attempts WHERE merchant_id = ? AND endpoint_id = ?`, merchantID, id)
	return err
}

// WebhookTargets implements customerd.StoreTx. The writer's transaction
// holds the write lock, so the answer stays true for the whole batch: it is
// read once per merchant and batch, and forgotten when an endpoint of the
// merchant is written.
func (t *txn) WebhookTargets(ctx context.Context, merchantID string) ([]customerd.WebhookTarget, error) {
	if targets, ok := t.targets[merchantID]; ok {
		return targets, nil
	}
	rows, err := t.tx.StmtContext(ctx, t.s.webhookTargets).QueryContext(ctx, merchantID)
	targets, err := collect(rows, err, func(r rowScanner) (customerd.WebhookTarget, error) {
		var w customerd.WebhookTarget
		var events string
		err := r.Scan(&w.EndpointID, &events)
		w.EnabledEvents = strings.Split(events, ",")
		return w, err
	})
	if err != nil {
		return nil, err
	}
	t.targets[merchantID] = targets
	return targets, nil
}

// qWebhookTargets reads the enabled endpoints of a merchant.
const qWebhookTargets = `SELECT id, enabled_events FROM webhook_endpoints WHERE merchant_id = ? AND NOT disabled ORDER BY created, id`

// InsertWebhookAttempt implements customerd.StoreTx.
func (t *txn) InsertWebhookAttempt(ctx context.Context, a customerd.WebhookAttempt) error {
	var next any
	if !a.NextRetry.IsZero() {
		next = a.NextRetry.UnixMicro()
	}
	var status any
	if a.StatusCode != 0 {
		status = a.StatusCode
	}
	_, err := t.tx.ExecContext(ctx, `INSERT INTO webhook_attempts (`+attemptColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.MerchantID, a.ID, a.EndpointID, a.EventID, a.Attempt, a.Created.UnixMicro(), status, a.Duration.Milliseconds(),
		nullString(a.Error), next, a.Delivered)
	return mapConstraint(err)
}

// DeleteWebhookAttemptsBefore implements customerd.StoreTx.
func (t *txn) DeleteWebhookAttemptsBefore(ctx context.Context, merchantID string, before time.Time, limit int) (int, error) {
	res, err := t.tx.ExecContext(ctx, `DELETE FROM webhook_attempts WHERE merchant_id = ?1 AND id IN (
		SELECT id FROM webhook_attempts WHERE merchant_id = ?1 AND created < ?2 LIMIT ?3)`,
		merchantID, before.UnixMicro(), limit)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// SQLTx returns the database/sql transaction of the write, for the job
// queue, whose jobs are inserted in the transaction of the change they
// follow. The job queue is the only user; it must not commit or roll back.
func (t *txn) SQLTx() *sql.Tx { return t.tx }

// FlushBatch registers flush under name: the items that the writes of one
// group commit give it (txn.Defer) are handed to it once, in the batch's
// transaction, after every write of the batch ran and before the commit,
// items of writes that failed left out. A flush that fails fails every write
// of the batch. It lets the job queue insert the jobs of a whole batch in one
// statement rather than one per write. Register before the first write.
func (s *Store) FlushBatch(name string, flush func(ctx context.Context, tx *sql.Tx, items []any) error) {
	if s.writer.flushers == nil {
		s.writer.flushers = map[string]func(ctx context.Context, tx *sql.Tx, items []any) error{}
	}
	s.writer.flushers[name] = flush
}

// Defer gives item to the flush registered under name (Store.FlushBatch),
// to be handed over with the batch's other items before the commit; it
// reports false when no such flush is registered.
func (t *txn) Defer(name string, item any) bool {
	if _, ok := t.s.writer.flushers[name]; !ok {
		return false
	}
	t.s.writer.deferred = append(t.s.writer.deferred, deferredItem{flush: name, item: item})
	return true
}
