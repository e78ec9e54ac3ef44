package filesystem

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/shadowreg/shadowreg/storage/driver"
)

// fileSize is the size of path's file on disk.
func fileSize(t *testing.T, d *Driver, path string) int64 {
	t.Helper()
	fi, err := os.Stat(filepath.Join(d.root, path))
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestWriterUnbuffered checks that writes reach the file at once: no buffer
// sits between the upload and the disk.
func TestWriterUnbuffered(t *testing.T) {
	ctx, d := t.Context(), newTestDriver(t)
	w, err := d.Writer(ctx, "u", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Write(make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	if got := fileSize(t, d, "u"); got != 1000 {
		t.Errorf("file holds %d bytes after a 1000-byte Write", got)
	}
}

// TestWriterResumeAfterCrash resumes a file that holds bytes past its last
// checkpoint, as kill -9 during a write leaves it: they are dropped.
func TestWriterResumeAfterCrash(t *testing.T) {
	ctx, d := t.Context(), newTestDriver(t)
	w, err := d.Writer(ctx, "u/data", 0)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("checkpointed "))
	if err := w.Checkpoint(ctx, nil); err != nil {
		t.Fatal(err)
	}
	// The crashed writer's unacknowledged bytes.
	f, err := os.OpenFile(filepath.Join(d.root, "u/data"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("lost in the crash"))
	f.Close()

	w, err = d.Writer(ctx, "u/data", int64(len("checkpointed ")))
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("and resumed"))
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := d.GetContent(ctx, "u/data")
	if err != nil || string(got) != "checkpointed and resumed" {
		t.Errorf("content = %q, %v", got, err)
	}
}

// TestWriterCloseTruncates checks the file itself after Close without a
// checkpoint: it is back at the writer's starting offset.
func TestWriterCloseTruncates(t *testing.T) {
	ctx, d := t.Context(), newTestDriver(t)
	if err := d.PutContent(ctx, "u", bytes.Repeat([]byte("x"), 100)); err != nil {
		t.Fatal(err)
	}
	w, err := d.Writer(ctx, "u", 60)
	if err != nil {
		t.Fatal(err)
	}
	if got := fileSize(t, d, "u"); got != 60 {
		t.Errorf("resuming at 60 left %d bytes", got)
	}
	w.Write(make([]byte, 500))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := fileSize(t, d, "u"); got != 60 {
		t.Errorf("Close without checkpoint left %d bytes, want 60", got)
	}
}

func TestWriterBadOffsets(t *testing.T) {
	ctx, d := t.Context(), newTestDriver(t)
	if err := d.PutContent(ctx, "u", make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	for _, off := range []int64{-1, 11} {
		if w, err := d.Writer(ctx, "u", off); err == nil {
			w.Close()
			t.Errorf("Writer at %d of 10 bytes: no error", off)
		} else if errors.Is(err, driver.ErrNotFound) {
			t.Errorf("Writer at %d of 10 bytes: %v, which is not a missing path", off, err)
		}
	}
	if r, err := d.Reader(ctx, "u", -1); err == nil {
		r.Close()
		t.Errorf("Reader at -1: no error")
	}
}

// TestWriterDone checks that a writer refuses work after it ended.
func TestWriterDone(t *testing.T) {
	ctx, d := t.Context(), newTestDriver(t)
	w, err := d.Writer(ctx, "u", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("late")); err == nil {
		t.Errorf("Write after Commit: no error")
	}
	if err := w.Checkpoint(ctx, nil); err == nil {
		t.Errorf("Checkpoint after Commit: no error")
	}
	if err := w.Cancel(ctx); err == nil {
		t.Errorf("Cancel after Commit: no error")
	}
	if _, err := d.Stat(ctx, "u"); err != nil {
		t.Errorf("committed file gone: %v", err)
	}
}

// TestCommitAfterDelete refuses to acknowledge bytes written to a file that
// was deleted meanwhile.
func TestCommitAfterDelete(t *testing.T) {
	ctx, d := t.Context(), newTestDriver(t)
	w, err := d.Writer(ctx, "u/data", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.Write([]byte("doomed"))
	if err := d.Delete(ctx, "u"); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(ctx); !errors.Is(err, driver.ErrNotFound) {
		t.Errorf("Commit after Delete = %v, want not found", err)
	}
}

// TestWriterCanceledContext stops writes once the Writer's context is done.
func TestWriterCanceledContext(t *testing.T) {
	d := newTestDriver(t)
	ctx, cancel := context.WithCancel(t.Context())
	w, err := d.Writer(ctx, "u", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	cancel()
	if _, err := w.Write([]byte("x")); err == nil {
		t.Errorf("Write after the Writer's context was canceled: no error")
	}
}
