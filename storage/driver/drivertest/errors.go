package drivertest

import (
	"context"
	"io"
	"testing"

	"github.com/shadowreg/shadowreg/storage/driver"
)

// testNotFound checks that every method reports a missing path with an error
// wrapping driver.ErrNotFound.
func (s suite) testNotFound(t *testing.T) {
	ctx, d := s.setup(t)
	put(t, ctx, d, "file", []byte("a file"))
	put(t, ctx, d, "dir/file", []byte("a file in a directory"))
	put(t, ctx, d, "dst", []byte("a move destination"))

	ops := []struct {
		name string
		op   func(path string) error
	}{
		{"GetContent", func(p string) error { _, err := d.GetContent(ctx, p); return err }},
		{"Reader", func(p string) error { return closeIfOpened(d.Reader(ctx, p, 0)) }},
		{"Stat", func(p string) error { _, err := d.Stat(ctx, p); return err }},
		{"List", func(p string) error { _, err := d.List(ctx, p); return err }},
		{"Delete", func(p string) error { return d.Delete(ctx, p) }},
		{"Move", func(p string) error { return d.Move(ctx, p, "dst") }},
		{"WriterResume", func(p string) error { return closeIfOpened(d.Writer(ctx, p, 5)) }},
	}
	paths := []struct{ name, path string }{
		{"Missing", "missing"},
		{"MissingNested", "no/such/dir/file"},
		{"UnderAFile", "file/below"},
	}
	for _, op := range ops {
		for _, p := range paths {
			t.Run(op.name+"/"+p.name, func(t *testing.T) {
				requireNotFound(t, op.op(p.path), op.name+"("+p.path+")")
			})
		}
	}
	// Only files hold content.
	for _, op := range ops[:2] {
		t.Run(op.name+"/Directory", func(t *testing.T) {
			requireNotFound(t, op.op("dir"), op.name+" of a directory")
		})
	}
	checkContent(t, ctx, d, "dst", []byte("a move destination"))
}

func closeIfOpened[C io.Closer](c C, err error) error {
	if err == nil {
		c.Close()
	}
	return err
}

// testCanceledContext checks that a done context fails every method, and that
// the operation then did not happen.
func (s suite) testCanceledContext(t *testing.T) {
	ctx, d := s.setup(t)
	put(t, ctx, d, "c/file", []byte("content"))
	done, cancel := context.WithCancel(ctx)
	cancel()

	ops := []struct {
		name string
		op   func() error
	}{
		{"GetContent", func() error { _, err := d.GetContent(done, "c/file"); return err }},
		{"PutContent", func() error { return d.PutContent(done, "c/new", []byte("x")) }},
		{"Reader", func() error { return closeIfOpened(d.Reader(done, "c/file", 0)) }},
		{"Writer", func() error { return closeIfOpened(d.Writer(done, "c/new", 0)) }},
		{"Stat", func() error { _, err := d.Stat(done, "c/file"); return err }},
		{"List", func() error { _, err := d.List(done, "c"); return err }},
		{"Walk", func() error {
			return d.Walk(done, "c", func(fi driver.FileInfo) error {
				t.Errorf("Walk with a canceled context visited %q", fi.Path)
				return nil
			})
		}},
		{"Move", func() error { return d.Move(done, "c/file", "c/moved") }},
		{"Delete", func() error { return d.Delete(done, "c/file") }},
		{"Commit", func() error {
			w := newWriter(t, ctx, d, "c/w", 0)
			return w.Commit(done)
		}},
	}
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			if err := op.op(); err == nil {
				t.Errorf("%s with a canceled context: no error", op.name)
			}
		})
	}
	checkContent(t, ctx, d, "c/file", []byte("content"))
	for _, p := range []string{"c/new", "c/moved"} {
		_, err := d.Stat(ctx, p)
		requireNotFound(t, err, "Stat("+p+") after an operation with a canceled context")
	}
}
