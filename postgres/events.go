package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"customerd"

	"github.com/jackc/pgx/v5"
)

const eventColumns = `id, merchant_id, COALESCE(sequence, 0), type, customer_id, customer_version, created,
	request_id, api_key_prefix, idempotency_key, kept, key_version, personal`

func scanEvent(r pgx.Row) (customerd.SealedEvent, error) {
	var e customerd.SealedEvent
	var keyVersion int32
	err := r.Scan(&e.ID, &e.MerchantID, &e.Sequence, &e.Type, &e.CustomerID, &e.CustomerVersion, &e.Created,
		&e.RequestID, &e.APIKeyPrefix, &e.IdempotencyKey, &e.Kept, &keyVersion, &e.Personal)
	if errors.Is(err, pgx.ErrNoRows) {
		return e, customerd.ErrNotFound
	}
	e.KeyVersion = uint32(keyVersion)
	e.Created = e.Created.UTC()
	return e, err
}

// FindEvent implements customerd.StoreReader: an event is readable once it
// is numbered.
func (s *Store) FindEvent(ctx context.Context, merchantID, id string) (customerd.SealedEvent, error) {
	if !storable(merchantID, id) {
		return customerd.SealedEvent{}, customerd.ErrNotFound
	}
	return queryRow(s, ctx, scanEvent, `SELECT `+eventColumns+` FROM events
		WHERE merchant_id = $1 AND id = $2 AND sequence IS NOT NULL`, merchantID, id)
}

// ListEvents implements customerd.StoreReader. The page and its total are
// read in one REPEATABLE READ transaction, so that they agree.
func (s *Store) ListEvents(ctx context.Context, merchantID string, q customerd.EventQuery) ([]customerd.SealedEvent, int, bool, error) {
	if !storable(merchantID, q.Type, q.CustomerID, q.StartingAfter) {
		if q.StartingAfter != "" {
			return nil, 0, false, customerd.ErrBadCursor
		}
		return nil, 0, false, nil
	}
	var events []customerd.SealedEvent
	var total int
	err := s.read(ctx, func(ctx context.Context) error {
		return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
			where, args := eventFilter(merchantID, q)
			if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM events WHERE `+where, args...).Scan(&total); err != nil {
				return err
			}
			dir, cmp := "DESC", "<"
			if q.Ascending {
				dir, cmp = "ASC", ">"
			}
			if q.StartingAfter != "" {
				var after int64
				err := tx.QueryRow(ctx, `SELECT sequence FROM events WHERE merchant_id = $1 AND id = $2 AND sequence IS NOT NULL`,
					merchantID, q.StartingAfter).Scan(&after)
				if errors.Is(err, pgx.ErrNoRows) {
					return customerd.ErrBadCursor
				}
				if err != nil {
					return err
				}
				args = append(args, after)
				where += fmt.Sprintf(` AND sequence %s $%d`, cmp, len(args))
			}
			rows, err := tx.Query(ctx, fmt.Sprintf(`SELECT %s FROM events WHERE %s ORDER BY sequence %s LIMIT %d OFFSET %d`,
				eventColumns, where, dir, q.Limit+1, q.Offset), args...)
			events, err = collect(rows, err, scanEvent)
			return err
		})
	})
	if err != nil {
		return nil, 0, false, err
	}
	events, more := customerd.CutPage(events, q.Page)
	return events, total, more, nil
}

// eventFilter is the WHERE clause, and its arguments, of the numbered
// events q selects, paging aside.
func eventFilter(merchantID string, q customerd.EventQuery) (string, []any) {
	where := []string{"merchant_id = $1", "sequence IS NOT NULL"}
	args := []any{merchantID}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if q.Type != "" {
		add("type = $%d", q.Type)
	}
	if q.CustomerID != "" {
		add("customer_id = $%d", q.CustomerID)
	}
	if !q.CreatedAfter.IsZero() {
		add("created >= $%d", q.CreatedAfter)
	}
	if !q.CreatedBefore.IsZero() {
		add("created < $%d", q.CreatedBefore)
	}
	return strings.Join(where, " AND "), args
}

// MerchantsWithUnnumberedEvents implements customerd.StoreReader, on the
// partial index of unnumbered events.
func (s *Store) MerchantsWithUnnumberedEvents(ctx context.Context) ([]string, error) {
	return queryRows(s, ctx, scanOne[string], `SELECT DISTINCT merchant_id FROM events WHERE sequence IS NULL`)
}

// NumberEvents implements customerd.StoreTx. The merchant's counter row is
// locked for the transaction, so one transaction at a time numbers its
// events, and the numbers continue the counter. Every unnumbered event that
// this transaction's snapshot shows has committed; one that commits later
// is numbered by a later call, after these. Each customer's events keep the
// order of its versions: an update is made from the customer as the
// previous event left it, so the previous event has committed first.
//
// Under the same lock it folds the merchant's committed customer-count
// changes into its count (see customer_counts in the schema): every change
// that moves the count appends an event, so the changes are folded as their
// events are numbered, and a list's total reads only the few left.
func (t txn) NumberEvents(ctx context.Context, merchantID string, limit int, wait bool) (int, error) {
	lock := `SELECT last_sequence FROM event_counters WHERE merchant_id = $1 FOR UPDATE SKIP LOCKED`
	if wait {
		lock = `SELECT last_sequence FROM event_counters WHERE merchant_id = $1 FOR UPDATE`
	}
	var last int64
	err := t.tx.QueryRow(ctx, lock, merchantID).Scan(&last)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil // another transaction holds it, and numbers them
	}
	if err != nil {
		return 0, mapError(err)
	}
	if _, err := t.exec(ctx, `WITH d AS (DELETE FROM customer_count_changes WHERE merchant_id = $1 RETURNING delta)
		UPDATE customer_counts SET live = live + (SELECT SUM(delta) FROM d)
		WHERE merchant_id = $1 AND EXISTS (SELECT 1 FROM d)`, merchantID); err != nil {
		return 0, err
	}
	type pending struct {
		id, customer string
		version      int64
	}
	rows, err := t.tx.Query(ctx, `SELECT id, customer_id, customer_version FROM events
		WHERE merchant_id = $1 AND sequence IS NULL ORDER BY inserted_at, id LIMIT $2`, merchantID, limit)
	batch, err := collect(rows, err, func(r pgx.Row) (pending, error) {
		var p pending
		err := r.Scan(&p.id, &p.customer, &p.version)
		return p, err
	})
	if err != nil || len(batch) == 0 {
		return 0, mapError(err)
	}
	// In insertion order, but each customer's events in version order in
	// the places its events hold (a clock step could swap two).
	slots := map[string][]int{}
	for i, p := range batch {
		slots[p.customer] = append(slots[p.customer], i)
	}
	ordered := make([]pending, len(batch))
	for _, idx := range slots {
		mine := make([]pending, len(idx))
		for j, i := range idx {
			mine[j] = batch[i]
		}
		slices.SortFunc(mine, func(a, b pending) int { return cmp.Compare(a.version, b.version) })
		for j, i := range idx {
			ordered[i] = mine[j]
		}
	}
	ids := make([]string, len(ordered))
	seqs := make([]int64, len(ordered))
	for i, p := range ordered {
		ids[i], seqs[i] = p.id, last+int64(i)+1
	}
	if _, err := t.exec(ctx, `UPDATE events SET sequence = v.seq FROM unnest($2::text[], $3::bigint[]) AS v(id, seq)
		WHERE events.merchant_id = $1 AND events.id = v.id`, merchantID, ids, seqs); err != nil {
		return 0, err
	}
	if _, err := t.exec(ctx, `UPDATE event_counters SET last_sequence = $2 WHERE merchant_id = $1`,
		merchantID, last+int64(len(ordered))); err != nil {
		return 0, err
	}
	return len(ordered), nil
}

// DeleteEventsBefore implements customerd.StoreTx: of the merchant's oldest
// numbered events, those created before t.
func (t txn) DeleteEventsBefore(ctx context.Context, merchantID string, before time.Time, limit int) (int, error) {
	tag, err := t.exec(ctx, `DELETE FROM events WHERE merchant_id = $1 AND id IN (
		SELECT id FROM events WHERE merchant_id = $1 AND sequence IS NOT NULL ORDER BY sequence LIMIT $3) AND created < $2`,
		merchantID, before.UTC(), limit)
	return int(tag.RowsAffected()), err
}

// EventsToReencrypt implements customerd.StoreTx.
func (t txn) EventsToReencrypt(ctx context.Context, merchantID string, below uint32, limit int) ([]customerd.SealedEvent, error) {
	rows, err := t.tx.Query(ctx, `SELECT `+eventColumns+` FROM events
		WHERE merchant_id = $1 AND key_version < $2 AND personal IS NOT NULL ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED`,
		merchantID, int32(below), limit)
	out, err := collect(rows, err, scanEvent)
	return out, mapError(err)
}

// ReplaceEventPersonal implements customerd.StoreTx.
func (t txn) ReplaceEventPersonal(ctx context.Context, e customerd.SealedEvent) error {
	return t.execOne(ctx, `UPDATE events SET key_version = $3, personal = $4 WHERE merchant_id = $1 AND id = $2`,
		e.MerchantID, e.ID, int32(e.KeyVersion), e.Personal)
}

// TakeLease implements customerd.StoreTx.
func (t txn) TakeLease(ctx context.Context, name, holder string, now, until time.Time) (bool, error) {
	tag, err := t.exec(ctx, `INSERT INTO leases (name, holder, expires) VALUES ($1, $2, $4)
		ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires = EXCLUDED.expires
		WHERE leases.expires <= $3 OR leases.holder = EXCLUDED.holder`, name, holder, now.UTC(), until.UTC())
	return tag.RowsAffected() == 1, err
}

// PurgeFreed implements customerd.Store: PostgreSQL's dead row versions
// are VACUUM's to reclaim, and its WAL is the server's to recycle.
func (s *Store) PurgeFreed(context.Context) error { return nil }
