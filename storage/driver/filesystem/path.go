package filesystem

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"syscall"
)

// tempPrefix starts the name of every file that PutContent has not yet renamed
// into place. Such files are skipped by List and Walk (a crash can leave them
// behind) and driver paths may not name them.
const tempPrefix = ".tmp-"

// errInvalidPath is wrapped by every error about a malformed path.
var errInvalidPath = errors.New("invalid path")

// validate checks that p is a driver path: relative, slash-separated, with no
// empty, "." or ".." component. Rejecting these keeps every path inside the
// root and gives each file exactly one name.
func validate(p string) error {
	bad := func(why string) error {
		return fmt.Errorf("%s: %q: %w: %s", name, p, errInvalidPath, why)
	}
	switch {
	case p == "":
		return bad("empty")
	case strings.HasPrefix(p, "/"):
		return bad("absolute")
	case strings.IndexByte(p, 0) >= 0:
		return bad("contains a NUL byte")
	}
	for c := range strings.SplitSeq(p, "/") {
		switch {
		case c == "":
			return bad("empty component")
		case c == "." || c == "..":
			return bad(`"." or ".." component`)
		case strings.HasPrefix(c, tempPrefix):
			return bad("component starts with the reserved prefix " + tempPrefix)
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
