//go:build unix

package main

import "customerd/postgres/pgtest"

// The package's TestMain (process_test.go) cleans up the binary it builds;
// the skip of the PostgreSQL crash test is announced here, before it runs.
func init() { pgtest.Announce() }
