package filesystem

import (
	"context"
	"fmt"
	"io"
)

// Reader implements driver.Driver. It returns the *os.File itself, positioned
// at offset, so that io.Copy into a network connection (an
// http.ResponseWriter) uses sendfile(2) instead of copying through user space.
func (d *Driver) Reader(ctx context.Context, path string, offset int64) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := validate(path); err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, fmt.Errorf("%s: read %s: negative offset %d", name, path, offset)
	}
	f, fi, err := d.openFile(path)
	if err != nil {
		return nil, err
	}
	if offset > fi.Size() {
		f.Close()
		return nil, fmt.Errorf("%s: read %s: offset %d beyond size %d", name, path, offset, fi.Size())
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: read %s: %w", name, path, err)
	}
	return f, nil
}
