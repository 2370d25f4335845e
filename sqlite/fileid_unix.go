//go:build unix

package sqlite

import (
	"io/fs"
	"syscall"
)

// fileID identifies a file by device and inode, as os.SameFile compares
// them, for one allocation less per check than os.Stat: the writer checks
// before and after every group commit.
type fileID struct{ dev, ino uint64 }

// statID returns the identity of the file at path.
func statID(path string) (fileID, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return fileID{}, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	return fileID{dev: uint64(st.Dev), ino: uint64(st.Ino)}, nil // Dev's type differs by system
}

func (a fileID) same(b fileID) bool { return a == b }
