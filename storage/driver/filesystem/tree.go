package filesystem

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"

	"github.com/shadowreg/shadowreg/storage/driver"
)

// Stat implements driver.Driver.
func (d *Driver) Stat(ctx context.Context, path string) (driver.FileInfo, error) {
	if err := ctx.Err(); err != nil {
		return driver.FileInfo{}, err
	}
	if err := validate(path); err != nil {
		return driver.FileInfo{}, err
	}
	fi, err := os.Stat(d.fullPath(path))
	if isMissing(err) {
		return driver.FileInfo{}, notFound(path, "")
	}
	if err != nil {
		return driver.FileInfo{}, fmt.Errorf("%s: stat %s: %w", name, path, err)
	}
	return fileInfo(path, fi), nil
}

func fileInfo(path string, fi fs.FileInfo) driver.FileInfo {
	info := driver.FileInfo{Path: path, ModTime: fi.ModTime(), IsDir: fi.IsDir()}
	if !info.IsDir {
		info.Size = fi.Size()
	}
	return info
}

// List implements driver.Driver. A file has no children: listing it is not
// found, as listing a key's "directory" is in an object store.
func (d *Driver) List(ctx context.Context, path string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := validate(path); err != nil {
		return nil, err
	}
	entries, err := readDir(d.fullPath(path))
	if isMissing(err) {
		return nil, notFound(path, "")
	}
	if err != nil {
		return nil, fmt.Errorf("%s: list %s: %w", name, path, err)
	}
	// readDir sorts by name, and every child shares the prefix path+"/", so
	// this is lexical order of the full paths.
	children := make([]string, 0, len(entries))
	for _, e := range entries {
		children = append(children, path+"/"+e.Name())
	}
	return children, nil
}

// readDir lists a directory sorted by name, without temporary files.
func readDir(dir string) ([]fs.DirEntry, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(entries, func(e fs.DirEntry) bool { return isTemp(e.Name()) }), nil
}

// Walk implements driver.Driver. Walking a file reports nothing: no file is
// under it.
func (d *Driver) Walk(ctx context.Context, path string, fn func(driver.FileInfo) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validate(path); err != nil {
		return err
	}
	err := d.walk(ctx, path, fn)
	if errors.Is(err, driver.SkipAll) {
		return nil
	}
	return err
}

func (d *Driver) walk(ctx context.Context, path string, fn func(driver.FileInfo) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	entries, err := readDir(d.fullPath(path))
	if isMissing(err) {
		// Missing, a file, or removed while walking: nothing under it.
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: walk %s: %w", name, path, err)
	}
	// Visit a directory as name+"/": its files' paths continue with "/", so
	// "b-x" ('-' < '/') must come before the files of "b", as it does in an
	// object store listing keys in order.
	key := func(e fs.DirEntry) string {
		if e.IsDir() {
			return e.Name() + "/"
		}
		return e.Name()
	}
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return cmp.Compare(key(a), key(b)) })
	for _, e := range entries {
		child := path + "/" + e.Name()
		if e.IsDir() {
			if err := d.walk(ctx, child, fn); err != nil {
				return err
			}
			continue
		}
		fi, err := e.Info()
		if isMissing(err) {
			continue // deleted since readDir
		}
		if err != nil {
			return fmt.Errorf("%s: walk %s: %w", name, child, err)
		}
		if err := fn(fileInfo(child, fi)); err != nil {
			return err
		}
	}
	return nil
}
