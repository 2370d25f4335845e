//go:build race

package binarytest

// raceEnabled builds the binary with -race when the tests run with -race, so
// that a data race in the server fails the test that drove it.
const raceEnabled = true
