package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"customerd"
)

const eventColumns = `id, merchant_id, sequence, type, customer_id, customer_version, created,
	request_id, api_key_prefix, idempotency_key, kept, key_version, personal`

// insertEventSQL numbers the event as it inserts it: the writer is the only
// one, so one more than the merchant's highest number is the next without a
// gap, and a write rolled back takes its number with it.
const insertEventSQL = `INSERT INTO events (` + eventColumns + `) VALUES (?1,
	?2, (SELECT COALESCE(MAX(sequence), 0) + 1 FROM events WHERE merchant_id = ?2),
	?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)`

// insertEvent appends ev in the write transaction, on the writer's raw
// statement when it has one.
func (t *txn) insertEvent(ctx context.Context, ev *customerd.SealedEvent) error {
	if raw := t.s.writer.raw; raw != nil {
		st := raw.Stmt(rawStoreQueries + rawInsertEventSQL)
		defer st.Reset()
		for _, err := range [...]error{
			st.BindText(1, ev.ID), st.BindText(2, ev.MerchantID), st.BindText(3, ev.Type), st.BindText(4, ev.CustomerID),
			st.BindInt64(5, ev.CustomerVersion), st.BindInt64(6, ev.Created.Unix()), st.BindText(7, ev.RequestID),
			st.BindText(8, ev.APIKeyPrefix), st.BindText(9, ev.IdempotencyKey), st.BindBlob(10, ev.Kept),
			st.BindInt64(11, int64(ev.KeyVersion)), st.BindBlobOrNull(12, ev.Personal),
		} {
			if err != nil {
				return err
			}
		}
		return mapConstraint(st.Exec(ctx))
	}
	_, err := t.tx.StmtContext(ctx, t.s.insertEvent).ExecContext(ctx, ev.ID, ev.MerchantID, ev.Type, ev.CustomerID,
		ev.CustomerVersion, ev.Created.Unix(), ev.RequestID, ev.APIKeyPrefix, ev.IdempotencyKey, ev.Kept,
		ev.KeyVersion, nullable(ev.Personal))
	return mapConstraint(err)
}

func scanEvent(r rowScanner) (customerd.SealedEvent, error) {
	var e customerd.SealedEvent
	var created int64
	err := r.Scan(&e.ID, &e.MerchantID, &e.Sequence, &e.Type, &e.CustomerID, &e.CustomerVersion, &created,
		&e.RequestID, &e.APIKeyPrefix, &e.IdempotencyKey, &e.Kept, &e.KeyVersion, &e.Personal)
	if errors.Is(err, sql.ErrNoRows) {
		return e, customerd.ErrNotFound
	}
	e.Created = time.Unix(created, 0).UTC()
	return e, err
}

// FindEvent implements customerd.StoreReader.
func (s *Store) FindEvent(ctx context.Context, merchantID, id string) (customerd.SealedEvent, error) {
	if s.fast != nil {
		return s.findEventFast(ctx, merchantID, id)
	}
	return scanEvent(s.rdb.QueryRowContext(ctx, qEventByID, id, merchantID))
}

// qEventByID reads one event of a merchant.
const qEventByID = `SELECT ` + eventColumns + ` FROM events WHERE id = ? AND merchant_id = ?`

// ListEvents implements customerd.StoreReader. The count is an index scan
// of what the filters select.
func (s *Store) ListEvents(ctx context.Context, merchantID string, q customerd.EventQuery) ([]customerd.SealedEvent, int, bool, error) {
	if s.fast != nil {
		return s.listEventsFast(ctx, merchantID, q)
	}
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true}) // one snapshot for the page and its total
	if err != nil {
		return nil, 0, false, err
	}
	defer tx.Rollback()
	where, args := eventFilter(merchantID, q)
	var total int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM events WHERE `+where, args...).Scan(&total); err != nil {
		return nil, 0, false, err
	}
	dir, cmp := "DESC", "<"
	if q.Ascending {
		dir, cmp = "ASC", ">"
	}
	if q.StartingAfter != "" {
		var after int64
		err := tx.QueryRowContext(ctx, `SELECT sequence FROM events WHERE id = ? AND merchant_id = ?`, q.StartingAfter, merchantID).Scan(&after)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, 0, false, customerd.ErrBadCursor
		}
		if err != nil {
			return nil, 0, false, err
		}
		where += ` AND sequence ` + cmp + ` ?`
		args = append(args, after)
	}
	rows, err := tx.QueryContext(ctx, fmt.Sprintf(`SELECT %s FROM events WHERE %s ORDER BY sequence %s LIMIT %d OFFSET %d`,
		eventColumns, where, dir, q.Limit+1, q.Offset), args...)
	events, err := collect(rows, err, scanEvent)
	if err != nil {
		return nil, 0, false, err
	}
	events, more := customerd.CutPage(events, q.Page)
	return events, total, more, nil
}

// listEventsFast is ListEvents on a connection of the fast read pool, its
// statements prepared there once (limit and offset are bound, so their
// shapes are bounded), in one snapshot. The total is counted only when the
// page does not tell it (see Page.TotalOf).
func (s *Store) listEventsFast(ctx context.Context, merchantID string, q customerd.EventQuery) ([]customerd.SealedEvent, int, bool, error) {
	conn, err := s.fast.Acquire(ctx)
	if err != nil {
		return nil, 0, false, err
	}
	defer s.fast.Release(conn) // which resets the statements
	where, args := eventFilter(merchantID, q)
	events := make([]customerd.SealedEvent, 0, q.Limit+1)
	var total int
	err = conn.Snapshot(ctx, func() error {
		page, pageArgs := where, args
		dir, cmp := "DESC", "<"
		if q.Ascending {
			dir, cmp = "ASC", ">"
		}
		if q.StartingAfter != "" {
			st, row, err := runRaw(ctx, conn, `SELECT sequence FROM events WHERE id = ? AND merchant_id = ?`, q.StartingAfter, merchantID)
			if err != nil {
				return err
			}
			if !row {
				return customerd.ErrBadCursor
			}
			page += ` AND sequence ` + cmp + ` ?`
			pageArgs = append(slices.Clip(pageArgs), st.Int64(0))
		}
		pageArgs = append(slices.Clip(pageArgs), int64(q.Limit+1), int64(q.Offset))
		st, row, err := runRaw(ctx, conn, `SELECT `+eventColumns+` FROM events WHERE `+page+` ORDER BY sequence `+dir+
			` LIMIT ? OFFSET ?`, pageArgs...)
		for ; err == nil && row; row, err = st.Run(ctx) {
			events = append(events, readEvent(st, merchantID, ""))
		}
		if err != nil {
			return err
		}
		var known bool
		if total, known = q.TotalOf(min(len(events), q.Limit), len(events) > q.Limit); known {
			return nil
		}
		if st, row, err = runRaw(ctx, conn, `SELECT COUNT(*) FROM events WHERE `+where, args...); err == nil && row {
			total = int(st.Int64(0))
		}
		return err
	})
	if err != nil {
		return nil, 0, false, err
	}
	events, more := customerd.CutPage(events, q.Page)
	return events, total, more, nil
}

// eventFilter is the WHERE clause, and its arguments, of the events q
// selects, paging aside.
func eventFilter(merchantID string, q customerd.EventQuery) (string, []any) {
	where := []string{"merchant_id = ?"}
	args := []any{merchantID}
	if q.Type != "" {
		where, args = append(where, "type = ?"), append(args, q.Type)
	}
	if q.CustomerID != "" {
		where, args = append(where, "customer_id = ?"), append(args, q.CustomerID)
	}
	if !q.CreatedAfter.IsZero() {
		where, args = append(where, "created >= ?"), append(args, q.CreatedAfter.Unix())
	}
	if !q.CreatedBefore.IsZero() {
		where, args = append(where, "created < ?"), append(args, q.CreatedBefore.Unix())
	}
	return strings.Join(where, " AND "), args
}

// MerchantsWithUnnumberedEvents implements customerd.StoreReader: SQLite
// numbers every event as it inserts it.
func (s *Store) MerchantsWithUnnumberedEvents(context.Context) ([]string, error) { return nil, nil }

// NumberEvents implements customerd.StoreTx: there is never anything to
// number.
func (t *txn) NumberEvents(context.Context, string, int, bool) (int, error) { return 0, nil }

// DeleteEventsBefore implements customerd.StoreTx. It looks at the
// merchant's oldest events, by number, and deletes those of them created
// before t.
func (t *txn) DeleteEventsBefore(ctx context.Context, merchantID string, before time.Time, limit int) (int, error) {
	res, err := t.tx.ExecContext(ctx, `DELETE FROM events WHERE merchant_id = ?1 AND id IN (
		SELECT id FROM events WHERE merchant_id = ?1 ORDER BY sequence LIMIT ?3) AND created < ?2`,
		merchantID, before.Unix(), limit)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// EventsToReencrypt implements customerd.StoreTx.
func (t *txn) EventsToReencrypt(ctx context.Context, merchantID string, below uint32, limit int) ([]customerd.SealedEvent, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT `+eventColumns+` FROM events
		WHERE merchant_id = ? AND key_version < ? AND personal IS NOT NULL LIMIT ?`, merchantID, below, limit)
	return collect(rows, err, scanEvent)
}

// ReplaceEventPersonal implements customerd.StoreTx.
func (t *txn) ReplaceEventPersonal(ctx context.Context, e customerd.SealedEvent) error {
	return t.affectOne(t.tx.ExecContext(ctx, `UPDATE events SET key_version = ?, personal = ? WHERE merchant_id = ? AND id = ?`,
		e.KeyVersion, nullable(e.Personal), e.MerchantID, e.ID))
}

// TakeLease implements customerd.StoreTx.
func (t *txn) TakeLease(ctx context.Context, name, holder string, now, until time.Time) (bool, error) {
	res, err := t.tx.ExecContext(ctx, `INSERT INTO leases (name, holder, expires) VALUES (?1, ?2, ?4)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires = excluded.expires
		WHERE leases.expires <= ?3 OR leases.holder = excluded.holder`, name, holder, now.UnixNano(), until.UnixNano())
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// PurgeFreed tries a truncating checkpoint up to purgeAttempts times, each
// waiting at most purgeWait for readers while it holds the write lock, with
// the writer free to commit between attempts.
const (
	purgeAttempts = 20
	purgeWait     = 50 // milliseconds
)

// PurgeFreed implements customerd.Store: a TRUNCATE checkpoint copies every
// frame of the WAL into the database file and empties the WAL, so that no
// older copy of a page (an erased customer's, say) is left in it. It needs
// every reader to have let go of the WAL, so it tries again while one holds
// an old snapshot, and gives up after about a second.
func (s *Store) PurgeFreed(ctx context.Context) error {
	for attempt := 1; ; attempt++ {
		done, err := s.checkpointTruncate(ctx)
		if err != nil || done {
			return err
		}
		if attempt == purgeAttempts {
			return errors.New("sqlite: the WAL could not be emptied: readers kept it busy; the next erasure tries again")
		}
		t := time.NewTimer(10 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// checkpointTruncate runs one TRUNCATE checkpoint on the writer's
// connection, with a short busy timeout, and reports whether it completed.
func (s *Store) checkpointTruncate(ctx context.Context) (bool, error) {
	conn, err := s.wdb.Conn(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA busy_timeout = %d", purgeWait)); err != nil {
		return false, err
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA busy_timeout = 10000") // as the DSN sets it
	var busy, frames, done int
	if err := conn.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &frames, &done); err != nil {
		return false, err
	}
	return busy == 0, nil
}
