package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"customerd"
	"customerd/sqlite"
	"customerd/sqlite/internal/rawsqlite"
	"customerd/storetest"
)

// TestFullDatabaseIsUnavailable fills the database as a full disk does:
// writes fail as unavailable (503 and Retry-After: the client should retry
// later), not as a fault of the server, and reads go on.
func TestFullDatabaseIsUnavailable(t *testing.T) {
	for _, opts := range [][]sqlite.Option{nil, {sqlite.DatabaseSQLOnly()}} {
		s := open(t, filepath.Join(t.TempDir(), "c.db"), opts...)
		defer s.Close()
		storetest.MustMerchant(t, s, "m1")
		if err := s.StopGrowing(ctx); err != nil {
			t.Fatal(err)
		}
		var err error
		for i := 0; i < 10000 && err == nil; i++ {
			c := storetest.Row("m1", fmt.Sprintf("r%d-%s", i, strings.Repeat("x", 500)))
			err = s.Write(ctx, func(ctx context.Context, tx customerd.StoreTx) error {
				return tx.InsertCustomer(ctx, &c, storetest.Event(customerd.EventCustomerCreated, "m1", c.ID, 1, c.KeyVersion))
			})
		}
		if customerd.ErrorCode(err) != customerd.EUNAVAILABLE || !strings.Contains(err.Error(), "full") {
			t.Fatalf("write to a full database: %v, want unavailable", err)
		}
		if _, err := s.ListMerchants(ctx); err != nil {
			t.Fatalf("read of a full database: %v", err)
		}
	}
}

func TestErrorClassification(t *testing.T) {
	raw := func(code int) error { return fmt.Errorf("step: %w", &rawsqlite.Error{Code: code, Msg: "x"}) }
	for _, tc := range []struct {
		name string
		err  error
		code string
	}{
		{"SQLITE_FULL is unavailable", raw(13), customerd.EUNAVAILABLE},
		{"SQLITE_IOERR is unavailable", raw(10), customerd.EUNAVAILABLE},
		{"SQLITE_IOERR_WRITE is unavailable", raw(10 | 3<<8), customerd.EUNAVAILABLE},
		{"SQLITE_IOERR_FSYNC is unavailable", raw(10 | 4<<8), customerd.EUNAVAILABLE},
		{"SQLITE_CANTOPEN is unavailable", raw(14), customerd.EUNAVAILABLE},
		{"no file descriptors left is unavailable", fmt.Errorf("open: %w", syscall.EMFILE), customerd.EUNAVAILABLE},
		{"none left in the system is unavailable", fmt.Errorf("open: %w", syscall.ENFILE), customerd.EUNAVAILABLE},
		{"no space left is unavailable", fmt.Errorf("write: %w", syscall.ENOSPC), customerd.EUNAVAILABLE},
		{"SQLITE_ERROR is internal", raw(1), customerd.EINTERNAL},
		{"SQLITE_CORRUPT is internal", raw(11), customerd.EINTERNAL},
		{"an unknown error is internal", errors.New("scan: bad type"), customerd.EINTERNAL},
		{"domain errors pass through", customerd.ErrConflict, customerd.ECONFLICT},
		{"not found passes through", customerd.ErrNotFound, customerd.ENOTFOUND},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := customerd.ErrorCode(sqlite.MapError(tc.err)); got != tc.code {
				t.Fatalf("code = %q, want %q", got, tc.code)
			}
		})
	}
}
