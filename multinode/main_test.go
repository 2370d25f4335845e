package multinode_test

import "customerd/postgres/pgtest"

// The package's TestMain (node_test.go) cleans up the binary it builds; the
// skip is announced here, before it runs.
func init() { pgtest.Announce() }
