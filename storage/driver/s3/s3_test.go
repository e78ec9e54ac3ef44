package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/shadowreg/shadowreg/storage/driver"
	"github.com/shadowreg/shadowreg/storage/driver/drivertest"
)

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// randomBytes is n reproducible pseudo-random bytes.
func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	r.Read(b)
	return b
}

// TestDriver runs the conformance suite that every driver passes.
func TestDriver(t *testing.T) {
	drivertest.Run(t, func(t *testing.T) driver.Driver { return newTestDriver(t) })
}

func TestBasics(t *testing.T) {
	ctx := testCtx(t)
	d := newTestDriver(t)

	if _, err := d.GetContent(ctx, "a/missing"); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("GetContent(missing) = %v, want ErrNotFound", err)
	}
	for _, p := range []string{"a/b/c", "a/b/d", "a/e", "a-x", "z"} {
		if err := d.PutContent(ctx, p, []byte("content of "+p)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := d.GetContent(ctx, "a/b/c")
	if err != nil || string(got) != "content of a/b/c" {
		t.Fatalf("GetContent = %q, %v", got, err)
	}

	fi, err := d.Stat(ctx, "a/e")
	if err != nil || fi.IsDir || fi.Size != int64(len("content of a/e")) || fi.ModTime.IsZero() {
		t.Fatalf("Stat(file) = %+v, %v", fi, err)
	}
	if fi, err := d.Stat(ctx, "a/b"); err != nil || !fi.IsDir {
		t.Fatalf("Stat(dir) = %+v, %v", fi, err)
	}
	if _, err := d.Stat(ctx, "a/nope"); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("Stat(missing) = %v", err)
	}

	list, err := d.List(ctx, "a")
	if want := []string{"a/b", "a/e"}; err != nil || !slices.Equal(list, want) {
		t.Fatalf("List(a) = %v, %v; want %v", list, err, want)
	}
	if _, err := d.List(ctx, "nope"); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("List(missing) = %v", err)
	}

	var walked []string
	if err := d.Walk(ctx, "a", func(fi driver.FileInfo) error {
		walked = append(walked, fi.Path)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"a/b/c", "a/b/d", "a/e"}; !slices.Equal(walked, want) {
		t.Fatalf("Walk(a) = %v, want %v", walked, want)
	}
	walked = nil
	if err := d.Walk(ctx, "a", func(fi driver.FileInfo) error {
		walked = append(walked, fi.Path)
		return driver.SkipAll
	}); err != nil || len(walked) != 1 {
		t.Fatalf("Walk with SkipAll: %v, %v", walked, err)
	}

	if err := d.Move(ctx, "a/e", "m/moved"); err != nil {
		t.Fatal(err)
	}
	if got, err := d.GetContent(ctx, "m/moved"); err != nil || string(got) != "content of a/e" {
		t.Fatalf("after Move: %q, %v", got, err)
	}
	if _, err := d.Stat(ctx, "a/e"); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("Move left its source: %v", err)
	}
	if err := d.Move(ctx, "a/e", "m/x"); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("Move(missing) = %v", err)
	}

	// Delete("a") takes a/... but not its neighbour a-x.
	if err := d.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Stat(ctx, "a"); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("Stat after Delete = %v", err)
	}
	if _, err := d.Stat(ctx, "a-x"); err != nil {
		t.Fatalf("Delete(a) took a-x: %v", err)
	}
	if err := d.Delete(ctx, "a"); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("Delete(missing) = %v", err)
	}
}

// TestMoveInParts moves an object bigger than the copy limit (5 GiB, lowered
// here), which S3 copies with UploadPartCopy.
func TestMoveInParts(t *testing.T) {
	ctx := testCtx(t)
	d := newTestDriver(t)
	d.copyPart = 8 * mib // two even parts of 6 MiB
	want := randomBytes(12*mib+3, 16)
	if err := d.PutContent(ctx, "uploads/u/data", want); err != nil {
		t.Fatal(err)
	}
	if err := d.Move(ctx, "uploads/u/data", "blobs/b"); err != nil {
		t.Fatal(err)
	}
	checkContent(t, d, "blobs/b", want)
	if _, err := d.Stat(ctx, "uploads/u/data"); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("Move left its source: %v", err)
	}
}

func TestReaderOffsets(t *testing.T) {
	ctx := testCtx(t)
	d := newTestDriver(t)
	if err := d.PutContent(ctx, "f", []byte("0123456789")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		offset int64
		want   string
		err    bool
	}{{0, "0123456789", false}, {4, "456789", false}, {10, "", false}, {11, "", true}} {
		rc, err := d.Reader(ctx, "f", tc.offset)
		if tc.err {
			if err == nil {
				rc.Close()
				t.Errorf("Reader(%d): no error", tc.offset)
			}
			continue
		}
		if err != nil {
			t.Fatalf("Reader(%d): %v", tc.offset, err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || string(b) != tc.want {
			t.Errorf("Reader(%d) = %q, %v; want %q", tc.offset, b, err, tc.want)
		}
	}
	if _, err := d.Reader(ctx, "nope", 0); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("Reader(missing) = %v", err)
	}
}

func TestPresignedURL(t *testing.T) {
	ctx := testCtx(t)
	d := newTestDriver(t)
	want := randomBytes(100<<10, 1)
	if err := d.PutContent(ctx, "blobs/x", want); err != nil {
		t.Fatal(err)
	}
	u, err := d.URLFor(ctx, "blobs/x", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(u) // a plain client: no credentials, only the signature in the URL
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || !bytes.Equal(got, want) {
		t.Fatalf("GET presigned URL: %s, %d bytes, %v", resp.Status, len(got), err)
	}

	c := testConfig(uniquePrefix(t))
	c.Redirect = false
	if _, err := openDriver(t, c).URLFor(ctx, "blobs/x", time.Minute); err == nil {
		t.Fatal("URLFor with redirects off: no error")
	}
}

func TestNewChecksBucket(t *testing.T) {
	c := testConfig("x")
	c.Bucket = "no-such-bucket"
	if _, err := New(testCtx(t), c); err == nil {
		t.Fatal("New on a missing bucket: no error")
	}
	c = testConfig("x")
	c.SecretKey = "wrong"
	if _, err := New(testCtx(t), c); err == nil {
		t.Fatal("New with a wrong secret: no error")
	}
}

func TestInvalidPaths(t *testing.T) {
	ctx := testCtx(t)
	d := newTestDriver(t)
	for _, p := range []string{"", "/abs", "a//b", "a/./b", "a/../b", "a/"} {
		if err := d.PutContent(ctx, p, nil); !errors.Is(err, driver.ErrInvalidPath) {
			t.Errorf("PutContent(%q) = %v, want invalid path", p, err)
		}
	}
}

// TestWriteBesideDelete writes next to folders that are emptied and deleted
// over and over. A single-drive MinIO removes emptied folders, and a write
// into one at that moment fails with AccessDenied unless retried (retry.go).
func TestWriteBesideDelete(t *testing.T) {
	ctx := testCtx(t)
	d := newTestDriver(t)
	const rounds = 60
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range rounds {
			if err := d.PutContent(ctx, "p/a/x/f", []byte("x")); err != nil {
				t.Errorf("round %d: %v", i, err)
				return
			}
			if err := d.Delete(ctx, "p/a/x/f"); err != nil {
				t.Errorf("round %d: %v", i, err)
				return
			}
		}
	})
	wg.Go(func() {
		for i := range rounds {
			dir := fmt.Sprintf("p/a/y%d", i)
			if err := d.PutContent(ctx, dir+"/f", []byte(dir)); err != nil {
				t.Errorf("round %d: %v", i, err)
				return
			}
			w, err := d.Writer(ctx, dir+"/w", 0)
			if err == nil {
				_, err = w.Write([]byte(dir))
			}
			if err == nil {
				err = w.Commit(ctx)
			}
			if err != nil {
				t.Errorf("round %d: writer: %v", i, err)
				return
			}
			if err := d.Move(ctx, dir+"/w", dir+"/m"); err != nil {
				t.Errorf("round %d: move: %v", i, err)
				return
			}
			if err := d.Delete(ctx, dir); err != nil {
				t.Errorf("round %d: %v", i, err)
				return
			}
		}
	})
	wg.Wait()
}
