package filesystem

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"syscall"

	"github.com/shadowreg/shadowreg/storage/driver"
)

// tempPrefix starts the name of every file that PutContent has not yet renamed
// into place. Such files are skipped by List and Walk (a crash can leave them
// behind) and driver paths may not name them.
const tempPrefix = ".tmp-"

// validate checks that p is a driver path (driver.ValidatePath) that does
// not name a temporary file.
func validate(p string) error {
	if err := driver.ValidatePath(name, p); err != nil {
		return err
	}
	for c := range strings.SplitSeq(p, "/") {
		if strings.HasPrefix(c, tempPrefix) {
			return fmt.Errorf("%s: %q: %w: component starts with the reserved prefix %s", name, p, driver.ErrInvalidPath, tempPrefix)
		}
	}
	return nil
}

// isTemp reports whether a directory entry is a temporary file, invisible to
// callers.
func isTemp(name string) bool { return strings.HasPrefix(name, tempPrefix) }

// isMissing reports whether err means the path does not exist: either its last
// component is missing, or one of its parents is a file.
func isMissing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}
