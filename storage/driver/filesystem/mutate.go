package filesystem

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/shadowreg/shadowreg/storage/driver"
)

// Move implements driver.Driver with rename(2), which replaces dst atomically.
// Both directories are fsynced: dst's so the new entry survives power loss,
// src's so the old one does not come back.
func (d *Driver) Move(ctx context.Context, src, dst string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validate(src); err != nil {
		return err
	}
	if err := validate(dst); err != nil {
		return err
	}
	from, to := d.fullPath(src), d.fullPath(dst)
	fi, err := os.Lstat(from)
	if isMissing(err) {
		return notFound(src, "")
	}
	if err != nil {
		return fmt.Errorf("%s: move %s: %w", name, src, err)
	}
	if fi.IsDir() {
		// Object stores cannot rename a prefix atomically; keep the drivers
		// alike.
		return fmt.Errorf("%s: move %s: is a directory", name, src)
	}
	toDir, fromDir := filepath.Dir(to), filepath.Dir(from)
	err = inDir(toDir, func() error {
		err := os.Rename(from, to)
		if isMissing(err) {
			if _, serr := os.Lstat(from); isMissing(serr) {
				return notFound(src, "")
			}
		}
		return err
	})
	if errors.Is(err, driver.ErrNotFound) {
		return err
	}
	if err != nil {
		return fmt.Errorf("%s: move %s to %s: %w", name, src, dst, err)
	}
	if err := syncDir(toDir); err != nil {
		return fmt.Errorf("%s: move %s to %s: sync directory: %w", name, src, dst, err)
	}
	if fromDir != toDir {
		if err := syncDir(fromDir); err != nil && !isMissing(err) {
			return fmt.Errorf("%s: move %s to %s: sync directory: %w", name, src, dst, err)
		}
		d.prune(fromDir)
	}
	return nil
}

// Delete implements driver.Driver. A directory is removed depth first, so a
// crash or a cancelled context leaves a smaller tree that a new Delete
// finishes. The parent is then fsynced and pruned if now empty.
func (d *Driver) Delete(ctx context.Context, path string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validate(path); err != nil {
		return err
	}
	full := d.fullPath(path)
	fi, err := os.Lstat(full)
	if isMissing(err) {
		return notFound(path, "")
	}
	if err != nil {
		return fmt.Errorf("%s: delete %s: %w", name, path, err)
	}
	if fi.IsDir() {
		err = removeTree(ctx, full)
	} else {
		err = os.Remove(full)
	}
	if err != nil && !isMissing(err) {
		return fmt.Errorf("%s: delete %s: %w", name, path, err)
	}
	dir := filepath.Dir(full)
	if err := syncDir(dir); err != nil && !isMissing(err) {
		return fmt.Errorf("%s: delete %s: sync directory: %w", name, path, err)
	}
	d.prune(dir)
	return nil
}

// removeTree is os.RemoveAll for a directory, checking ctx between
// directories since a tree can be large. Temporary files go too.
func removeTree(ctx context.Context, dir string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if e.IsDir() {
			err = removeTree(ctx, p)
		} else {
			err = os.Remove(p)
		}
		if err != nil && !isMissing(err) {
			return err
		}
	}
	return syscall.Rmdir(dir)
}
