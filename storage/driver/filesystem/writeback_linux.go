package filesystem

import (
	"os"

	"golang.org/x/sys/unix"
)

// writebackChunk is how much written data may wait in the page cache
// before a writer asks the kernel to start writing it out.
const writebackChunk = 8 << 20

// startWriteback asks the kernel to start writing out the byte range
// (sync_file_range with SYNC_FILE_RANGE_WRITE: it does not wait for the
// writes, only queues them). Errors are ignored: the range is fsynced
// before anything depends on it anyway.
func startWriteback(f *os.File, off, n int64) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = unix.SyncFileRange(int(fd), off, n, unix.SYNC_FILE_RANGE_WRITE)
	})
}
