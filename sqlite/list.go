package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"customerd"
	"customerd/sqlite/internal/rawsqlite"
)

// ListCustomers implements customerd.StoreReader. A page is a range of one
// index, in the list's order: customers_listed without a filter, else the
// index of a filter's blind index (the reference's unique one,
// customers_by_mobile, customers_by_email), and a cursor is a position in
// it. The total is the page's own length when the page ends the list;
// otherwise, without a filter it is the merchant's row of customer_counts,
// and with one a count of the filter's index range, which reads the index
// alone: a few entries for an exact-match filter, and for a created range
// alone as many as the range holds. The cursor's position, the page and the
// total are read from one snapshot, on the fast read pool when there is one.
func (s *Store) ListCustomers(ctx context.Context, merchantID string, q customerd.CustomerQuery) ([]customerd.SealedCustomer, int, bool, error) {
	l := newCustomerList(merchantID, q)
	var customers []customerd.SealedCustomer
	var total int
	var err error
	if s.fast != nil {
		customers, total, err = s.listFast(ctx, l)
	} else {
		customers, total, err = s.listSQL(ctx, l)
	}
	if err != nil {
		return nil, 0, false, err
	}
	customers, more := customerd.CutPage(customers, q.Page)
	if t, ok := q.TotalOf(len(customers), more); ok {
		total = t
	}
	return customers, total, more, nil
}

// customerList is one ListCustomers call: its statements, which take one
// of a bounded set of shapes (which filters are set, the order, whether
// there is a cursor), each built once and prepared once per connection, and
// their arguments.
type customerList struct {
	q          customerd.CustomerQuery
	merchantID string
	*listSQL
	whereArgs []any // of listSQL.where, and of total when it counts
}

// listSQL is the SQL of one shape of list.
type listSQL struct {
	where string // the customers a list selects, paging aside
	page  string // the page: where's arguments, the cursor's position, LIMIT and OFFSET
	total string // how many match: a count with where's arguments, or the merchant's counter
	count bool   // total is a count
}

// The bits of a list's shape.
const (
	shapeRef = 1 << iota
	shapeMobile
	shapeEmail
	shapeAfter
	shapeBefore
	shapeCursor
	shapeAscending
	shapes
)

var listShapes [shapes]atomic.Pointer[listSQL]

// qCursor reads where a cursor is in a list; erased customers keep their
// place, so a tombstone is a cursor too.
const qCursor = `SELECT date_created FROM customers WHERE id = ? AND merchant_id = ?`

func newCustomerList(merchantID string, q customerd.CustomerQuery) *customerList {
	l := &customerList{q: q, merchantID: merchantID, whereArgs: []any{merchantID}}
	shape := 0
	for _, f := range [...]struct {
		bit   int
		index []byte
	}{{shapeRef, q.RefIndex}, {shapeMobile, q.MobileIndex}, {shapeEmail, q.EmailIndex}} {
		if f.index != nil {
			shape |= f.bit
			l.whereArgs = append(l.whereArgs, f.index)
		}
	}
	if !q.CreatedAfter.IsZero() {
		shape |= shapeAfter
		l.whereArgs = append(l.whereArgs, q.CreatedAfter.Unix())
	}
	if !q.CreatedBefore.IsZero() {
		shape |= shapeBefore
		l.whereArgs = append(l.whereArgs, q.CreatedBefore.Unix())
	}
	if q.StartingAfter != "" {
		shape |= shapeCursor
	}
	if q.Ascending {
		shape |= shapeAscending
	}
	if l.listSQL = listShapes[shape].Load(); l.listSQL == nil {
		l.listSQL = buildListSQL(shape)
		listShapes[shape].Store(l.listSQL)
	}
	return l
}

// pageArgs are the arguments of the page, after a cursor at created.
func (l *customerList) pageArgs(created int64) []any {
	out := append(make([]any, 0, len(l.whereArgs)+4), l.whereArgs...)
	if l.q.StartingAfter != "" {
		out = append(out, created, l.q.StartingAfter)
	}
	return append(out, int64(l.q.Limit+1), int64(l.q.Offset))
}

// totalArgs are the arguments of the total.
func (l *customerList) totalArgs() []any {
	if l.count {
		return l.whereArgs
	}
	return l.whereArgs[:1]
}

func buildListSQL(shape int) *listSQL {
	where := []string{"merchant_id = ?"}
	for _, f := range [...]struct {
		bit    int
		column string
	}{{shapeRef, "ref_index"}, {shapeMobile, "mobile_index"}, {shapeEmail, "email_index"}} {
		if shape&f.bit != 0 {
			where = append(where, f.column+" = ?")
		}
	}
	if len(where) == 1 {
		// A tombstone's blind indexes are NULL, so that a filter never
		// matches one (and its count reads the filter's index alone).
		where = append(where, "erased_at IS NULL")
	}
	if shape&shapeAfter != 0 {
		where = append(where, "date_created >= ?")
	}
	if shape&shapeBefore != 0 {
		where = append(where, "date_created < ?")
	}
	l := &listSQL{where: strings.Join(where, " AND ")}
	dir, cmp := "DESC", "<"
	if shape&shapeAscending != 0 {
		dir, cmp = "ASC", ">"
	}
	page := l.where
	if shape&shapeCursor != 0 {
		page += ` AND (date_created, id) ` + cmp + ` (?, ?)`
	}
	l.page = fmt.Sprintf(`SELECT %s FROM customers WHERE %s ORDER BY date_created %s, id %s LIMIT ? OFFSET ?`,
		customerColumns, page, dir, dir)
	if l.count = shape&^(shapeCursor|shapeAscending) != 0; l.count {
		l.total = `SELECT COUNT(*) FROM customers WHERE ` + l.where
	} else {
		l.total = `SELECT COALESCE((SELECT live FROM customer_counts WHERE merchant_id = ?), 0)`
	}
	return l
}

// needsTotal reports whether a page of n rows (Limit+1 when another page
// follows) leaves the total to count.
func (l *customerList) needsTotal(n int) bool {
	_, ok := l.q.TotalOf(min(n, l.q.Limit), n > l.q.Limit)
	return !ok
}

// listFast runs l on a connection of the fast read pool, its statements
// prepared there once, in one read transaction. It returns up to Limit+1
// customers, and the total unless the page tells it (see Page.TotalOf).
func (s *Store) listFast(ctx context.Context, l *customerList) ([]customerd.SealedCustomer, int, error) {
	conn, err := s.fast.Acquire(ctx)
	if err != nil {
		return nil, 0, err
	}
	defer s.fast.Release(conn) // which resets the statements
	customers := make([]customerd.SealedCustomer, 0, l.q.Limit+1)
	var total int
	err = conn.Snapshot(ctx, func() error {
		var created int64
		if l.q.StartingAfter != "" {
			st, row, err := runRaw(ctx, conn, qCursor, l.q.StartingAfter, l.merchantID)
			if err != nil {
				return err
			}
			if !row {
				return customerd.ErrBadCursor
			}
			created = st.Int64(0)
		}
		st, row, err := runRaw(ctx, conn, l.page, l.pageArgs(created)...)
		for ; err == nil && row; row, err = st.Run(ctx) {
			customers = append(customers, readRow(st, l.merchantID, ""))
		}
		if err != nil || !l.needsTotal(len(customers)) {
			return err
		}
		if st, row, err = runRaw(ctx, conn, l.total, l.totalArgs()...); err == nil && row {
			total = int(st.Int64(0))
		}
		return err
	})
	return customers, total, err
}

// runRaw runs q, prepared on conn, with args bound, and reports whether it
// returned a row, readable until the statement is reset.
func runRaw(ctx context.Context, conn *rawsqlite.Conn, q string, args ...any) (*rawsqlite.Stmt, bool, error) {
	st, err := conn.Prepared(q)
	if err != nil {
		return nil, false, err
	}
	st.Reset()
	for i, a := range args {
		switch v := a.(type) {
		case string:
			err = st.BindText(i+1, v)
		case []byte:
			err = st.BindBlob(i+1, v)
		case int64:
			err = st.BindInt64(i+1, v)
		default:
			err = fmt.Errorf("sqlite: cannot bind %T", a)
		}
		if err != nil {
			return nil, false, err
		}
	}
	row, err := st.Run(ctx)
	return st, row, err
}

// listSQL is listFast through database/sql, in a read-only transaction.
func (s *Store) listSQL(ctx context.Context, l *customerList) ([]customerd.SealedCustomer, int, error) {
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, 0, err
	}
	defer tx.Rollback()
	var created int64
	if l.q.StartingAfter != "" {
		err := tx.QueryRowContext(ctx, qCursor, l.q.StartingAfter, l.merchantID).Scan(&created)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, 0, customerd.ErrBadCursor
		}
		if err != nil {
			return nil, 0, err
		}
	}
	rows, err := tx.QueryContext(ctx, l.page, l.pageArgs(created)...)
	customers, err := collect(rows, err, scanCustomer)
	if err != nil || !l.needsTotal(len(customers)) {
		return customers, 0, err
	}
	var total int
	err = tx.QueryRowContext(ctx, l.total, l.totalArgs()...).Scan(&total)
	return customers, total, err
}
