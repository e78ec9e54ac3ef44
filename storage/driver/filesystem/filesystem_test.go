package filesystem

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/shadowreg/shadowreg/storage/driver"
	"github.com/shadowreg/shadowreg/storage/driver/drivertest"
)

func newTestDriver(t *testing.T) *Driver {
	t.Helper()
	d, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestConformance(t *testing.T) {
	drivertest.Run(t, func(t *testing.T) driver.Driver { return newTestDriver(t) })
}

// TestReaderIsFile guards the sendfile path: io.Copy into a socket only uses
// sendfile(2) when the source is an *os.File.
func TestReaderIsFile(t *testing.T) {
	ctx, d := t.Context(), newTestDriver(t)
	if err := d.PutContent(ctx, "f", []byte("0123456789")); err != nil {
		t.Fatal(err)
	}
	r, err := d.Reader(ctx, "f", 4)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, ok := r.(*os.File); !ok {
		t.Fatalf("Reader returned %T, want *os.File", r)
	}
	if got, err := io.ReadAll(r); err != nil || string(got) != "456789" {
		t.Errorf("Reader at 4 read %q, %v; want 456789", got, err)
	}
}

// TestTempFilesInvisible plants what a crash in PutContent leaves behind and
// checks that nobody sees it and nothing breaks.
func TestTempFilesInvisible(t *testing.T) {
	ctx, d := t.Context(), newTestDriver(t)
	if err := d.PutContent(ctx, "a/real", []byte("real")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"a/" + tempPrefix + "crash1", "b/" + tempPrefix + "crash2", "a/" + tempPrefix + "dir/x"} {
		full := filepath.Join(d.root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte("half-writ"), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	if got, err := d.List(ctx, "a"); err != nil || !slices.Equal(got, []string{"a/real"}) {
		t.Errorf("List(a) = %q, %v; want [a/real]", got, err)
	}
	if got, err := d.List(ctx, "b"); err != nil || len(got) != 0 {
		t.Errorf("List(b) = %q, %v; want nothing", got, err)
	}
	var walked []string
	for _, p := range []string{"a", "b"} {
		err := d.Walk(ctx, p, func(fi driver.FileInfo) error {
			walked = append(walked, fi.Path)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(walked, []string{"a/real"}) {
		t.Errorf("Walk reported %q; want [a/real]", walked)
	}
	if _, err := d.Stat(ctx, "a/"+tempPrefix+"crash1"); err == nil {
		t.Errorf("Stat of a temporary file: no error")
	}
	// Writing and deleting around the leftovers works.
	if err := d.PutContent(ctx, "b/x", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := d.PutContent(ctx, "a/real", []byte("new")); err != nil {
		t.Fatal(err)
	}
	if err := d.Delete(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(d.root, "b")); !os.IsNotExist(err) {
		t.Errorf("Delete(b) left the directory with its temporary file: %v", err)
	}
}

// TestPutContentAtomicForReaders rewrites a path while readers read it: each
// read is one whole version, never a mix or a truncated file.
func TestPutContentAtomicForReaders(t *testing.T) {
	ctx, d := t.Context(), newTestDriver(t)
	versions := [][]byte{
		bytes.Repeat([]byte("a"), 64*1024),
		bytes.Repeat([]byte("b"), 192*1024+1),
	}
	if err := d.PutContent(ctx, "m", versions[0]); err != nil {
		t.Fatal(err)
	}
	check := func(how string, got []byte) bool {
		if !bytes.Equal(got, versions[0]) && !bytes.Equal(got, versions[1]) {
			t.Errorf("%s read %d bytes that are no whole version", how, len(got))
			return false
		}
		return true
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for range 100000 {
			select {
			case <-done:
				return
			default:
			}
			got, err := d.GetContent(ctx, "m")
			if err != nil || !check("GetContent", got) {
				t.Errorf("GetContent: %v", err)
				return
			}
		}
	})
	wg.Go(func() {
		for range 100000 {
			select {
			case <-done:
				return
			default:
			}
			r, err := d.Reader(ctx, "m", 0)
			if err != nil {
				t.Errorf("Reader: %v", err)
				return
			}
			got, err := io.ReadAll(r)
			r.Close()
			if err != nil || !check("Reader", got) {
				t.Errorf("Reader: %v", err)
				return
			}
		}
	})
	for i := range 300 {
		if err := d.PutContent(ctx, "m", versions[i%2]); err != nil {
			t.Errorf("PutContent: %v", err)
			break
		}
	}
	close(done)
	wg.Wait()
}

// TestNewCreatesRoot creates missing parents of the root, and refuses a file.
func TestNewCreatesRoot(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "x", "y", "z")
	if _, err := New(root); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
		t.Fatalf("root after New: %v", err)
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := New(file); err == nil {
		t.Errorf("New on a file: no error")
	}
}

// TestSweepTemp: leftovers older than the cutoff go (a dry run only counts
// them); recent ones, checkpoint sidecars and real content stay.
func TestSweepTemp(t *testing.T) {
	ctx, d := t.Context(), newTestDriver(t)
	if err := d.PutContent(ctx, "a/real", []byte("real")); err != nil {
		t.Fatal(err)
	}
	w, err := d.Writer(ctx, "up/data", 0)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("chunk"))
	if err := w.Checkpoint(ctx, []byte("meta")); err != nil {
		t.Fatal(err)
	}
	w.Close()
	old := time.Now().Add(-2 * time.Hour)
	plant := func(p string, size int, mtime time.Time) {
		full := filepath.Join(d.root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, make([]byte, size), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(full, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	plant(tempPrefix+"spool", 1000, old)         // a fetch spool cut short
	plant("a/"+tempPrefix+"put", 10, old)        // a PutContent cut short
	plant("a/"+tempPrefix+"live", 7, time.Now()) // a write under way
	sidecars, _ := filepath.Glob(filepath.Join(d.root, "up", tempPrefix+"ckpt.*"))
	if len(sidecars) == 0 {
		t.Fatal("the checkpoint left no sidecar to protect")
	}
	for _, s := range sidecars {
		os.Chtimes(s, old, old)
	}
	cutoff := time.Now().Add(-time.Hour)

	if n, b, err := d.SweepTemp(ctx, cutoff, true); err != nil || n != 2 || b != 1010 {
		t.Errorf("dry SweepTemp = %d files, %d bytes, %v; want 2, 1010", n, b, err)
	}
	if _, err := os.Stat(filepath.Join(d.root, tempPrefix+"spool")); err != nil {
		t.Errorf("a dry run removed a file: %v", err)
	}
	if n, b, err := d.SweepTemp(ctx, cutoff, false); err != nil || n != 2 || b != 1010 {
		t.Errorf("SweepTemp = %d files, %d bytes, %v; want 2, 1010", n, b, err)
	}
	for _, p := range []string{tempPrefix + "spool", "a/" + tempPrefix + "put"} {
		if _, err := os.Stat(filepath.Join(d.root, p)); !os.IsNotExist(err) {
			t.Errorf("%s survived the sweep: %v", p, err)
		}
	}
	for _, p := range append([]string{filepath.Join(d.root, "a", tempPrefix+"live")}, sidecars...) {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s was swept: %v", p, err)
		}
	}
	if b, err := d.GetContent(ctx, "a/real"); err != nil || string(b) != "real" {
		t.Errorf("a/real = %q, %v", b, err)
	}
	w, err = d.Writer(ctx, "up/data", 5)
	if err != nil || string(w.Meta()) != "meta" {
		t.Errorf("resuming the upload after the sweep: %v, meta %q", err, w.Meta())
	}
	if w != nil {
		w.Close()
	}
}
