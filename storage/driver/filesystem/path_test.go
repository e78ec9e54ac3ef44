package filesystem

import (
	"errors"
	"testing"

	"github.com/shadowreg/shadowreg/storage/driver"
)

func TestPathValidation(t *testing.T) {
	ctx, d := t.Context(), newTestDriver(t)
	if err := d.PutContent(ctx, "ok", []byte("ok")); err != nil {
		t.Fatal(err)
	}
	bad := []string{
		"", "/abs", "a/", "a//b", ".", "./a", "a/./b", "..", "../x", "a/..", "a/../b",
		tempPrefix + "x", "a/" + tempPrefix + "y/b", "nul\x00byte",
	}
	for _, p := range bad {
		ops := map[string]error{
			"GetContent": second(d.GetContent(ctx, p)),
			"PutContent": d.PutContent(ctx, p, nil),
			"Reader":     second(d.Reader(ctx, p, 0)),
			"Writer":     second(d.Writer(ctx, p, 0)),
			"Stat":       second(d.Stat(ctx, p)),
			"List":       second(d.List(ctx, p)),
			"Walk":       d.Walk(ctx, p, nil),
			"Delete":     d.Delete(ctx, p),
			"MoveSrc":    d.Move(ctx, p, "dst"),
			"MoveDst":    d.Move(ctx, "ok", p),
		}
		for op, err := range ops {
			if !errors.Is(err, driver.ErrInvalidPath) {
				t.Errorf("%s(%q) = %v; want an invalid path error", op, p, err)
			}
		}
	}
	// Names that merely contain dots are fine.
	for _, p := range []string{".hidden", "a/..b", "a/b..", "...", "x/.tmp", "sha256:ab/c.d"} {
		if err := d.PutContent(ctx, p, []byte(p)); err != nil {
			t.Errorf("PutContent(%q): %v", p, err)
		}
	}
}

func second[T any](_ T, err error) error { return err }

func TestMoveDirectoryRefused(t *testing.T) {
	ctx, d := t.Context(), newTestDriver(t)
	if err := d.PutContent(ctx, "dir/f", nil); err != nil {
		t.Fatal(err)
	}
	if err := d.Move(ctx, "dir", "other"); err == nil {
		t.Errorf("Move of a directory: no error")
	}
}
