// Package multinode holds the integration tests that run several real
// customerd processes, built from this tree, on one PostgreSQL database: the
// cross-node guarantees of scale-out, and a database outage under load. It
// has no code of its own.
package multinode
