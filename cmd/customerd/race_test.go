//go:build race

package main

// raceEnabled builds the binary under test with -race when the tests run
// with it: the packages are then already compiled, and the real server is
// checked for races under load too.
const raceEnabled = true
