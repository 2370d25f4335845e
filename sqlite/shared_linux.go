package sqlite

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// walDMS is the byte of a WAL database's -shm file that every connection
// holds a shared lock on while it is open (SQLite's "dead man switch",
// WALINDEX_LOCK_OFFSET + SQLITE_SHM_NLOCK in os_unix.c).
const walDMS = 120 + 8

// openElsewhere reports whether another process has the database at path
// open: whether a process other than this one holds a lock on the DMS byte
// of its -shm file. It reads the kernel's table of locks (/proc/locks)
// rather than asking with fcntl, since closing a descriptor of the file,
// as asking would need, drops every POSIX lock this process's connections
// hold on it.
func openElsewhere(path string) (bool, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path+"-shm", &st); errors.Is(err, fs.ErrNotExist) {
		return false, nil // no connection has the WAL index
	} else if err != nil {
		return false, &fs.PathError{Op: "stat", Path: path + "-shm", Err: err}
	}
	dev := uint64(st.Dev) // its type differs by architecture
	major := (dev>>8)&0xfff | (dev>>32)&^0xfff
	minor := dev&0xff | (dev>>12)&^0xff
	file := fmt.Sprintf("%02x:%02x:%d", major, minor, st.Ino)
	f, err := os.Open("/proc/locks")
	if err != nil {
		return true, nil // cannot tell: taken to be shared
	}
	defer f.Close()
	self := os.Getpid()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// "1: POSIX  ADVISORY  READ 4242 08:01:1234 128 128"; a lock
		// waited for has "->" after its number.
		fields := strings.Fields(strings.Replace(sc.Text(), "->", "", 1))
		if len(fields) < 8 || fields[1] != "POSIX" || fields[5] != file {
			continue
		}
		pid, err1 := strconv.Atoi(fields[4])
		start, err2 := strconv.ParseInt(fields[6], 10, 64)
		end := int64(1<<63 - 1)
		if fields[7] != "EOF" {
			end, _ = strconv.ParseInt(fields[7], 10, 64)
		}
		if err1 == nil && err2 == nil && pid != self && start <= walDMS && walDMS <= end {
			return true, nil
		}
	}
	return false, sc.Err()
}
