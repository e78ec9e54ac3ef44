package drivertest

import (
	"testing"

	"github.com/shadowreg/shadowreg/storage/driver"
)

// testFileStater checks StatFile, for drivers that offer it: a file is
// described as Stat describes it; a directory and a missing path are not
// files.
func (s suite) testFileStater(t *testing.T) {
	ctx, d := s.setup(t)
	fs, ok := d.(driver.FileStater)
	if !ok {
		t.Fatal("the driver has no StatFile")
	}
	put(t, ctx, d, "sf/dir/file", []byte("twelve bytes"))
	fi, err := fs.StatFile(ctx, "sf/dir/file")
	if err != nil || fi.IsDir || fi.Size != 12 || fi.ModTime.IsZero() || fi.Path != "sf/dir/file" {
		t.Errorf("StatFile(file) = %+v, %v", fi, err)
	}
	_, err = fs.StatFile(ctx, "sf/dir")
	requireNotFound(t, err, "StatFile(directory)")
	_, err = fs.StatFile(ctx, "sf/missing")
	requireNotFound(t, err, "StatFile(missing)")
}

// testAtomicCommit checks, for drivers that say their commits are atomic,
// that a writer's bytes are not at the path before Commit, and that what
// was there stays readable until then.
func (s suite) testAtomicCommit(t *testing.T) {
	ctx, d := s.setup(t)
	if _, ok := d.(driver.AtomicCommitter); !ok {
		t.Fatal("the driver's commits are not atomic")
	}
	old, fresh := data(1, 1000), data(2, 3000)
	put(t, ctx, d, "ac/file", old)
	w := newWriter(t, ctx, d, "ac/file", 0)
	writeOdd(t, w, fresh)
	checkContent(t, ctx, d, "ac/file", old)
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	checkContent(t, ctx, d, "ac/file", fresh)
	w = newWriter(t, ctx, d, "ac/new", 0)
	writeOdd(t, w, fresh)
	_, err := d.Stat(ctx, "ac/new")
	requireNotFound(t, err, "Stat of content written and not committed")
}
