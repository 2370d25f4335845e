package sqlite

import (
	"errors"
	"syscall"

	"customerd"
	"customerd/sqlite/internal/rawsqlite"

	sqlite3 "modernc.org/sqlite"
	sqlite3lib "modernc.org/sqlite/lib"
)

// mapError turns the failures that a retry may cure into
// customerd.Unavailable, which the HTTP layer answers with 503 and
// Retry-After rather than 500: a full disk (SQLITE_FULL, ENOSPC), a failing
// or exhausted I/O layer (SQLITE_IOERR and its extended codes), and a file
// that cannot be opened (SQLITE_CANTOPEN, which is also what running out of
// file descriptors gives, EMFILE and ENFILE). Anything else is returned as
// it is.
func mapError(err error) error {
	if err == nil || err == customerd.ErrNotFound {
		return err // the common cases, without a walk of the chain
	}
	if customerd.ErrorCode(err) != customerd.EINTERNAL {
		return err // already a domain error, or already unavailable
	}
	switch primary := resultCode(err) & 0xff; {
	case primary == sqlite3lib.SQLITE_FULL, primary == sqlite3lib.SQLITE_IOERR, primary == sqlite3lib.SQLITE_CANTOPEN,
		errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return customerd.Unavailable(err)
	}
	return err
}

// resultCode is the extended result code of a SQLite error from either
// binding, or -1 for an error that is not one.
func resultCode(err error) int {
	var se *sqlite3.Error
	var re *rawsqlite.Error
	switch {
	case errors.As(err, &se):
		return se.Code()
	case errors.As(err, &re):
		return re.Code
	}
	return -1
}
