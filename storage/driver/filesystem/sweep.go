package filesystem

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// SweepTemp implements driver.TempSweeper: it walks the whole tree for
// temporary files (tempPrefix) that a crash left behind — a PutContent or
// a fetch spool that never got renamed into place — and removes those last
// modified before before. Checkpoint sidecars are not leftovers: they belong
// to their upload and go with it.
func (d *Driver) SweepTemp(ctx context.Context, before time.Time, dryRun bool) (files int, bytes int64, err error) {
	err = filepath.WalkDir(d.root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while we walked
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if e.IsDir() || !isTemp(e.Name()) || strings.HasPrefix(e.Name(), tempPrefix+"ckpt.") {
			return nil
		}
		fi, err := e.Info()
		if err != nil || !fi.ModTime().Before(before) {
			return nil
		}
		if !dryRun {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
		files++
		bytes += fi.Size()
		return nil
	})
	if err != nil {
		return files, bytes, fmt.Errorf("%s: sweep temporary files: %w", name, err)
	}
	return files, bytes, nil
}
