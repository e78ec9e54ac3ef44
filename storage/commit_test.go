package storage

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"
)

// Content already stored under a digest is never replaced by a commit: it
// was verified when it came. (A session raced on by two replicas once could
// replace an acknowledged blob with other bytes; the bytes stored here are
// deliberately not the digest's, so a replacement would show.)
func TestCommitNeverReplacesStoredContent(t *testing.T) {
	s, dir := newTestStore(t)
	r := repo(t, s, "docker.io/library/a")
	data := []byte("the blob's bytes")
	d := digest.FromBytes(data)
	file := filepath.Join(dir, blobPath(d))
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte("stored earlier"), 0o644); err != nil {
		t.Fatal(err)
	}
	pushBlob(t, r, data)
	got, err := os.ReadFile(file)
	if err != nil || !bytes.Equal(got, []byte("stored earlier")) {
		t.Fatalf("stored content replaced by a commit: %q, %v", got, err)
	}
	if _, err := r.BlobStat(ctx, d); err != nil {
		t.Fatalf("the commit did not link the blob: %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, uploadsRoot)); len(entries) != 0 {
		t.Fatalf("the upload was left behind: %v", entries)
	}
}

// The running hash travels with the driver's checkpoint: a session resumed
// by a second Store (another replica) continues it, and no state object
// carries a hash that could disagree with the bytes.
func TestUploadHashTravelsWithTheCheckpoint(t *testing.T) {
	fs, _ := newFS(t)
	a, b := New(fs, Options{}), New(fs, Options{})
	ra, rb := repo(t, a, "docker.io/x/y"), repo(t, b, "docker.io/x/y")
	part1, part2 := bytes.Repeat([]byte("a"), 3<<20), bytes.Repeat([]byte("b"), 2<<20+7)
	up, err := ra.UploadStart(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := up.Append(ctx, bytes.NewReader(part1), 0, int64(len(part1))); err != nil {
		t.Fatal(err)
	}
	state, err := fs.GetContent(ctx, uploadStatePath(up.ID()))
	if err != nil || bytes.Contains(state, []byte("sha256")) {
		t.Fatalf("the state object carries a hash: %s (%v)", state, err)
	}
	upB, err := rb.Upload(ctx, up.ID())
	if err != nil {
		t.Fatal(err)
	}
	if err := upB.Append(ctx, bytes.NewReader(part2), int64(len(part1)), int64(len(part2))); err != nil {
		t.Fatal(err)
	}
	all := append(append([]byte{}, part1...), part2...)
	if _, err := upB.Commit(ctx, digest.FromBytes(all)); err != nil {
		t.Fatalf("commit on the second store: %v", err)
	}
}
