package client

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
)

// UnsafeEntryError is a tar entry refused by Unpack: one that would land
// outside the destination, or one that is not a file, directory or link.
type UnsafeEntryError struct {
	Name, Reason string
}

func (e *UnsafeEntryError) Error() string {
	return fmt.Sprintf("refused tar entry %q: %s; nothing is written outside the destination", e.Name, e.Reason)
}

// Unpack writes the tar stream r under dir, creating dir. It refuses
// (stops at) any entry whose name is absolute or climbs with "..", a
// symlink whose target is absolute or leaves dir, a hard link to anything
// outside dir, and devices. Writes go through os.Root, so even a symlink
// planted inside dir cannot carry a later entry out of it.
func Unpack(r io.Reader, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading tar: %w", err)
		}
		if err := unpackEntry(root, tr, h); err != nil {
			return err
		}
	}
}

func unpackEntry(root *os.Root, r io.Reader, h *tar.Header) error {
	if h.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	name, err := entryName(h.Name)
	if err != nil {
		return err
	}
	if name == "." {
		return nil
	}
	mode := fs.FileMode(h.Mode) & fs.ModePerm
	if dir := path.Dir(name); dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("%s: %w", h.Name, err)
		}
	}
	switch h.Typeflag {
	case tar.TypeDir:
		if err := root.MkdirAll(name, 0o755); err != nil {
			return fmt.Errorf("%s: %w", h.Name, err)
		}
		return root.Chmod(name, mode|0o700)
	case tar.TypeReg, tar.TypeRegA:
		// A file or link already there is replaced, not written through.
		if err := removeNonDir(root, name); err != nil {
			return err
		}
		f, err := root.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
		if err != nil {
			return fmt.Errorf("%s: %w", h.Name, err)
		}
		_, err = io.Copy(f, r)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("%s: %w", h.Name, err)
		}
		return root.Chmod(name, mode)
	case tar.TypeSymlink:
		if path.IsAbs(h.Linkname) {
			return &UnsafeEntryError{h.Name, "symlink to an absolute path " + h.Linkname}
		}
		if escapes(path.Join(path.Dir(name), h.Linkname)) {
			return &UnsafeEntryError{h.Name, "symlink out of the destination, to " + h.Linkname}
		}
		// The check above is lexical: it holds when no parent of the entry
		// is itself a symlink (a parent "x -> ." would make "x/../y" leave).
		if linked, err := underSymlink(root, name); err != nil || linked {
			return &UnsafeEntryError{h.Name, "symlink under another symlink"}
		}
		if err := removeNonDir(root, name); err != nil {
			return err
		}
		return root.Symlink(h.Linkname, name)
	case tar.TypeLink:
		target, err := entryName(h.Linkname)
		if err != nil {
			return &UnsafeEntryError{h.Name, "hard link out of the destination, to " + h.Linkname}
		}
		if err := removeNonDir(root, name); err != nil {
			return err
		}
		return root.Link(target, name)
	}
	return &UnsafeEntryError{h.Name, fmt.Sprintf("type %q is not a file, directory or link", h.Typeflag)}
}

// entryName cleans a tar name, refusing absolute names and any ".."
// component (even one that would stay inside after cleaning: archives that
// climb are crafted, not made by tar).
func entryName(n string) (string, error) {
	if path.IsAbs(n) || strings.HasPrefix(n, `\`) {
		return "", &UnsafeEntryError{n, "absolute path"}
	}
	for _, c := range strings.Split(n, "/") {
		if c == ".." {
			return "", &UnsafeEntryError{n, `".." in the path`}
		}
	}
	return path.Clean(n), nil
}

// escapes says whether a cleaned relative path climbs out of its root.
func escapes(p string) bool {
	p = path.Clean(p)
	return p == ".." || strings.HasPrefix(p, "../") || path.IsAbs(p)
}

func removeNonDir(root *os.Root, name string) error {
	st, err := root.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if st.IsDir() {
		return fmt.Errorf("%s: a directory is in the way", name)
	}
	return root.Remove(name)
}

// underSymlink says whether a parent directory of name is a symlink.
func underSymlink(root *os.Root, name string) (bool, error) {
	for p := path.Dir(name); p != "."; p = path.Dir(p) {
		st, err := root.Lstat(p)
		if err != nil {
			return false, err
		}
		if st.Mode()&fs.ModeSymlink != 0 {
			return true, nil
		}
	}
	return false, nil
}
