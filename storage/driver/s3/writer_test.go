package s3

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/shadowreg/shadowreg/storage/driver"
)

const mib = 1 << 20

// writeAt opens a writer at offset on d and writes data in chunks of chunk
// bytes; the caller checkpoints, commits or closes it.
func writeAt(t *testing.T, d driver.Driver, path string, offset int64, data []byte, chunk int) driver.FileWriter {
	t.Helper()
	w, err := d.Writer(testCtx(t), path, offset)
	if err != nil {
		t.Fatalf("Writer(%s, %d): %v", path, offset, err)
	}
	if w.Size() != offset {
		t.Fatalf("Writer(%d).Size() = %d", offset, w.Size())
	}
	for b := data; len(b) > 0; {
		n := min(chunk, len(b))
		if _, err := w.Write(b[:n]); err != nil {
			t.Fatalf("Write: %v", err)
		}
		b = b[n:]
	}
	if w.Size() != offset+int64(len(data)) {
		t.Fatalf("Size() = %d, want %d", w.Size(), offset+int64(len(data)))
	}
	return w
}

func checkpointAndClose(t *testing.T, w driver.FileWriter) {
	t.Helper()
	if err := w.Checkpoint(testCtx(t), nil); err != nil {
		t.Fatalf("Checkpoint: %v", err)
	}
	w.Close()
}

func commitAndClose(t *testing.T, w driver.FileWriter) {
	t.Helper()
	if err := w.Commit(testCtx(t)); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	w.Close()
}

func checkContent(t *testing.T, d driver.Driver, path string, want []byte) {
	t.Helper()
	rc, err := d.Reader(testCtx(t), path, 0)
	if err != nil {
		t.Fatalf("Reader(%s): %v", path, err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		i := 0
		for i < min(len(got), len(want)) && got[i] == want[i] {
			i++
		}
		t.Fatalf("%s: %d bytes, want %d; first difference at %d", path, len(got), len(want), i)
	}
}

// multipartUploads lists the uploads S3 has in progress on path's key.
func multipartUploads(t *testing.T, d *Driver, path string) []string {
	t.Helper()
	res, err := d.core.ListMultipartUploads(testCtx(t), d.bucket, d.layout.data(path), "", "", "", 1000)
	if err != nil {
		t.Fatalf("ListMultipartUploads: %v", err)
	}
	var ids []string
	for _, u := range res.Uploads {
		if u.Key == d.layout.data(path) {
			ids = append(ids, u.UploadID)
		}
	}
	return ids
}

// stateKeys lists every writer-state key of d.
func stateKeys(t *testing.T, d *Driver) []string {
	t.Helper()
	var keys []string
	for oi := range d.core.ListObjectsIter(testCtx(t), d.bucket, minio.ListObjectsOptions{
		Prefix: d.layout.stateRoot, Recursive: true,
	}) {
		if oi.Err != nil {
			t.Fatal(oi.Err)
		}
		keys = append(keys, oi.Key)
	}
	return keys
}

// checkClean fails if d holds writer state or an upload on path.
func checkClean(t *testing.T, d *Driver, path string) {
	t.Helper()
	if keys := stateKeys(t, d); len(keys) > 0 {
		t.Errorf("writer state left behind: %v", keys)
	}
	if ids := multipartUploads(t, d, path); len(ids) > 0 {
		t.Errorf("multipart uploads left behind on %s: %v", path, ids)
	}
}

func TestWriterSmall(t *testing.T) {
	d := newTestDriver(t)
	commitAndClose(t, writeAt(t, d, "up/1/data", 0, []byte("hello"), 2))
	checkContent(t, d, "up/1/data", []byte("hello"))
	commitAndClose(t, writeAt(t, d, "up/empty", 0, nil, 1))
	checkContent(t, d, "up/empty", nil)
	checkClean(t, d, "up/1/data")
}

// TestWriterResumeOnAnotherReplica continues an upload on a second *Driver
// (another registry replica) over the same bucket, then commits on a third.
func TestWriterResumeOnAnotherReplica(t *testing.T) {
	cfg := testConfig(uniquePrefix(t))
	r1, r2, r3 := openDriver(t, cfg), openDriver(t, cfg), openDriver(t, cfg)
	const path = "uploads/abc/data"
	data := randomBytes(13*mib+123, 2)
	cut1, cut2 := int64(7*mib+5), int64(11*mib+7)

	checkpointAndClose(t, writeAt(t, r1, path, 0, data[:cut1], 999_999))
	// Checkpointed content is durable but not visible.
	if _, err := r1.Stat(testCtx(t), path); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("Stat of a checkpointed upload = %v, want ErrNotFound", err)
	}
	if _, err := r1.List(testCtx(t), "uploads"); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("List shows writer state: %v", err)
	}
	checkpointAndClose(t, writeAt(t, r2, path, cut1, data[cut1:cut2], 12345))
	commitAndClose(t, writeAt(t, r3, path, cut2, data[cut2:], 4*mib)) // 4 MiB chunks: writes straddle parts
	checkContent(t, r1, path, data)
	checkClean(t, r1, path)
}

// TestWriterResumeEarlierCheckpoint resumes before the last checkpoint:
// later checkpoints are discarded and their parts rewritten.
func TestWriterResumeEarlierCheckpoint(t *testing.T) {
	d := newTestDriver(t)
	const path = "u/data"
	a := randomBytes(2*mib, 3)
	b := randomBytes(4*mib, 4)
	c := randomBytes(9*mib+1, 5)

	checkpointAndClose(t, writeAt(t, d, path, 0, a, 64<<10))                 // 2 MiB: tail only
	checkpointAndClose(t, writeAt(t, d, path, int64(len(a)), b, 64<<10))     // 6 MiB: part 1 uploaded
	checkpointAndClose(t, writeAt(t, d, path, int64(len(a)+len(b)), c, mib)) // 15 MiB

	// Back to 2 MiB, where there was no upload yet.
	w := writeAt(t, d, path, int64(len(a)), c, 3*mib)
	if _, err := d.Writer(testCtx(t), path, int64(len(a)+len(b))); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("Writer at a discarded checkpoint = %v, want ErrNotFound", err)
	}
	checkpointAndClose(t, w)
	commitAndClose(t, writeAt(t, d, path, int64(len(a)+len(c)), nil, 1))
	checkContent(t, d, path, append(append([]byte{}, a...), c...))
	checkClean(t, d, path)

	// Back to a checkpoint inside an upload: its later parts are replaced.
	checkpointAndClose(t, writeAt(t, d, path, 0, c, mib))             // part 1 + a 4 MiB tail
	checkpointAndClose(t, writeAt(t, d, path, int64(len(c)), b, mib)) // part 2 + a 3 MiB tail
	commitAndClose(t, writeAt(t, d, path, int64(len(c)), a, mib))     // part 2 again, part 3
	checkContent(t, d, path, append(append([]byte{}, c...), a...))
	checkClean(t, d, path)
}

// TestDeleteAbortsCheckpointedUpload: the garbage collector deletes an
// abandoned upload's folder; its multipart upload must not outlive it.
func TestDeleteAbortsCheckpointedUpload(t *testing.T) {
	d := newTestDriver(t)
	const path = "uploads/gone/data"
	checkpointAndClose(t, writeAt(t, d, path, 0, randomBytes(6*mib, 6), mib))
	if ids := multipartUploads(t, d, path); len(ids) != 1 {
		t.Fatalf("uploads after a checkpoint: %v, want 1", ids)
	}
	if err := d.PutContent(testCtx(t), "uploads/gone/state", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if err := d.Delete(testCtx(t), "uploads"); err != nil {
		t.Fatal(err)
	}
	checkClean(t, d, path)
	if err := d.Delete(testCtx(t), "uploads"); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("second Delete = %v, want ErrNotFound", err)
	}
	if _, err := d.Writer(testCtx(t), path, 6*mib); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("resume after Delete = %v, want ErrNotFound", err)
	}
}

// TestDeleteAbortsCrashedWriter: a writer that uploaded a part and died
// without checkpointing or closing leaves an upload that Delete still finds.
func TestDeleteAbortsCrashedWriter(t *testing.T) {
	d := newTestDriver(t)
	const path = "uploads/crashed/data"
	writeAt(t, d, path, 0, randomBytes(6*mib, 7), mib) // never closed
	if ids := multipartUploads(t, d, path); len(ids) != 1 {
		t.Fatalf("uploads: %v, want 1", ids)
	}
	// Only writer state exists here, no content: Delete still finds it.
	if err := d.Delete(testCtx(t), "uploads/crashed"); err != nil {
		t.Fatal(err)
	}
	checkClean(t, d, path)
}

func TestCloseAbortsUnreferencedUpload(t *testing.T) {
	d := newTestDriver(t)
	const path = "u/data"
	w := writeAt(t, d, path, 0, randomBytes(6*mib, 8), mib)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	checkClean(t, d, path)

	// After a checkpoint the upload is resumable, so Close keeps it.
	checkpointAndClose(t, writeAt(t, d, path, 0, randomBytes(6*mib, 8), mib))
	w = writeAt(t, d, path, 6*mib, randomBytes(6*mib, 9), mib)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	commitAndClose(t, writeAt(t, d, path, 6*mib, nil, 1))
	checkContent(t, d, path, randomBytes(6*mib, 8))
	checkClean(t, d, path)
}

func TestCancel(t *testing.T) {
	d := newTestDriver(t)
	const path = "u/data"
	checkpointAndClose(t, writeAt(t, d, path, 0, randomBytes(7*mib, 10), mib))
	w := writeAt(t, d, path, 7*mib, randomBytes(6*mib, 11), mib)
	if err := w.Cancel(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	w.Close()
	checkClean(t, d, path)
	if _, err := d.Stat(testCtx(t), path); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("Stat after Cancel = %v", err)
	}
}

// TestWriterAtZeroDiscards: starting over drops the earlier upload.
func TestWriterAtZeroDiscards(t *testing.T) {
	d := newTestDriver(t)
	const path = "u/data"
	checkpointAndClose(t, writeAt(t, d, path, 0, randomBytes(6*mib, 12), mib))
	commitAndClose(t, writeAt(t, d, path, 0, []byte("new"), 1))
	checkContent(t, d, path, []byte("new"))
	checkClean(t, d, path)
}

// TestRacingReplicas: two replicas resume the same checkpoint and write
// different bytes into the same multipart upload. One of them wins whole;
// the content is never a mix of both.
func TestRacingReplicas(t *testing.T) {
	cfg := testConfig(uniquePrefix(t))
	r1, r2 := openDriver(t, cfg), openDriver(t, cfg)
	const path = "u/data"
	base := randomBytes(6*mib, 13)
	checkpointAndClose(t, writeAt(t, r1, path, 0, base, mib)) // part 1 + 1 MiB tail
	one, two := randomBytes(7*mib, 14), randomBytes(7*mib, 15)
	w1 := writeAt(t, r1, path, 6*mib, one, mib) // uploads its part 2
	w2 := writeAt(t, r2, path, 6*mib, two, mib) // replaces part 2
	err1 := w1.Commit(testCtx(t))
	err2 := w2.Commit(testCtx(t))
	t.Logf("commit 1: %v; commit 2: %v", err1, err2)
	if err1 == nil && err2 == nil {
		t.Fatal("both racing commits succeeded")
	}
	want := append(append([]byte{}, base...), two...)
	if err1 == nil {
		want = append(append([]byte{}, base...), one...)
	}
	if err1 != nil && err2 != nil {
		t.Fatal("no racing commit succeeded")
	}
	checkContent(t, r1, path, want)
}
