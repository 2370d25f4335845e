package httpapi_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"customerd"
	"customerd/postgres"
	"customerd/postgres/pgtest"
	"customerd/sqlite"
)

// contractOnPostgres is set in the rerun of this package's tests that
// TestContractSuiteOnPostgreSQL makes.
const contractOnPostgres = "CUSTOMERD_HTTPAPI_CONTRACT_ON_POSTGRES"

// openContractStore returns the store under the contract suite: a fresh
// SQLite file, or in the PostgreSQL rerun a fresh PostgreSQL schema.
func openContractStore(t *testing.T) customerd.Store {
	t.Helper()
	if os.Getenv(contractOnPostgres) != "" {
		s, err := postgres.Open(context.Background(), pgtest.NewSchema(t), postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "api.db"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestContractSuiteOnPostgreSQL reruns the black-box contract suite of this
// package with every server on the PostgreSQL store, so that every behaviour
// of the API is proven on both stores.
func TestContractSuiteOnPostgreSQL(t *testing.T) {
	pgtest.URL(t)
	if os.Getenv(contractOnPostgres) != "" {
		t.Skip("this is the rerun")
	}
	if os.Getenv(sdkContractOverTLS) != "" {
		t.Skip("the plain run covers PostgreSQL; TLS does not depend on the store")
	}
	if testing.Short() {
		t.Skip("reruns the package")
	}
	// The SDK tests start servers of their own on SQLite: rerunning them
	// would prove nothing more.
	cmd := exec.Command(os.Args[0], "-test.run=^Test",
		"-test.skip=^(TestContractSuiteOnPostgreSQL|TestContractSuiteOverTLS|TestSDK)", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), contractOnPostgres+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the contract suite fails on PostgreSQL: %v\n%s", err, out)
	}
	passed := strings.Count(string(out), "--- PASS: Test")
	if passed < 20 {
		t.Fatalf("the rerun on PostgreSQL passed only %d tests:\n%s", passed, out)
	}
	t.Log("tests passed on PostgreSQL: " + strconv.Itoa(passed))
}
