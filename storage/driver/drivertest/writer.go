package drivertest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"

	"github.com/shadowreg/shadowreg/storage/driver"
)

func (s suite) testWriter(t *testing.T) {
	t.Run("Large", s.testWriterLarge)
	t.Run("Empty", s.testWriterEmpty)
	t.Run("Resume", s.testWriterResume)
	t.Run("ResumeEarlier", s.testWriterResumeEarlier)
	t.Run("ResumeBeyondCheckpoint", s.testWriterResumeBeyond)
	t.Run("CloseDiscards", s.testWriterCloseDiscards)
	t.Run("CloseNewLeavesNothing", s.testWriterCloseNew)
	t.Run("Cancel", s.testWriterCancel)
	t.Run("Overwrite", s.testWriterOverwrite)
	t.Run("Copy", s.testWriterCopy)
	t.Run("CommitThenMove", s.testWriterCommitThenMove)
	t.Run("DeleteCheckpointed", s.testWriterDeleteCheckpointed)
	t.Run("CheckpointMeta", s.testWriterCheckpointMeta)
}

// checkpointMeta is the meta the suite's writers checkpoint with: it names
// the size, so a resume that hands back another checkpoint's meta shows.
func checkpointMeta(size int64) []byte { return fmt.Appendf(nil, "meta@%d", size) }

// testWriterCheckpointMeta: a checkpoint's meta comes back with the writer
// that resumes it — the latest, or an earlier one — and new content has none.
func (s suite) testWriterCheckpointMeta(t *testing.T) {
	ctx, d := s.setup(t)
	const path = "uploads/m/data"
	b := data(77, 6*mib+5)
	meta := func(offset int64) []byte {
		t.Helper()
		w := newWriter(t, ctx, d, path, offset)
		defer w.Close()
		return w.Meta()
	}
	writeAt(t, ctx, d, path, 0, b[:mib], false)
	writeAt(t, ctx, d, path, mib, b[mib:6*mib], false)
	if got := meta(6 * mib); string(got) != string(checkpointMeta(6*mib)) {
		t.Fatalf("Meta after resuming at the last checkpoint = %q, want %q", got, checkpointMeta(6*mib))
	}
	// Resuming the earlier checkpoint gives its own meta (and drops the later
	// checkpoint); a new checkpoint there replaces it.
	if got := meta(mib); string(got) != string(checkpointMeta(mib)) {
		t.Fatalf("Meta after resuming the earlier checkpoint = %q, want %q", got, checkpointMeta(mib))
	}
	w := newWriter(t, ctx, d, path, mib)
	writeOdd(t, w, b[mib:2*mib])
	if err := w.Checkpoint(ctx, []byte("second@2mib")); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if got := meta(2 * mib); string(got) != "second@2mib" {
		t.Fatalf("Meta of a replaced checkpoint = %q", got)
	}
	// Checkpointing nothing new can still change the meta.
	w = newWriter(t, ctx, d, path, 2*mib)
	if err := w.Checkpoint(ctx, []byte("again@2mib")); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if got := meta(2 * mib); string(got) != "again@2mib" {
		t.Fatalf("Meta after an empty checkpoint with a new meta = %q", got)
	}
	if got := meta(0); got != nil {
		t.Fatalf("Meta of new content = %q, want nil", got)
	}
}

// testWriterLarge writes 24 mib in odd-sized writes and reads it back whole
// and from the middle.
func (s suite) testWriterLarge(t *testing.T) {
	ctx, d := s.setup(t)
	const path = "blobs/large"
	content := data(10, 24*mib)
	writeAt(t, ctx, d, path, 0, content, true)
	checkContent(t, ctx, d, path, content)
	mid := int64(len(content)/2 + 1)
	got, err := readFrom(ctx, d, path, mid)
	if err != nil {
		t.Fatalf("Reader at %d: %v", mid, err)
	}
	if err := sameBytes(got, content[mid:]); err != nil {
		t.Errorf("Reader at %d: %v", mid, err)
	}
}

func (s suite) testWriterEmpty(t *testing.T) {
	ctx, d := s.setup(t)
	writeAt(t, ctx, d, "empty", 0, nil, true)
	checkContent(t, ctx, d, "empty", nil)
}

// testWriterResume continues content through a new writer per checkpoint, as
// an upload in chunks does, possibly on other replicas. The sizes straddle
// the 5 mib minimum part size of S3 multipart uploads.
func (s suite) testWriterResume(t *testing.T) {
	tests := []struct {
		name        string
		checkpoints []int // bytes each writer writes before Checkpoint
		last        int   // bytes the final writer writes before Commit
	}{
		{"SmallPartsThenLargeThenOneByte", []int{mib, mib, mib, mib, mib, mib, mib, 6*mib + 3, 1}, 0},
		{"CommitWithData", []int{mib, mib}, 5},
		{"SingleBytes", []int{1, 1, 1}, 1},
		{"EmptyFirstCheckpoint", []int{0, mib}, mib + 1},
		{"ExactPartSize", []int{5 * mib, 5 * mib}, 1},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, d := s.setup(t)
			const path = "uploads/u/data"
			total := tt.last
			for _, n := range tt.checkpoints {
				total += n
			}
			content := data(uint64(100+i), total)
			off := 0
			for _, n := range tt.checkpoints {
				writeAt(t, ctx, d, path, int64(off), content[off:off+n], false)
				off += n
			}
			writeAt(t, ctx, d, path, int64(off), content[off:], true)
			checkContent(t, ctx, d, path, content)
		})
	}
}

// testWriterResumeEarlier resumes at a checkpoint before the last one: the
// bytes checkpointed after it are discarded.
func (s suite) testWriterResumeEarlier(t *testing.T) {
	tests := []struct {
		name        string
		checkpoints []int
		keep        int // checkpoints kept: the resume offset is after these
		last        int
	}{
		{"SmallParts", []int{mib, mib, mib}, 1, 512*1024 + 7},
		{"AfterLargePart", []int{6 * mib, mib}, 1, 100},
		{"AtStart", []int{mib}, 0, 10},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, d := s.setup(t)
			const path = "uploads/u/data"
			total := 0
			for _, n := range tt.checkpoints {
				total += n
			}
			first := data(uint64(200+i), total)
			off := 0
			for _, n := range tt.checkpoints {
				writeAt(t, ctx, d, path, int64(off), first[off:off+n], false)
				off += n
			}
			resume := 0
			for _, n := range tt.checkpoints[:tt.keep] {
				resume += n
			}
			rest := data(uint64(300+i), tt.last)
			writeAt(t, ctx, d, path, int64(resume), rest, true)
			checkContent(t, ctx, d, path, slices.Concat(first[:resume], rest))
		})
	}
}

func (s suite) testWriterResumeBeyond(t *testing.T) {
	ctx, d := s.setup(t)
	const path = "uploads/u/data"
	writeAt(t, ctx, d, path, 0, data(4, 1000), false)
	for _, off := range []int64{1001, 2000} {
		if w, err := d.Writer(ctx, path, off); err == nil {
			w.Close()
			t.Errorf("Writer at %d after a checkpoint at 1000: no error", off)
		}
	}
}

// testWriterCloseDiscards closes a resumed writer without a checkpoint: its
// bytes are gone and the upload resumes at the last checkpoint.
func (s suite) testWriterCloseDiscards(t *testing.T) {
	ctx, d := s.setup(t)
	const path = "uploads/u/data"
	a, b, c := data(20, mib), data(21, 300*1024), data(22, 4099)
	writeAt(t, ctx, d, path, 0, a, false)

	w, err := d.Writer(ctx, path, int64(len(a)))
	if err != nil {
		t.Fatalf("Writer at %d: %v", len(a), err)
	}
	writeOdd(t, w, b)
	if err := w.Close(); err != nil {
		t.Fatalf("Close without checkpoint: %v", err)
	}
	if w, err := d.Writer(ctx, path, int64(len(a)+len(b))); err == nil {
		w.Close()
		t.Errorf("Writer after bytes that were closed without a checkpoint: no error")
	}
	writeAt(t, ctx, d, path, int64(len(a)), c, true)
	checkContent(t, ctx, d, path, slices.Concat(a, c))
}

// testWriterCloseNew closes a new writer without a checkpoint: none of its
// bytes were ever acknowledged, so there is nothing at the path.
func (s suite) testWriterCloseNew(t *testing.T) {
	ctx, d := s.setup(t)
	w, err := d.Writer(ctx, "uploads/u/data", 0)
	if err != nil {
		t.Fatal(err)
	}
	writeOdd(t, w, data(5, 70000))
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	_, err = d.Stat(ctx, "uploads/u/data")
	requireNotFound(t, err, "Stat after closing a new writer without a checkpoint")
}

func (s suite) testWriterCancel(t *testing.T) {
	tests := []struct {
		name       string
		checkpoint int // bytes checkpointed before the canceled writer; 0: none
	}{
		{"New", 0},
		{"AfterCheckpoint", mib + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, d := s.setup(t)
			const path = "uploads/u/data"
			if tt.checkpoint > 0 {
				writeAt(t, ctx, d, path, 0, data(6, tt.checkpoint), false)
			}
			w := newWriter(t, ctx, d, path, int64(tt.checkpoint))
			writeOdd(t, w, data(7, 5000))
			if err := w.Cancel(ctx); err != nil {
				t.Fatalf("Cancel: %v", err)
			}
			_, err := d.Stat(ctx, path)
			requireNotFound(t, err, "Stat after Cancel")
			if tt.checkpoint > 0 {
				w, err := d.Writer(ctx, path, int64(tt.checkpoint))
				if err == nil {
					w.Close()
				}
				requireNotFound(t, err, "Writer at the checkpoint after Cancel")
			}
		})
	}
}

// testWriterOverwrite starts new content at offset 0 over committed content.
func (s suite) testWriterOverwrite(t *testing.T) {
	ctx, d := s.setup(t)
	const path = "o"
	put(t, ctx, d, path, data(8, 100000))
	writeAt(t, ctx, d, path, 0, data(9, 70000), true)
	checkContent(t, ctx, d, path, data(9, 70000))
	short := []byte("short")
	writeAt(t, ctx, d, path, 0, short, true)
	checkContent(t, ctx, d, path, short)
}

// testWriterCopy fills writers with io.Copy, which takes fast paths
// (io.ReaderFrom, io.WriterTo) that plain writes do not.
func (s suite) testWriterCopy(t *testing.T) {
	ctx, d := s.setup(t)
	content := data(11, 3*mib+5)
	copyTo := func(path string, r io.Reader) {
		t.Helper()
		w := newWriter(t, ctx, d, path, 0)
		n, err := io.Copy(w, r)
		if err != nil || n != int64(len(content)) {
			t.Fatalf("io.Copy into %q = %d, %v; want %d", path, n, err, len(content))
		}
		if w.Size() != n {
			t.Fatalf("Size() = %d after copying %d bytes", w.Size(), n)
		}
		if err := w.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// A reader with no WriteTo method, as an HTTP request body.
	copyTo("a", struct{ io.Reader }{bytes.NewReader(content)})
	checkContent(t, ctx, d, "a", content)
	// The driver's own reader: a file on a filesystem.
	r, err := d.Reader(ctx, "a", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	copyTo("b", r)
	checkContent(t, ctx, d, "b", content)
}

func (s suite) testWriterCommitThenMove(t *testing.T) {
	ctx, d := s.setup(t)
	content := data(12, 2*mib+1)
	writeAt(t, ctx, d, "uploads/u/data", 0, content[:mib], false)
	writeAt(t, ctx, d, "uploads/u/data", mib, content[mib:], true)
	if err := d.Move(ctx, "uploads/u/data", "blobs/b/data"); err != nil {
		t.Fatalf("Move after Commit: %v", err)
	}
	checkContent(t, ctx, d, "blobs/b/data", content)
	_, err := d.Stat(ctx, "uploads/u/data")
	requireNotFound(t, err, "Stat of the moved upload")
}

// testWriterDeleteCheckpointed deletes content that is checkpointed but not
// committed (on S3, a multipart upload in progress): it cannot be resumed.
// Whether such a path counts as missing for Delete itself the contract leaves
// open, so Delete may return nil or not found.
func (s suite) testWriterDeleteCheckpointed(t *testing.T) {
	targets := []struct{ name, path string }{
		{"File", "uploads/u/data"},
		{"Parent", "uploads/u"},
		{"Grandparent", "uploads"},
	}
	for _, tt := range targets {
		target := tt.path
		t.Run(tt.name, func(t *testing.T) {
			ctx, d := s.setup(t)
			const path = "uploads/u/data"
			writeAt(t, ctx, d, path, 0, data(13, mib), false)
			if err := d.Delete(ctx, target); err != nil && !errors.Is(err, driver.ErrNotFound) {
				t.Fatalf("Delete(%q): %v", target, err)
			}
			w, err := d.Writer(ctx, path, mib)
			if err == nil {
				w.Close()
			}
			requireNotFound(t, err, "Writer at the checkpoint after Delete")
			_, err = d.Stat(ctx, path)
			requireNotFound(t, err, "Stat after Delete")
		})
	}
}
