package swift

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/shadowreg/shadowreg/storage/driver"
)

// A writer maps content onto the segments of one static large object, the
// way the s3 driver maps it onto a multipart upload:
//
//   - Write buffers up to a segment (segmentSize) and uploads each full one
//     as it fills, in the background, segmentUploads at a time.
//   - Checkpoint uploads the buffer as a segment too when it has reached
//     minTailSegment, then stores the rest (the tail), the upload id and the
//     segments' numbers, ETags and sizes in one checkpoint object.
//   - Writer(path, N) on any replica reads checkpoint-N and carries on with
//     the next segment number; the tail goes in front of new bytes.
//   - Commit uploads the buffer as the last segment and PUTs the manifest,
//     which makes the object appear atomically. Content that never filled a
//     segment is one plain PUT instead.
//
// The upload id is created when the first segment is ready, and its marker
// stored before any segment: Delete finds segments through markers, even
// those of a writer that died before its first checkpoint.
type writer struct {
	d           *Driver
	ctx         context.Context // the Writer call's, for Write, which has none
	path        string
	key         string
	segmentSize int64

	size    int64 // offset + bytes written
	written int64 // bytes written through this writer

	uploadID string
	created  bool   // this writer created uploadID and no checkpoint names it yet
	buf      []byte // content past the segments, < segmentSize
	next     int    // the next segment's number

	done bool   // after Checkpoint, Commit, Cancel or Close
	meta []byte // of the checkpoint resumed

	mu       sync.Mutex
	segs     []segment // uploaded segments, once wait() returns: in order
	err      error     // sticky: a failed segment upload breaks the writer
	inflight sync.WaitGroup
	slots    chan struct{}
}

// segmentUploads is how many segments of one writer upload at once: two
// keep the client's stream flowing while a segment travels.
const segmentUploads = 2

var errDone = errors.New("writer already checkpointed, committed, cancelled or closed")

// Writer implements driver.Driver.
func (d *Driver) Writer(ctx context.Context, path string, offset int64) (driver.FileWriter, error) {
	if err := validate(path); err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, fmt.Errorf("%s: write %s: negative offset %d", name, path, offset)
	}
	w := &writer{d: d, ctx: ctx, path: path, key: d.layout.data(path), size: offset, segmentSize: d.segmentSize,
		next: 1, slots: make(chan struct{}, segmentUploads)}
	if offset == 0 {
		// New content: earlier writers' checkpoints and segments go. Content
		// already committed at path stays readable until Commit replaces it.
		return w, d.dropState(ctx, path, -1, "")
	}
	c, tail, err := d.readCheckpoint(ctx, path, offset)
	if err != nil {
		return nil, err
	}
	// Checkpoints past offset go now: this writer reuses their segment
	// numbers, so they could never be completed correctly again.
	if err := d.dropState(ctx, path, offset, c.UploadID); err != nil {
		return nil, err
	}
	w.uploadID, w.segs, w.buf, w.next, w.meta = c.UploadID, c.Parts, tail, len(c.Parts)+1, c.Meta
	return w, nil
}

// readCheckpoint fetches path's checkpoint at size.
func (d *Driver) readCheckpoint(ctx context.Context, path string, size int64) (checkpoint, []byte, error) {
	b, _, err := d.getSmall(ctx, d.layout.checkpoint(path, size), nil, maxCheckpointSize)
	if isNotFound(err) {
		return checkpoint{}, nil, notFound(path, fmt.Sprintf("no checkpoint at offset %d", size))
	}
	if err != nil {
		return checkpoint{}, nil, d.wrap("resume", path, err)
	}
	c, tail, err := decodeCheckpoint(b)
	if err == nil && c.Size != size {
		err = fmt.Errorf("records size %d", c.Size)
	}
	if err != nil {
		return checkpoint{}, nil, fmt.Errorf("%s: resume %s: corrupt checkpoint at %d: %v", name, path, size, err)
	}
	return c, tail, nil
}

func (w *writer) usable() error {
	if err := w.failed(); err != nil {
		return err
	}
	if w.done {
		return fmt.Errorf("%s: %s: %w", name, w.path, errDone)
	}
	return nil
}

// Write implements io.Writer. Full segments are on their way before it
// returns.
func (w *writer) Write(p []byte) (int, error) {
	if err := w.usable(); err != nil {
		return 0, err
	}
	n := 0
	for len(p) > 0 {
		// Always copied: the segment uploads after Write returns.
		k := min(len(p), int(w.segmentSize)-len(w.buf))
		w.buf = appendBounded(w.buf, p[:k], int(w.segmentSize))
		if int64(len(w.buf)) == w.segmentSize {
			if err := w.uploadSegment(w.ctx, w.buf); err != nil {
				return n, err
			}
			w.buf = nil // the upload owns it now
		}
		p = p[k:]
		n += k
		w.size += int64(k)
		w.written += int64(k)
	}
	return n, nil
}

// Size implements driver.FileWriter.
func (w *writer) Size() int64 { return w.size }

// uploadSegment starts uploading data (which it then owns) as the next
// segment, creating the upload id (and its marker) first if needed.
func (w *writer) uploadSegment(ctx context.Context, data []byte) error {
	if err := w.ensureUpload(ctx); err != nil {
		return w.fail(err)
	}
	n := w.next
	if n > w.d.maxSegments {
		return w.fail(fmt.Errorf("%s: write %s: more than %d segments of %d bytes: raise swift.segment-size",
			name, w.path, w.d.maxSegments, w.segmentSize))
	}
	w.next++
	w.slots <- struct{}{}
	if err := w.failed(); err != nil {
		<-w.slots
		return err
	}
	w.inflight.Add(1)
	go func() {
		defer func() { <-w.slots; w.inflight.Done() }()
		etag, err := w.d.put(ctx, w.d.layout.segment(w.uploadID, n), data, nil)
		if err != nil {
			w.fail(w.d.wrap(fmt.Sprintf("write segment %d of", n), w.path, err))
			return
		}
		w.mu.Lock()
		w.segs = append(w.segs, segment{Number: n, ETag: etag, Size: int64(len(data))})
		w.mu.Unlock()
	}()
	return nil
}

// wait lets every segment in flight finish and puts them in order.
func (w *writer) wait() error {
	w.inflight.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	slices.SortFunc(w.segs, func(a, b segment) int { return a.Number - b.Number })
	return w.err
}

func (w *writer) fail(err error) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = err
	}
	return w.err
}

func (w *writer) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *writer) ensureUpload(ctx context.Context) error {
	if w.uploadID != "" {
		return nil
	}
	var b [16]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	// The marker makes the segments findable by Delete before there are any.
	if _, err := w.d.put(ctx, w.d.layout.uploadMarker(w.path, id), nil, nil); err != nil {
		return w.d.wrap("start upload of", w.path, err)
	}
	w.uploadID, w.created = id, true
	return nil
}

// Meta implements driver.FileWriter.
func (w *writer) Meta() []byte { return w.meta }

// Checkpoint implements driver.FileWriter: meta goes into the checkpoint
// object, with the segments and the tail.
func (w *writer) Checkpoint(ctx context.Context, meta []byte) error {
	if err := w.usable(); err != nil {
		return err
	}
	if w.written == 0 && bytes.Equal(meta, w.meta) {
		w.done = true // nothing new: the resumed checkpoint is still there
		return nil
	}
	if len(w.buf) >= minTailSegment {
		if err := w.uploadSegment(ctx, w.buf); err != nil {
			return err
		}
		w.buf = nil
	}
	if err := w.wait(); err != nil {
		return err
	}
	b, err := encodeCheckpoint(checkpoint{Size: w.size, UploadID: w.uploadID, Parts: w.segs, Meta: meta}, w.buf)
	if err != nil {
		return err
	}
	if _, err := w.d.put(ctx, w.d.layout.checkpoint(w.path, w.size), b, nil); err != nil {
		return w.fail(w.d.wrap("checkpoint", w.path, err))
	}
	w.done, w.created, w.buf = true, false, nil
	return nil
}

// Commit implements driver.FileWriter.
func (w *writer) Commit(ctx context.Context) error {
	if err := w.usable(); err != nil {
		return err
	}
	if w.uploadID != "" && len(w.buf) > 0 {
		if err := w.uploadSegment(ctx, w.buf); err != nil {
			return err
		}
		w.buf = nil
	}
	if err := w.wait(); err != nil {
		return err
	}
	err := w.d.replace(ctx, w.key, func() error {
		if len(w.segs) == 0 {
			_, err := w.d.put(ctx, w.key, w.buf, nil) // never filled a segment: one PUT
			return err
		}
		return w.d.putManifest(ctx, w.key, w.uploadID, w.segs)
	})
	if err != nil {
		return w.fail(w.d.wrap("commit", w.path, err))
	}
	w.done, w.created, w.buf = true, false, nil
	// The content is committed; leftover state is only garbage, which a
	// later Delete of the path also removes, so failures here are not the
	// caller's.
	w.d.dropState(ctx, w.path, -1, w.uploadID)
	if w.uploadID != "" {
		w.d.dropSegmentsPast(ctx, w.uploadID, len(w.segs))
	}
	return nil
}

// Cancel implements driver.FileWriter: the content at path goes, with every
// checkpoint and segment (this writer's included).
func (w *writer) Cancel(ctx context.Context) error {
	if w.done {
		return fmt.Errorf("%s: %s: %w", name, w.path, errDone)
	}
	w.wait() // segments still travelling would land after the delete
	w.done, w.created, w.buf = true, false, nil
	var own []string
	if w.uploadID != "" {
		own = append(own, w.uploadID)
	}
	_, err := w.d.deleteAll(ctx, w.path, own)
	return err
}

// detached is ctx without its cancellation, bounded: for cleaning up after a
// failure, which may be ctx ending.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
}

// Close implements driver.FileWriter. Bytes not checkpointed are dropped;
// the segments of an upload this writer started and no checkpoint names go,
// since no one could ever resume it.
func (w *writer) Close() error {
	if w.done {
		return nil
	}
	w.wait()
	w.done, w.buf = true, nil
	if !w.created {
		return nil
	}
	w.created = false
	ctx, cancel := detached(w.ctx)
	defer cancel()
	if err := w.d.dropUpload(ctx, w.uploadID); err != nil {
		return w.d.wrap("close", w.path, err)
	}
	return w.d.wrap("close", w.path, w.d.removeAll(ctx, []string{w.d.layout.uploadMarker(w.path, w.uploadID)}))
}
