//go:build unix

package rawsqlite

import (
	"errors"
	"os"
	"syscall"
)

// mapWALIndex maps the start of a -shm file read-only and shared, so that
// the header SQLite keeps there is seen as its connections update it.
func mapWALIndex(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil {
		return nil, err
	} else if st.Size() < walIndexMapSize {
		return nil, errors.New("the -shm file is shorter than its header page")
	}
	return syscall.Mmap(int(f.Fd()), 0, walIndexMapSize, syscall.PROT_READ, syscall.MAP_SHARED)
}

func unmapWALIndex(b []byte) { _ = syscall.Munmap(b) }
