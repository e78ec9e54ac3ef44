// Package filesystem stores shadowreg's content in a directory tree.
//
// It is built to survive kill -9 and power loss: content becomes visible only
// through rename(2) of a fully written and fsynced file, and every change to a
// directory (a new entry, a rename, a removal) is followed by an fsync of that
// directory before the call returns. Writers write straight to their file at
// the path so that a push runs at disk speed; a resumed writer truncates the
// file back to its last checkpoint, so bytes a crash left behind past it are
// never kept.
package filesystem

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/shadowreg/shadowreg/storage/driver"
)

// name is the driver's name in logs and errors.
const name = "filesystem"

// Driver implements driver.Driver on a local directory.
type Driver struct {
	root string // absolute, cleaned
}

var _ driver.Driver = (*Driver)(nil)

// New returns a driver storing everything under root, creating root (and its
// missing parents, durably) if needed.
func New(root string) (*Driver, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("%s: root %q: %w", name, root, err)
	}
	if err := mkdirAllSync(abs); err != nil {
		return nil, fmt.Errorf("%s: create root: %w", name, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("%s: root: %w", name, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s: root %s is not a directory", name, abs)
	}
	return &Driver{root: abs}, nil
}

// Name implements driver.Driver.
func (d *Driver) Name() string { return name }

// fullPath maps a validated driver path to its place on disk.
func (d *Driver) fullPath(p string) string {
	return filepath.Join(d.root, filepath.FromSlash(p))
}

// notFound wraps driver.ErrNotFound for path, keeping why in the message.
func notFound(path, why string) error {
	if why == "" {
		return driver.NotFound(name, path)
	}
	return fmt.Errorf("%s: %s: %s: %w", name, path, why, driver.ErrNotFound)
}
