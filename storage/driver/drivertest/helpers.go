package drivertest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/shadowreg/shadowreg/storage/driver"
)

// testTimeout bounds every subtest, so a driver that hangs (a stuck HTTP
// request) fails the test instead of stalling the run.
const testTimeout = 2 * time.Minute

// mib is a mebibyte.
const mib = 1 << 20

// setup returns a bounded context and a fresh driver for one subtest.
func (s suite) setup(t *testing.T) (context.Context, driver.Driver) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	return ctx, s.newDriver(t)
}

// data returns n deterministic pseudo-random bytes; distinct seeds give
// distinct content.
func data(seed uint64, n int) []byte {
	var key [32]byte
	key[0], key[1] = byte(seed), byte(seed>>8)
	b := make([]byte, n)
	rand.NewChaCha8(key).Read(b)
	return b
}

// oddSizes are the sizes writeOdd cycles through: primes and small numbers,
// so that writes never line up with buffers or part sizes.
var oddSizes = []int{1, 4093, 3, 65537, 7, mib + 13, 211, 31337, 2*mib - 1}

// writeOdd writes b to w in odd-sized writes, checking Size after each.
func writeOdd(t *testing.T, w driver.FileWriter, b []byte) {
	t.Helper()
	start := w.Size()
	for i, off := 0, 0; off < len(b); i++ {
		n := min(oddSizes[i%len(oddSizes)], len(b)-off)
		m, err := w.Write(b[off : off+n])
		if err != nil {
			t.Fatalf("Write of %d bytes at %d: %v", n, start+int64(off), err)
		}
		if m != n {
			t.Fatalf("Write of %d bytes wrote %d", n, m)
		}
		off += n
		if got, want := w.Size(), start+int64(off); got != want {
			t.Fatalf("Size() = %d after writing to %d", got, want)
		}
	}
}

// newWriter opens a writer and checks that its Size starts at offset. The
// writer is closed at cleanup: Close must be safe after anything.
func newWriter(t *testing.T, ctx context.Context, d driver.Driver, path string, offset int64) driver.FileWriter {
	t.Helper()
	w, err := d.Writer(ctx, path, offset)
	if err != nil {
		t.Fatalf("Writer(%q, %d): %v", path, offset, err)
	}
	t.Cleanup(func() {
		if err := w.Close(); err != nil {
			t.Errorf("Close of writer %q at %d: %v", path, offset, err)
		}
	})
	if got := w.Size(); got != offset {
		t.Fatalf("Writer(%q, %d).Size() = %d", path, offset, got)
	}
	return w
}

// writeAt writes b with a new writer at offset and ends it with Checkpoint or
// Commit.
func writeAt(t *testing.T, ctx context.Context, d driver.Driver, path string, offset int64, b []byte, commit bool) {
	t.Helper()
	w := newWriter(t, ctx, d, path, offset)
	writeOdd(t, w, b)
	end, endName := func(ctx context.Context) error { return w.Checkpoint(ctx, checkpointMeta(w.Size())) }, "Checkpoint"
	if commit {
		end, endName = w.Commit, "Commit"
	}
	if err := end(ctx); err != nil {
		t.Fatalf("%s of %q at size %d: %v", endName, path, w.Size(), err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close after %s: %v", endName, err)
	}
}

func put(t *testing.T, ctx context.Context, d driver.Driver, path string, b []byte) {
	t.Helper()
	if err := d.PutContent(ctx, path, b); err != nil {
		t.Fatalf("PutContent(%q): %v", path, err)
	}
}

// putAll stores a small distinct content at each path.
func putAll(t *testing.T, ctx context.Context, d driver.Driver, paths ...string) {
	t.Helper()
	for _, p := range paths {
		put(t, ctx, d, p, []byte("content of "+p))
	}
}

// readFrom reads path from offset to the end through Reader.
func readFrom(ctx context.Context, d driver.Driver, path string, offset int64) ([]byte, error) {
	r, err := d.Reader(ctx, path, offset)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(r)
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	return b, err
}

// checkContent checks that path is a file holding want, through Stat, Reader
// and, for small content, GetContent.
func checkContent(t *testing.T, ctx context.Context, d driver.Driver, path string, want []byte) {
	t.Helper()
	fi, err := d.Stat(ctx, path)
	if err != nil {
		t.Fatalf("Stat(%q): %v", path, err)
	}
	if fi.IsDir || fi.Size != int64(len(want)) {
		t.Errorf("Stat(%q) = IsDir %v, Size %d; want a file of %d bytes", path, fi.IsDir, fi.Size, len(want))
	}
	got, err := readFrom(ctx, d, path, 0)
	if err != nil {
		t.Fatalf("reading %q: %v", path, err)
	}
	if err := sameBytes(got, want); err != nil {
		t.Errorf("Reader(%q): %v", path, err)
	}
	if len(want) > mib {
		return
	}
	got, err = d.GetContent(ctx, path)
	if err != nil {
		t.Fatalf("GetContent(%q): %v", path, err)
	}
	if err := sameBytes(got, want); err != nil {
		t.Errorf("GetContent(%q): %v", path, err)
	}
}

// sameBytes describes how got differs from want without dumping megabytes.
func sameBytes(got, want []byte) error {
	if bytes.Equal(got, want) {
		return nil
	}
	at := 0
	for at < min(len(got), len(want)) && got[at] == want[at] {
		at++
	}
	return fmt.Errorf("got %d bytes (sha256 %x), want %d bytes (sha256 %x); first difference at byte %d",
		len(got), sha256.Sum256(got), len(want), sha256.Sum256(want), at)
}

func requireNotFound(t *testing.T, err error, what string) {
	t.Helper()
	if !errors.Is(err, driver.ErrNotFound) {
		t.Errorf("%s: got error %v, want one wrapping driver.ErrNotFound", what, err)
	}
}

// walkAll returns the paths Walk reports, failing on an error or a directory.
func walkAll(t *testing.T, ctx context.Context, d driver.Driver, path string) []string {
	t.Helper()
	var got []string
	err := d.Walk(ctx, path, func(fi driver.FileInfo) error {
		if fi.IsDir {
			t.Errorf("Walk(%q) reported directory %q", path, fi.Path)
		}
		got = append(got, fi.Path)
		return nil
	})
	if err != nil {
		t.Fatalf("Walk(%q): %v", path, err)
	}
	return got
}
