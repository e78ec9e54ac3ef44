package drivertest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/shadowreg/shadowreg/storage/driver"
)

func (s suite) testConcurrent(t *testing.T) {
	t.Run("PutContentSamePath", s.testConcurrentPutSamePath)
	t.Run("WritersDifferentPaths", s.testConcurrentWriters)
}

// testConcurrentPutSamePath has 8 goroutines store distinct content at one
// path while another reads it: every read, and the final content, is exactly
// one of them.
func (s suite) testConcurrentPutSamePath(t *testing.T) {
	ctx, d := s.setup(t)
	const path, writers, rounds = "same/path", 8, 3
	versions := make([][]byte, writers+1)
	for i := range versions {
		versions[i] = data(uint64(60+i), 128*1024+i*1021)
	}
	isVersion := func(b []byte) bool {
		return slices.ContainsFunc(versions, func(v []byte) bool { return bytes.Equal(v, b) })
	}
	put(t, ctx, d, path, versions[writers])

	done := make(chan struct{})
	var readers, puts sync.WaitGroup
	readers.Go(func() {
		for range 10000 {
			select {
			case <-done:
				return
			default:
			}
			got, err := d.GetContent(ctx, path)
			if err != nil {
				t.Errorf("GetContent during PutContent: %v", err)
				return
			}
			if !isVersion(got) {
				t.Errorf("GetContent during PutContent returned %d bytes that are no whole version", len(got))
				return
			}
		}
	})
	for i := range writers {
		puts.Go(func() {
			for range rounds {
				if err := d.PutContent(ctx, path, versions[i]); err != nil {
					t.Errorf("PutContent by writer %d: %v", i, err)
					return
				}
			}
		})
	}
	puts.Wait()
	close(done)
	readers.Wait()
	got, err := d.GetContent(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if !isVersion(got) || bytes.Equal(got, versions[writers]) {
		t.Errorf("after concurrent PutContent the path holds %d bytes that are none of the writers' content", len(got))
	}
}

// testConcurrentWriters runs resumable uploads side by side in one directory.
func (s suite) testConcurrentWriters(t *testing.T) {
	ctx, d := s.setup(t)
	const uploads = 8
	contents := make([][]byte, uploads)
	var wg sync.WaitGroup
	for i := range uploads {
		contents[i] = data(uint64(70+i), 2*mib+i*333)
		wg.Go(func() {
			path := fmt.Sprintf("uploads/u%d/data", i)
			half := len(contents[i]) / 2
			if err := writeChunk(ctx, d, path, 0, contents[i][:half], false); err != nil {
				t.Error(err)
				return
			}
			if err := writeChunk(ctx, d, path, half, contents[i][half:], true); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for i := range uploads {
		checkContent(t, ctx, d, fmt.Sprintf("uploads/u%d/data", i), contents[i])
	}
}

// writeChunk is writeAt for goroutines: it returns its error.
func writeChunk(ctx context.Context, d driver.Driver, path string, offset int, b []byte, commit bool) error {
	w, err := d.Writer(ctx, path, int64(offset))
	if err != nil {
		return fmt.Errorf("Writer(%q, %d): %w", path, offset, err)
	}
	defer w.Close()
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("Write to %q: %w", path, err)
	}
	if got, want := w.Size(), int64(offset+len(b)); got != want {
		return fmt.Errorf("Size() of %q = %d; want %d", path, got, want)
	}
	end := func(ctx context.Context) error { return w.Checkpoint(ctx, checkpointMeta(w.Size())) }
	if commit {
		end = w.Commit
	}
	if err := end(ctx); err != nil {
		return fmt.Errorf("ending writer of %q: %w", path, err)
	}
	return w.Close()
}
