package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/shadowreg/shadowreg/storage/driver"
)

// A writer maps content onto one S3 multipart upload on the content's key:
//
//   - Write buffers up to a part (partSize) and uploads each full part as it
//     fills, in the background, partUploads at a time: the client's stream
//     keeps flowing while parts travel, and a writer holds at most
//     partUploads+1 parts in memory.
//   - Checkpoint uploads the buffer as a part too when it has reached S3's
//     5 MiB minimum, then stores the rest (the tail, < 5 MiB), the upload id
//     and the parts' numbers and ETags in one checkpoint object.
//   - Writer(path, N) on any replica reads checkpoint-N and carries on with
//     the next part number; the bytes of its tail go in front of new ones.
//   - Commit uploads the buffer as the last part (parts but the last must be
//     >= 5 MiB; the last may be smaller) and completes the upload, which makes
//     the object appear atomically. Content that never filled a part is one
//     PutObject instead.
//
// The multipart upload is created lazily, when the first part is ready, and
// an upload marker is stored first thing after, before any part: Delete finds
// and aborts uploads through markers, even ones whose writer died before its
// first checkpoint.
type writer struct {
	d        *Driver
	ctx      context.Context // the Writer call's, for Write, which has none
	path     string
	key      string
	partSize int64

	size    int64 // offset + bytes written
	written int64 // bytes written through this writer

	uploadID string
	created  bool   // this writer created uploadID and no checkpoint names it yet
	buf      []byte // content past the parts, < partSize
	next     int    // the next part's number

	done bool   // after Checkpoint, Commit, Cancel or Close
	meta []byte // of the checkpoint resumed

	// Parts upload in the background (uploadPart); mu guards what they
	// report. wait() ends them all.
	mu       sync.Mutex
	parts    []part // uploaded parts, once wait() returns: content[0 : size-len(buf)], in order
	err      error  // sticky: a failed part upload breaks the writer
	inflight sync.WaitGroup
	slots    chan struct{} // one per part upload in flight
}

// partUploads is how many parts of one writer upload at once: two keeps the
// client's stream flowing while a part travels, at one more part of memory.
const partUploads = 2

var errDone = errors.New("writer already checkpointed, committed, cancelled or closed")

// Writer implements driver.Driver.
func (d *Driver) Writer(ctx context.Context, path string, offset int64) (driver.FileWriter, error) {
	if err := validate(path); err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, fmt.Errorf("%s: write %s: negative offset %d", name, path, offset)
	}
	w := &writer{d: d, ctx: ctx, path: path, key: d.layout.data(path), size: offset, partSize: d.partSize,
		next: 1, slots: make(chan struct{}, partUploads)}
	if offset == 0 {
		// New content: earlier writers' checkpoints and uploads go. Content
		// already committed at path stays readable until Commit replaces it.
		return w, d.dropState(ctx, path, -1, "")
	}
	c, tail, err := d.readCheckpoint(ctx, path, offset)
	if err != nil {
		return nil, err
	}
	// Checkpoints past offset go now: this writer reuses their part numbers,
	// so they could never be completed correctly again.
	if err := d.dropState(ctx, path, offset, c.UploadID); err != nil {
		return nil, err
	}
	w.uploadID, w.parts, w.buf, w.next, w.meta = c.UploadID, c.Parts, tail, len(c.Parts)+1, c.Meta
	return w, nil
}

// readCheckpoint fetches path's checkpoint at size.
func (d *Driver) readCheckpoint(ctx context.Context, path string, size int64) (checkpoint, []byte, error) {
	body, _, _, err := d.core.GetObject(ctx, d.bucket, d.layout.checkpoint(path, size), minio.GetObjectOptions{})
	if isNotFound(err) {
		return checkpoint{}, nil, notFound(path, fmt.Sprintf("no checkpoint at offset %d", size))
	}
	if err != nil {
		return checkpoint{}, nil, d.wrap("resume", path, err)
	}
	defer body.Close()
	b, err := io.ReadAll(io.LimitReader(body, maxCheckpointSize+1))
	if err != nil {
		return checkpoint{}, nil, d.wrap("resume", path, err)
	}
	if len(b) > maxCheckpointSize {
		return checkpoint{}, nil, fmt.Errorf("%s: resume %s: checkpoint at %d is too large", name, path, size)
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

// Write implements io.Writer. Full parts are uploaded before it returns.
func (w *writer) Write(p []byte) (int, error) {
	if err := w.usable(); err != nil {
		return 0, err
	}
	n := 0
	for len(p) > 0 { // every round consumes bytes of p
		// Always copied: the part uploads after Write returns, when the
		// caller owns p again.
		k := min(len(p), int(w.partSize)-len(w.buf))
		w.buf = appendBounded(w.buf, p[:k], int(w.partSize))
		if int64(len(w.buf)) == w.partSize {
			if err := w.uploadPart(w.ctx, w.buf); err != nil {
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

// uploadPart starts uploading data (which it then owns) as the next part,
// creating the multipart upload (and its marker) first if needed. It waits
// while partUploads parts are already in flight. Any failure, now or in the
// background, breaks the writer.
func (w *writer) uploadPart(ctx context.Context, data []byte) error {
	if err := w.ensureUpload(ctx); err != nil {
		return w.fail(err)
	}
	n := w.next
	if n > maxParts {
		return w.fail(fmt.Errorf("%s: write %s: more than %d parts of %d bytes: raise s3.part-size", name, w.path, maxParts, w.partSize))
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
		// A bytes.Reader can be rewound, so minio-go retries failed parts.
		p, err := w.d.core.PutObjectPart(ctx, w.d.bucket, w.key, w.uploadID, n,
			bytes.NewReader(data), int64(len(data)), minio.PutObjectPartOptions{})
		if err != nil {
			w.fail(w.d.wrap(fmt.Sprintf("write part %d of", n), w.path, err))
			return
		}
		w.mu.Lock()
		w.parts = append(w.parts, part{Number: n, ETag: p.ETag, Size: int64(len(data))})
		w.mu.Unlock()
	}()
	return nil
}

// wait lets every part in flight finish and puts the parts in order.
func (w *writer) wait() error {
	w.inflight.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	slices.SortFunc(w.parts, func(a, b part) int { return a.Number - b.Number })
	return w.err
}

// fail records the writer's first error and returns it.
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
	id, err := w.d.core.NewMultipartUpload(ctx, w.d.bucket, w.key, minio.PutObjectOptions{ContentType: contentType})
	if err != nil {
		return w.d.wrap("start upload of", w.path, err)
	}
	// The marker makes the upload findable by Delete before it holds anything.
	if err := w.d.put(ctx, w.d.layout.uploadMarker(w.path, id), nil); err != nil {
		ctx, cancel := detached(ctx)
		defer cancel()
		w.d.core.AbortMultipartUpload(ctx, w.d.bucket, w.key, id)
		return w.d.wrap("start upload of", w.path, err)
	}
	w.uploadID, w.created = id, true
	return nil
}

// Meta implements driver.FileWriter.
func (w *writer) Meta() []byte { return w.meta }

// Checkpoint implements driver.FileWriter: meta goes into the checkpoint
// object, with the parts and the tail.
func (w *writer) Checkpoint(ctx context.Context, meta []byte) error {
	if err := w.usable(); err != nil {
		return err
	}
	if w.written == 0 && bytes.Equal(meta, w.meta) {
		// Nothing new: a resumed writer's checkpoint is still there, and
		// offset 0 needs none.
		w.done = true
		return nil
	}
	if len(w.buf) >= minPartSize {
		if err := w.uploadPart(ctx, w.buf); err != nil {
			return err
		}
		w.buf = nil
	}
	if err := w.wait(); err != nil {
		return err
	}
	b, err := encodeCheckpoint(checkpoint{Size: w.size, UploadID: w.uploadID, Parts: w.parts, Meta: meta}, w.buf)
	if err != nil {
		return err
	}
	if err := w.d.put(ctx, w.d.layout.checkpoint(w.path, w.size), b); err != nil {
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
	if w.uploadID == "" {
		// Never filled a part: one PutObject.
		if err := w.d.put(ctx, w.key, w.buf); err != nil {
			return w.fail(w.d.wrap("commit", w.path, err))
		}
	} else {
		if len(w.buf) > 0 || w.next == 1 {
			if err := w.uploadPart(ctx, w.buf); err != nil {
				return err
			}
			w.buf = nil
		}
		if err := w.wait(); err != nil {
			return err
		}
		cps := make([]minio.CompletePart, len(w.parts))
		for i, p := range w.parts {
			cps[i] = minio.CompletePart{PartNumber: p.Number, ETag: p.ETag}
		}
		err := retryRace(ctx, func() error {
			_, err := w.d.core.CompleteMultipartUpload(ctx, w.d.bucket, w.key, w.uploadID, cps,
				minio.PutObjectOptions{ContentType: contentType})
			return err
		})
		if err != nil {
			return w.fail(w.d.wrap("commit", w.path, err))
		}
	}
	w.done, w.created, w.buf = true, false, nil
	// The content is committed; leftover state is only garbage, which a later
	// Delete of the path also removes, so a failure here is not the caller's.
	w.d.dropState(ctx, w.path, -1, w.uploadID)
	return nil
}

// Cancel implements driver.FileWriter: the content at path goes, with every
// checkpoint and upload (this writer's included).
func (w *writer) Cancel(ctx context.Context) error {
	if w.done {
		return fmt.Errorf("%s: %s: %w", name, w.path, errDone)
	}
	w.wait() // parts still travelling would land after the abort
	w.done, w.created, w.buf = true, false, nil
	var own []upload
	if w.uploadID != "" {
		own = append(own, upload{key: w.key, id: w.uploadID})
	}
	_, err := w.d.deleteAll(ctx, w.path, own)
	return err
}

// detached is ctx without its cancellation, bounded: for cleaning up after a
// failure, which may be ctx ending.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
}

// Close implements driver.FileWriter. Bytes not checkpointed are dropped; an
// upload this writer started and no checkpoint names is aborted, since no
// one could ever resume it.
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
	// Close has no context, and the Writer's may be the reason for closing
	// (a client gone).
	ctx, cancel := detached(w.ctx)
	defer cancel()
	if err := w.d.abort(ctx, upload{key: w.key, id: w.uploadID}); err != nil {
		return err
	}
	return w.d.remove(ctx, []string{w.d.layout.uploadMarker(w.path, w.uploadID)})
}
