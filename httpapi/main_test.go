package httpapi_test

import (
	"testing"

	"customerd/postgres/pgtest"
)

// TestMain says, in go test's plain output too, that the PostgreSQL rerun of
// the contract suite is skipped without CUSTOMERD_TEST_POSTGRES_URL.
func TestMain(m *testing.M) { pgtest.Main(m) }
