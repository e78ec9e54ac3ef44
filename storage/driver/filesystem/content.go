package filesystem

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
)

// GetContent implements driver.Driver.
func (d *Driver) GetContent(ctx context.Context, path string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := validate(path); err != nil {
		return nil, err
	}
	f, fi, err := d.openFile(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, fi.Size())
	if _, err := f.ReadAt(buf, 0); err != nil {
		return nil, fmt.Errorf("%s: read %s: %w", name, path, err)
	}
	return buf, nil
}

// openFile opens the regular file at path for reading and stats it. A directory is not
// found, as in an object store, where only keys hold content.
func (d *Driver) openFile(path string) (*os.File, os.FileInfo, error) {
	f, err := os.Open(d.fullPath(path))
	if isMissing(err) {
		return nil, nil, notFound(path, "")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: open %s: %w", name, path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %s: %w", name, path, err)
	}
	if fi.IsDir() {
		f.Close()
		return nil, nil, notFound(path, "is a directory")
	}
	return f, fi, nil
}

// PutContent implements driver.Driver. The content goes to a hidden temporary
// file in the target's directory, is fsynced, and is renamed over the target;
// the directory is then fsynced. Readers thus see the old or the new file, and
// a crash at any point leaves at worst an invisible temporary file.
func (d *Driver) PutContent(ctx context.Context, path string, content []byte) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validate(path); err != nil {
		return err
	}
	if err := writeAtomic(ctx, d.fullPath(path), content); err != nil {
		return fmt.Errorf("%s: put %s: %w", name, path, err)
	}
	return nil
}

// writeAtomic replaces the file full with content: a temporary file in the
// same folder, fsync, rename, fsync of the folder. A crash at any point
// leaves at worst an invisible temporary file.
func writeAtomic(ctx context.Context, full string, content []byte) (err error) {
	dir := filepath.Dir(full)
	var tmp *os.File
	if err := inDir(dir, func() (err error) {
		tmp, err = createTemp(dir)
		return err
	}); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(content); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// The temporary file keeps dir non-empty, so prune cannot remove it now.
	if err := os.Rename(tmp.Name(), full); err != nil {
		return err
	}
	if err := syncDir(dir); err != nil {
		// The content is in place but maybe not durable: report it, and leave
		// it, since removing it would not be durable either.
		return fmt.Errorf("sync directory: %w", err)
	}
	return nil
}
