package drivertest

import (
	"errors"
	"slices"
	"testing"

	"github.com/shadowreg/shadowreg/storage/driver"
)

// tree is stored by the Stat, List and Walk tests. Its names make lexical
// order of full paths differ from a naive depth-first walk: '-' and '.' sort
// before '/', so "t/b-x" comes before "t/b/c", and "t/b" is a prefix of
// siblings that must not leak into its listing, as "t/bc" is of "t/bcd".
var tree = []string{
	"t/a",
	"t/b/c",
	"t/b/d/e",
	"t/b-x",
	"t/b.y/z",
	"t/bc",
	"t/bcd/e",
	"t/c/d/e/f",
}

func (s suite) testStat(t *testing.T) {
	ctx, d := s.setup(t)
	putAll(t, ctx, d, tree...)
	put(t, ctx, d, "sized", data(14, 12345))
	put(t, ctx, d, "empty", nil)

	files := []struct {
		path string
		size int64
	}{
		{"sized", 12345},
		{"empty", 0},
		{"t/b/d/e", int64(len("content of t/b/d/e"))},
	}
	for _, f := range files {
		fi, err := d.Stat(ctx, f.path)
		if err != nil {
			t.Fatalf("Stat(%q): %v", f.path, err)
		}
		if fi.Path != f.path || fi.IsDir || fi.Size != f.size || fi.ModTime.IsZero() {
			t.Errorf("Stat(%q) = %+v; want a file of %d bytes with a ModTime", f.path, fi, f.size)
		}
	}
	for _, dir := range []string{"t", "t/b", "t/b/d", "t/c/d/e"} {
		fi, err := d.Stat(ctx, dir)
		if err != nil {
			t.Fatalf("Stat(%q): %v", dir, err)
		}
		if fi.Path != dir || !fi.IsDir || fi.Size != 0 {
			t.Errorf("Stat(%q) = %+v; want a directory of size 0", dir, fi)
		}
	}
	// Prefixes of names are not paths.
	for _, p := range []string{"t/b-", "t/c/d/e/f/g", "si"} {
		_, err := d.Stat(ctx, p)
		requireNotFound(t, err, "Stat("+p+")")
	}
}

func (s suite) testList(t *testing.T) {
	ctx, d := s.setup(t)
	putAll(t, ctx, d, tree...)
	tests := []struct {
		path string
		want []string
	}{
		{"t", []string{"t/a", "t/b", "t/b-x", "t/b.y", "t/bc", "t/bcd", "t/c"}},
		{"t/b", []string{"t/b/c", "t/b/d"}},
		{"t/b/d", []string{"t/b/d/e"}},
		{"t/c", []string{"t/c/d"}},
	}
	for _, tt := range tests {
		got, err := d.List(ctx, tt.path)
		if err != nil {
			t.Fatalf("List(%q): %v", tt.path, err)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("List(%q) = %q; want %q", tt.path, got, tt.want)
		}
	}
	// A file has no children.
	if got, err := d.List(ctx, "t/a"); err == nil {
		t.Errorf("List of the file t/a = %q, no error", got)
	}
}

func (s suite) testWalk(t *testing.T) {
	ctx, d := s.setup(t)
	putAll(t, ctx, d, tree...)
	put(t, ctx, d, "sized/f", data(15, 4321))

	t.Run("Recursive", func(t *testing.T) {
		want := slices.Clone(tree)
		slices.Sort(want)
		if got := walkAll(t, ctx, d, "t"); !slices.Equal(got, want) {
			t.Errorf("Walk(t) = %q; want %q", got, want)
		}
	})
	t.Run("Subtree", func(t *testing.T) {
		want := []string{"t/b/c", "t/b/d/e"}
		if got := walkAll(t, ctx, d, "t/b"); !slices.Equal(got, want) {
			t.Errorf("Walk(t/b) = %q; want %q", got, want)
		}
	})
	t.Run("FileInfo", func(t *testing.T) {
		var got []driver.FileInfo
		err := d.Walk(ctx, "sized", func(fi driver.FileInfo) error {
			got = append(got, fi)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Path != "sized/f" || got[0].Size != 4321 || got[0].IsDir {
			t.Errorf("Walk(sized) reported %+v; want the file sized/f of 4321 bytes", got)
		}
	})
	t.Run("Missing", func(t *testing.T) {
		if got := walkAll(t, ctx, d, "nothing/here"); len(got) != 0 {
			t.Errorf("Walk of a missing path reported %q", got)
		}
	})
	t.Run("File", func(t *testing.T) {
		// Whether a file is "under" itself the contract leaves open, but its
		// siblings sharing its name as a prefix are not.
		got := slices.DeleteFunc(walkAll(t, ctx, d, "t/bc"), func(p string) bool { return p == "t/bc" })
		if len(got) != 0 {
			t.Errorf("Walk of the file t/bc reported %q", got)
		}
	})
	t.Run("SkipAll", func(t *testing.T) {
		var got []string
		err := d.Walk(ctx, "t", func(fi driver.FileInfo) error {
			got = append(got, fi.Path)
			if len(got) == 3 {
				return driver.SkipAll
			}
			return nil
		})
		if err != nil {
			t.Errorf("Walk stopped by SkipAll returned %v", err)
		}
		want := slices.Sorted(slices.Values(tree))[:3]
		if !slices.Equal(got, want) {
			t.Errorf("Walk stopped by SkipAll after 3 files reported %q; want %q", got, want)
		}
	})
	t.Run("CallbackError", func(t *testing.T) {
		stop := errors.New("stop")
		calls := 0
		err := d.Walk(ctx, "t", func(driver.FileInfo) error {
			calls++
			return stop
		})
		if !errors.Is(err, stop) || calls != 1 {
			t.Errorf("Walk with a failing callback = %v after %d calls; want the callback's error after 1", err, calls)
		}
	})
}
