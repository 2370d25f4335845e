//go:build !unix

package rawsqlite

import "errors"

func mapWALIndex(string) ([]byte, error) {
	return nil, errors.New("not supported on this system")
}

func unmapWALIndex([]byte) {}
