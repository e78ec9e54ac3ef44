package filesystem

import (
	"crypto/rand"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// Permissions of what the driver creates; the umask still applies.
const (
	dirPerm  = 0o755
	filePerm = 0o644
)

// createRetries bounds how often an operation that creates an entry retries
// when a concurrent Delete pruned the parent directory it had just created.
const createRetries = 10

// syncDir fsyncs a directory so that entries created, renamed or removed in it
// survive power loss.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// mkdirAllSync is os.MkdirAll that fsyncs every parent it adds an entry to, so
// that a directory created on the way to a file is as durable as the file.
func mkdirAllSync(dir string) error {
	fi, err := os.Stat(dir)
	if err == nil {
		if !fi.IsDir() {
			return &fs.PathError{Op: "mkdir", Path: dir, Err: syscall.ENOTDIR}
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := mkdirAllSync(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, dirPerm); err != nil {
		// Another goroutine may have just created it.
		if fi, serr := os.Stat(dir); serr == nil && fi.IsDir() {
			return nil
		}
		return err
	}
	return syncDir(parent)
}

// inDir runs create, which makes an entry in dir, after creating dir durably.
// Delete prunes directories it empties, so dir can vanish between the two
// steps: create then fails with ENOENT and is retried.
func inDir(dir string, create func() error) error {
	var err error
	for range createRetries {
		if err = mkdirAllSync(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if err == nil {
			if err = create(); !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	return err
}

// prune removes dir and then its parents while they are empty, stopping at the
// root, so that a "directory" exists only while content is under it, as in
// an object store. rmdir(2) fails on a non-empty directory, which makes this
// safe against concurrent writers; the writers retry when they lose the race
// (see inDir). Failure only leaves an empty directory behind, so it is not
// reported.
func (d *Driver) prune(dir string) {
	for dir != d.root && len(dir) > len(d.root) {
		if err := syscall.Rmdir(dir); err != nil {
			return
		}
		dir = filepath.Dir(dir)
	}
}

// createTemp creates a new hidden temporary file in dir. Its random name
// cannot collide with a driver path, which may not start with tempPrefix.
func createTemp(dir string) (*os.File, error) {
	for {
		p := filepath.Join(dir, tempPrefix+rand.Text())
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, err
	}
}
