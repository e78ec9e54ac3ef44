package shadow

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// spoolPattern names fetch spools in SpoolDir (drivers that cannot adopt a
// local file: S3). A spool the process dies with is never removed by the
// fetch that made it; SweepSpool removes those.
const spoolPattern = "shadowreg-fetch-*"

// SweepSpool removes fetch spools in dir ("" = the system's temporary
// folder) last modified before before, left there by a process that died
// mid-fetch. A fetch under way writes to its spool continually and ends
// within the upstream timeouts, so an old enough spool belongs to no one,
// not even to another shadowreg sharing the folder.
func SweepSpool(dir string, before time.Time) (files int, bytes int64, err error) {
	if dir == "" {
		dir = os.TempDir()
	}
	matches, err := filepath.Glob(filepath.Join(dir, spoolPattern))
	if err != nil {
		return 0, 0, err
	}
	for _, p := range matches {
		fi, err := os.Lstat(p)
		if err != nil || !fi.Mode().IsRegular() || !fi.ModTime().Before(before) {
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return files, bytes, err
		}
		files++
		bytes += fi.Size()
	}
	return files, bytes, nil
}
