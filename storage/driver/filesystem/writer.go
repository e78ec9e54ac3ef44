package filesystem

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/shadowreg/shadowreg/storage/driver"
)

// errDone is returned by a writer used after Checkpoint, Commit, Cancel or
// Close, which end it.
var errDone = errors.New(name + ": writer is done")

// Writer implements driver.Driver. The writer writes straight into the file at
// path; a file at path therefore holds checkpointed bytes followed by bytes
// that may be lost, and every new writer cuts it back to its offset first.
func (d *Driver) Writer(ctx context.Context, path string, offset int64) (driver.FileWriter, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := validate(path); err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, fmt.Errorf("%s: write %s: negative offset %d", name, path, offset)
	}
	full := d.fullPath(path)
	w := &fileWriter{d: d, path: path, full: full, ctx: ctx, base: offset, size: offset}
	if offset == 0 {
		removeSidecars(full, -1)
		err := inDir(filepath.Dir(full), func() (err error) {
			w.f, err = os.OpenFile(full, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, filePerm)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("%s: write %s: %w", name, path, err)
		}
		w.created = true
		return w, nil
	}
	f, err := os.OpenFile(full, os.O_WRONLY, 0)
	if isMissing(err) {
		return nil, notFound(path, "no content to resume")
	}
	if err != nil {
		return nil, fmt.Errorf("%s: write %s: %w", name, path, err)
	}
	if err := resumeAt(f, offset); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: write %s: %w", name, path, err)
	}
	meta, err := os.ReadFile(sidecar(full, offset))
	if err != nil && !isMissing(err) {
		f.Close()
		return nil, fmt.Errorf("%s: write %s: checkpoint meta: %w", name, path, err)
	}
	removeSidecars(full, offset) // checkpoints past offset are gone with their bytes
	w.f, w.meta = f, meta
	return w, nil
}

// sidecar is where the meta of the checkpoint at size of the file full is
// kept: a hidden file beside it (the temporary prefix keeps it out of List,
// Walk and driver paths). It is written after the bytes are fsynced, so a
// sidecar never describes bytes that are not durable; a stale one, from a
// checkpoint a resume discarded, is replaced when a checkpoint of that size
// is made again, and goes with the folder.
func sidecar(full string, size int64) string {
	return filepath.Join(filepath.Dir(full), sidecarPrefix(full)+strconv.FormatInt(size, 10))
}

func sidecarPrefix(full string) string { return tempPrefix + "ckpt." + filepath.Base(full) + "." }

// removeSidecars removes the checkpoint metas of full past size (all, for
// size < 0): best effort, as they are hidden and harmless.
func removeSidecars(full string, size int64) {
	entries, err := os.ReadDir(filepath.Dir(full))
	if err != nil {
		return
	}
	prefix := sidecarPrefix(full)
	for _, e := range entries {
		at, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok {
			continue
		}
		if n, err := strconv.ParseInt(at, 10, 64); err == nil && n > size {
			os.Remove(filepath.Join(filepath.Dir(full), e.Name()))
		}
	}
}

// resumeAt positions f at offset, dropping whatever follows it: bytes a
// crashed or closed writer left unacknowledged, or checkpoints after offset.
func resumeAt(f *os.File, offset int64) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	switch {
	case fi.Size() < offset:
		return fmt.Errorf("cannot resume at offset %d: only %d bytes stored", offset, fi.Size())
	case fi.Size() > offset:
		if err := f.Truncate(offset); err != nil {
			return err
		}
	}
	_, err = f.Seek(offset, io.SeekStart)
	return err
}

// fileWriter is the driver.FileWriter of the filesystem driver. Like an
// *os.File it is not safe for concurrent use.
type fileWriter struct {
	d    *Driver
	path string
	full string
	// ctx is the context Writer was called with; writes fail once it is done,
	// so that an aborted request stops writing.
	ctx context.Context
	f   *os.File // nil once the writer is done
	// base is the offset the writer started at: the last checkpoint, where
	// Close cuts the file back to.
	base    int64
	size    int64
	flushed int64  // writeback started up to here (startWriteback)
	created bool   // the writer created the file, whose directory entry needs an fsync
	meta    []byte // of the checkpoint resumed
}

// Meta implements driver.FileWriter.
func (w *fileWriter) Meta() []byte { return w.meta }

var _ io.ReaderFrom = (*fileWriter)(nil)

func (w *fileWriter) Size() int64 { return w.size }

func (w *fileWriter) Write(p []byte) (int, error) {
	if w.f == nil {
		return 0, errDone
	}
	if err := w.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := w.f.Write(p)
	w.size += int64(n)
	w.startWriteback()
	return n, err
}

// startWriteback starts the disk writes of what was written since the last
// call, once that is writebackChunk or more, without waiting for them. A
// large upload's bytes then reach the disk while the rest still streams in,
// and the fsync of its commit waits for the last few megabytes instead of
// the whole blob (measured: 0.3 s of a 1 s push of 512 MiB). Best effort:
// where it is not supported, the fsync does it all as before.
func (w *fileWriter) startWriteback() {
	if w.size-w.flushed < writebackChunk || w.f == nil {
		return
	}
	startWriteback(w.f, w.flushed, w.size-w.flushed)
	w.flushed = w.size
}

// ReadFrom hands io.Copy's work to the *os.File, which can use
// copy_file_range(2) or splice(2) where the source allows it.
func (w *fileWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.f == nil {
		return 0, errDone
	}
	if err := w.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := w.f.ReadFrom(r)
	w.size += n
	w.startWriteback()
	return n, err
}

// Checkpoint makes the bytes durable, then records meta beside them; a
// later writer resumes the bytes as they are.
func (w *fileWriter) Checkpoint(ctx context.Context, meta []byte) error {
	size := w.size
	if err := w.finish(ctx, "checkpoint"); err != nil {
		return err
	}
	if meta == nil {
		os.Remove(sidecar(w.full, size))
		return nil
	}
	if err := writeAtomic(ctx, sidecar(w.full, size), meta); err != nil {
		return fmt.Errorf("%s: checkpoint %s: meta: %w", name, w.path, err)
	}
	return nil
}

// Commit makes the bytes durable: the file at the path is already the
// content. Checkpoint metas are no longer of use.
func (w *fileWriter) Commit(ctx context.Context) error {
	if err := w.finish(ctx, "commit"); err != nil {
		return err
	}
	removeSidecars(w.full, -1)
	return nil
}

func (w *fileWriter) finish(ctx context.Context, op string) error {
	if w.f == nil {
		return errDone
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("%s: %s %s: %w", name, op, w.path, err)
	}
	// A Delete or PutContent meanwhile leaves the writer's bytes in an
	// unlinked file: report it rather than acknowledge lost content.
	if !w.stillAtPath(w.f) {
		w.f.Close()
		w.f = nil
		return notFound(w.path, "deleted or replaced while writing")
	}
	if w.created {
		if err := syncDir(filepath.Dir(w.full)); err != nil {
			return fmt.Errorf("%s: %s %s: sync directory: %w", name, op, w.path, err)
		}
	}
	f := w.f
	w.f = nil
	if err := f.Close(); err != nil {
		return fmt.Errorf("%s: %s %s: %w", name, op, w.path, err)
	}
	return nil
}

// Cancel removes the file, unless something else has replaced it.
func (w *fileWriter) Cancel(ctx context.Context) error {
	if w.f == nil {
		return errDone
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	f := w.f
	w.f = nil
	defer f.Close()
	removeSidecars(w.full, -1)
	return w.remove(f)
}

// Close cuts the file back to the writer's starting offset, dropping the bytes
// not checkpointed. A writer that started new content leaves no file at all,
// as none of its bytes were ever acknowledged.
func (w *fileWriter) Close() error {
	if w.f == nil {
		return nil
	}
	f := w.f
	w.f = nil
	defer f.Close()
	if w.base == 0 {
		return w.remove(f)
	}
	if w.size == w.base {
		return nil
	}
	if err := f.Truncate(w.base); err != nil {
		return fmt.Errorf("%s: close %s: %w", name, w.path, err)
	}
	return nil
}

// remove deletes f's path if f is still the file there, and prunes the
// directories this empties.
func (w *fileWriter) remove(f *os.File) error {
	if !w.stillAtPath(f) {
		return nil
	}
	if err := os.Remove(w.full); err != nil && !isMissing(err) {
		return fmt.Errorf("%s: remove %s: %w", name, w.path, err)
	}
	dir := filepath.Dir(w.full)
	if err := syncDir(dir); err != nil && !isMissing(err) {
		return fmt.Errorf("%s: remove %s: sync directory: %w", name, w.path, err)
	}
	w.d.prune(dir)
	return nil
}

// stillAtPath reports whether the open file f is the file at the writer's
// path.
func (w *fileWriter) stillAtPath(f *os.File) bool {
	open, err := f.Stat()
	if err != nil {
		return false
	}
	cur, err := os.Stat(w.full)
	return err == nil && os.SameFile(open, cur)
}
