//go:build !unix

package sqlite

import "os"

// fileID identifies a file as os.SameFile compares files.
type fileID struct{ fi os.FileInfo }

// statID returns the identity of the file at path.
func statID(path string) (fileID, error) {
	fi, err := os.Stat(path)
	return fileID{fi}, err
}

func (a fileID) same(b fileID) bool { return os.SameFile(a.fi, b.fi) }
