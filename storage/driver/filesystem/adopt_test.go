package filesystem

import (
	"context"
	"os"
	"syscall"
	"testing"

	"github.com/shadowreg/shadowreg/storage/driver"
)

func TestAdoptTakesTheFileOverWithoutACopy(t *testing.T) {
	d, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f, err := d.TempFile()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("spooled bytes"); err != nil {
		t.Fatal(err)
	}
	ino := inode(t, f.Name())
	if files := walkAll(t, d); len(files) != 0 {
		t.Fatalf("a temporary file is visible: %v", files)
	}
	src := f.Name()
	if err := d.Adopt(context.Background(), f, "blobs/sha256/ab/abc"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(src); !os.IsNotExist(err) {
		t.Fatalf("the temporary name still exists: %v", err)
	}
	b, err := d.GetContent(context.Background(), "blobs/sha256/ab/abc")
	if err != nil || string(b) != "spooled bytes" {
		t.Fatalf("adopted content %q, %v", b, err)
	}
	if got := inode(t, d.fullPath("blobs/sha256/ab/abc")); got != ino {
		t.Fatalf("adopt copied the file (inode %d, was %d)", got, ino)
	}
}

func TestAdoptRejectsInvalidPaths(t *testing.T) {
	d, _ := New(t.TempDir())
	f, _ := d.TempFile()
	defer os.Remove(f.Name())
	if err := d.Adopt(context.Background(), f, "../escape"); err == nil {
		t.Fatal("adopt accepted a path outside the root")
	}
}

func walkAll(t *testing.T, d *Driver) []string {
	t.Helper()
	var out []string
	for _, top := range []string{"blobs", "uploads", "areas"} {
		err := d.Walk(context.Background(), top, func(fi driver.FileInfo) error {
			out = append(out, fi.Path)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}
