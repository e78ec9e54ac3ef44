package filesystem

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/shadowreg/shadowreg/storage/driver"
)

var _ driver.Adopter = (*Driver)(nil)

// TempFile implements driver.Adopter: a hidden file in the root, on the same
// filesystem as every path, so that Adopt is a rename. Like PutContent's
// temporary files it is invisible to List and Walk.
func (d *Driver) TempFile() (*os.File, error) {
	f, err := createTemp(d.root)
	if err != nil {
		return nil, fmt.Errorf("%s: temporary file: %w", name, err)
	}
	return f, nil
}

// Adopt implements driver.Adopter: fsync, then rename into place, then fsync
// the directory, as PutContent does, so dst never shows partial content.
func (d *Driver) Adopt(ctx context.Context, f *os.File, dst string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validate(dst); err != nil {
		return err
	}
	src := f.Name()
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("%s: adopt into %s: %w", name, dst, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("%s: adopt into %s: %w", name, dst, err)
	}
	to := d.fullPath(dst)
	dir := filepath.Dir(to)
	if err := inDir(dir, func() error { return os.Rename(src, to) }); err != nil {
		os.Remove(src)
		return fmt.Errorf("%s: adopt into %s: %w", name, dst, err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("%s: adopt into %s: sync directory: %w", name, dst, err)
	}
	return nil
}
