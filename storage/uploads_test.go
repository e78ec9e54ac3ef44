package storage

import (
	"bytes"
	"context"
	"crypto/sha512"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/shadowreg/shadowreg/storage/driver"
)

func mustStart(t testing.TB, r *Repo) *Upload {
	t.Helper()
	up, err := r.UploadStart(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return up
}

func mustAppend(t testing.TB, up *Upload, data string, start int64) {
	t.Helper()
	if err := up.Append(ctx, strings.NewReader(data), start, int64(len(data))); err != nil {
		t.Fatalf("Append(%q at %d): %v", data, start, err)
	}
}

// uploadFileSize is the size of the upload's bytes on disk.
func uploadFileSize(t testing.TB, dir, id string) int64 {
	t.Helper()
	fi, err := os.Stat(filepath.Join(dir, "uploads", id, "data"))
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func TestUploadAppend(t *testing.T) {
	t.Parallel()
	s, dir := newTestStore(t)
	r := repo(t, s, "docker.io/a/b")
	up := mustStart(t, r)
	if up.Offset() != 0 || !uploadIDRE.MatchString(up.ID()) {
		t.Fatalf("new upload: offset %d, id %q", up.Offset(), up.ID())
	}
	mustAppend(t, up, "hello", 0)
	mustAppend(t, up, " ", 5)
	if err := up.Append(ctx, strings.NewReader("world"), -1, -1); err != nil { // no start, no length: streamed
		t.Fatal(err)
	}
	if up.Offset() != 11 {
		t.Errorf("Offset() = %d, want 11", up.Offset())
	}

	// A chunk that does not continue the upload.
	for _, start := range []int64{0, 5, 10, 12, 100} {
		err := up.Append(ctx, strings.NewReader("x"), start, 1)
		var off *OffsetError
		if !errors.As(err, &off) || off.Offset != 11 || off.Start != start {
			t.Errorf("Append at %d = %v, want OffsetError{Offset: 11, Start: %d}", start, err, start)
		}
	}
	// A chunk whose length is not what it said.
	for _, tt := range []struct {
		body   string
		length int64
	}{{"abc", 2}, {"abc", 4}, {"", 1}} {
		err := up.Append(ctx, strings.NewReader(tt.body), 11, tt.length)
		if !errors.Is(err, ErrSizeMismatch) {
			t.Errorf("Append(%q, length %d) = %v, want ErrSizeMismatch", tt.body, tt.length, err)
		}
	}
	// Empty chunks change nothing.
	if err := up.Append(ctx, strings.NewReader(""), 11, 0); err != nil {
		t.Errorf("empty chunk: %v", err)
	}
	if err := up.Append(ctx, strings.NewReader(""), -1, -1); err != nil {
		t.Errorf("empty streamed chunk: %v", err)
	}
	if up.Offset() != 11 || uploadFileSize(t, dir, up.ID()) != 11 {
		t.Errorf("after refused chunks: Offset() = %d, %d bytes on disk; want 11", up.Offset(), uploadFileSize(t, dir, up.ID()))
	}
	mustAppend(t, up, "!", 11)

	// Another handle on the same session sees the same state.
	again, err := r.Upload(ctx, up.ID())
	if err != nil || again.Offset() != 12 || again.ID() != up.ID() {
		t.Fatalf("Upload(%s) = %v, %v", up.ID(), again, err)
	}
	d := digest.FromString("hello world!")
	desc, err := again.Commit(ctx, d)
	if err != nil || desc.Digest != d || desc.Size != 12 {
		t.Fatalf("Commit = %+v, %v", desc, err)
	}
	if got := readBlob(t, r, d); string(got) != "hello world!" {
		t.Errorf("blob = %q", got)
	}
	// The session is gone, with its files.
	if _, err := r.Upload(ctx, up.ID()); !errors.Is(err, ErrUploadUnknown) {
		t.Errorf("Upload after Commit = %v, want ErrUploadUnknown", err)
	}
	if err := up.Append(ctx, strings.NewReader("x"), -1, 1); !errors.Is(err, ErrUploadUnknown) {
		t.Errorf("Append after Commit = %v, want ErrUploadUnknown", err)
	}
	if _, err := up.Commit(ctx, d); !errors.Is(err, ErrUploadUnknown) {
		t.Errorf("Commit after Commit = %v, want ErrUploadUnknown", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "uploads", up.ID())); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the session's folder outlived it: %v", err)
	}
}

func TestUploadStartedClock(t *testing.T) {
	t.Parallel()
	fs, _ := newFS(t)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := New(fs, Options{Now: func() time.Time { return now }})
	up := mustStart(t, repo(t, s, "a/b"))
	if !up.Started().Equal(now) {
		t.Errorf("Started() = %v, want %v", up.Started(), now)
	}
	again, err := repo(t, s, "a/b").Upload(ctx, up.ID())
	if err != nil || !again.Started().Equal(now) {
		t.Errorf("reloaded Started() = %v, %v", again.Started(), err)
	}
}

func TestUploadEmptyBlob(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	r := repo(t, s, "a/b")
	up := mustStart(t, r)
	d := digest.FromString("")
	desc, err := up.Commit(ctx, d)
	if err != nil || desc.Size != 0 {
		t.Fatalf("Commit(empty) = %+v, %v", desc, err)
	}
	if got := readBlob(t, r, d); len(got) != 0 {
		t.Errorf("empty blob reads %q", got)
	}
}

// An upload survives a restart: a new Store on the same folder continues
// it, and finishing it needs no re-read of the bytes for sha256, because
// the hash state was kept.
func TestUploadResumeAfterRestart(t *testing.T) {
	t.Parallel()
	fs, _ := newFS(t)
	first := New(fs, Options{})
	up := mustStart(t, repo(t, first, "quay.io/org/img"))
	part1, part2 := pattern(1, 3<<20+17), pattern(2, 1<<20) // more than one copy buffer
	if err := up.Append(ctx, bytes.NewReader(part1), 0, int64(len(part1))); err != nil {
		t.Fatal(err)
	}

	counting := newCountingDriver(fs)
	second := New(counting, Options{})
	r := repo(t, second, "quay.io/org/img")
	resumed, err := r.Upload(ctx, up.ID())
	if err != nil {
		t.Fatal(err)
	}
	if resumed.Offset() != int64(len(part1)) {
		t.Fatalf("resumed Offset() = %d, want %d", resumed.Offset(), len(part1))
	}
	if err := resumed.Append(ctx, bytes.NewReader(part2), int64(len(part1)), -1); err != nil {
		t.Fatal(err)
	}
	whole := append(slices.Clone(part1), part2...)
	d := digest.FromBytes(whole)
	if _, err := resumed.Commit(ctx, d); err != nil {
		t.Fatal(err)
	}
	if n := counting.count("uploads"); n != 0 {
		t.Errorf("a sha256 Commit opened the upload's bytes %d times; the kept hash state makes that needless", n)
	}
	if !bytes.Equal(readBlob(t, r, d), whole) {
		t.Error("the blob is not the bytes uploaded")
	}
}

// A sha512 upload is verified by reading its bytes once.
func TestUploadCommitSHA512(t *testing.T) {
	t.Parallel()
	fs, _ := newFS(t)
	counting := newCountingDriver(fs)
	s := New(counting, Options{})
	r := repo(t, s, "a/b")
	data := pattern(3, 100_000)
	up := mustStart(t, r)
	if err := up.Append(ctx, bytes.NewReader(data), 0, -1); err != nil {
		t.Fatal(err)
	}
	sum := sha512.Sum512(data)
	d := digest.NewDigestFromBytes(digest.SHA512, sum[:])
	desc, err := up.Commit(ctx, d)
	if err != nil || desc.Digest != d || desc.Size != int64(len(data)) {
		t.Fatalf("Commit(sha512) = %+v, %v", desc, err)
	}
	if n := counting.count("uploads"); n != 1 {
		t.Errorf("the sha512 Commit read the upload %d times, want 1", n)
	}
	if !bytes.Equal(readBlob(t, r, d), data) {
		t.Error("the sha512 blob is not the bytes uploaded")
	}
	if _, err := r.BlobStat(ctx, digest.FromBytes(data)); !errors.Is(err, ErrBlobUnknown) {
		t.Errorf("the blob is also known by its sha256: %v", err)
	}

	// A sha512 mismatch discards the session too.
	up = mustStart(t, r)
	mustAppend(t, up, "other bytes", 0)
	if _, err := up.Commit(ctx, d); !errors.Is(err, ErrDigestMismatch) {
		t.Errorf("Commit(wrong sha512) = %v, want ErrDigestMismatch", err)
	}
	if _, err := r.Upload(ctx, up.ID()); !errors.Is(err, ErrUploadUnknown) {
		t.Errorf("the session outlived a sha512 mismatch: %v", err)
	}
}

func TestUploadCommitRefused(t *testing.T) {
	t.Parallel()
	s, dir := newTestStore(t)
	r := repo(t, s, "a/b")
	up := mustStart(t, r)
	mustAppend(t, up, "some bytes", 0)

	// Digests that are not digests: the session stays.
	for _, d := range []digest.Digest{"", "sha256:abc", "sha256:" + digest.Digest(strings.Repeat("z", 64)), "md5:d41d8cd98f00b204e9800998ecf8427e", "nonsense"} {
		if _, err := up.Commit(ctx, d); !errors.Is(err, ErrDigestInvalid) {
			t.Errorf("Commit(%q) = %v, want ErrDigestInvalid", d, err)
		}
	}
	if again, err := r.Upload(ctx, up.ID()); err != nil || again.Offset() != 10 {
		t.Fatalf("after invalid digests: %v, %v", again, err)
	}

	// A digest of other bytes: the session is discarded, nothing is stored.
	wrong := digest.FromString("other bytes")
	if _, err := up.Commit(ctx, wrong); !errors.Is(err, ErrDigestMismatch) {
		t.Errorf("Commit(wrong) = %v, want ErrDigestMismatch", err)
	}
	if _, err := r.Upload(ctx, up.ID()); !errors.Is(err, ErrUploadUnknown) {
		t.Errorf("Upload after a mismatch = %v, want ErrUploadUnknown", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "uploads", up.ID())); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the discarded session left files: %v", err)
	}
	for _, d := range []digest.Digest{wrong, digest.FromString("some bytes")} {
		if ok, _ := s.BlobExists(ctx, d); ok {
			t.Errorf("blob %s exists after a refused commit", d)
		}
	}
}

func TestUploadCancel(t *testing.T) {
	t.Parallel()
	s, dir := newTestStore(t)
	r := repo(t, s, "a/b")
	up := mustStart(t, r)
	mustAppend(t, up, "doomed", 0)
	if err := up.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Upload(ctx, up.ID()); !errors.Is(err, ErrUploadUnknown) {
		t.Errorf("Upload after Cancel = %v", err)
	}
	if err := up.Cancel(ctx); !errors.Is(err, ErrUploadUnknown) {
		t.Errorf("second Cancel = %v, want ErrUploadUnknown", err)
	}
	if err := up.Append(ctx, strings.NewReader("x"), -1, 1); !errors.Is(err, ErrUploadUnknown) {
		t.Errorf("Append after Cancel = %v, want ErrUploadUnknown", err)
	}
	if _, err := up.Commit(ctx, digest.FromString("doomed")); !errors.Is(err, ErrUploadUnknown) {
		t.Errorf("Commit after Cancel = %v, want ErrUploadUnknown", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "uploads", up.ID())); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the cancelled session left files: %v", err)
	}
}

// A session belongs to the repository and area it was started in.
func TestUploadBelongsToItsRepository(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	up := mustStart(t, repo(t, s, "docker.io/a/b", "build1", "shared"))
	for _, r := range []*Repo{
		repo(t, s, "docker.io/a/c", "build1", "shared"),
		repo(t, s, "docker.io/a/b"),
		repo(t, s, "docker.io/a/b", "shared", "build1"),
		repo(t, s, "docker.io/a/b", "build2"),
		repo(t, s, "quay.io/a/b", "build1"),
	} {
		if _, err := r.Upload(ctx, up.ID()); !errors.Is(err, ErrUploadUnknown) {
			t.Errorf("Upload from %s in %q = %v, want ErrUploadUnknown", r.Name(), r.Areas(), err)
		}
	}
	// The same write area is enough.
	if _, err := repo(t, s, "docker.io/a/b", "build1").Upload(ctx, up.ID()); err != nil {
		t.Errorf("Upload from the same write area: %v", err)
	}
}

func TestUploadInvalidIDs(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	r := repo(t, s, "a/b")
	up := mustStart(t, r)
	for _, id := range []string{
		"", "x", "../" + up.ID(), up.ID() + "/..", strings.ToUpper(up.ID()), up.ID()[:31], up.ID() + "0",
		"0123456789abcdef0123456789abcdef", // well formed, unknown
		"../../blobs", "..", ".", "uploads/" + up.ID(),
	} {
		if _, err := r.Upload(ctx, id); !errors.Is(err, ErrUploadUnknown) {
			t.Errorf("Upload(%q) = %v, want ErrUploadUnknown", id, err)
		}
	}
}

// A state file that is not JSON is an error, not an empty upload.
func TestUploadCorruptState(t *testing.T) {
	t.Parallel()
	s, dir := newTestStore(t)
	r := repo(t, s, "a/b")
	up := mustStart(t, r)
	if err := os.WriteFile(filepath.Join(dir, "uploads", up.ID(), "state"), []byte("{garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Upload(ctx, up.ID()); err == nil || errors.Is(err, ErrUploadUnknown) {
		t.Errorf("Upload with a corrupt state = %v, want a corruption error", err)
	}
}

// failingReader gives n bytes of data, then err.
type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

// A client body that breaks half way leaves the upload where it was:
// nothing of the broken chunk is kept, on disk or in the hash, and the
// next chunk continues from the previous end.
func TestUploadBrokenBody(t *testing.T) {
	t.Parallel()
	for _, bodyErr := range []error{errors.New("connection reset"), io.ErrUnexpectedEOF} {
		for _, good := range []int{0, 1000} { // bytes already received
			for _, broken := range []int{0, 10, 2<<20 + 5} { // bytes the broken chunk delivers
				t.Run(fmt.Sprintf("%v after %d+%d", bodyErr, good, broken), func(t *testing.T) {
					t.Parallel()
					s, dir := newTestStore(t)
					r := repo(t, s, "a/b")
					up := mustStart(t, r)
					first := pattern(5, good)
					if good > 0 {
						mustAppend(t, up, string(first), 0)
					}
					for _, length := range []int64{-1, int64(broken + 100)} {
						err := up.Append(ctx, &failingReader{pattern(9, broken), bodyErr}, -1, length)
						if !errors.Is(err, bodyErr) {
							t.Errorf("Append(broken body, length %d) = %v, want %v", length, err, bodyErr)
						}
						if up.Offset() != int64(good) || uploadFileSize(t, dir, up.ID()) != int64(good) {
							t.Errorf("after a broken chunk: Offset() = %d, %d bytes on disk; want %d", up.Offset(), uploadFileSize(t, dir, up.ID()), good)
						}
						again, err := r.Upload(ctx, up.ID())
						if err != nil || again.Offset() != int64(good) {
							t.Errorf("reloaded after a broken chunk: %v, %v; want offset %d", again, err, good)
						}
					}
					rest := pattern(7, 300)
					if err := up.Append(ctx, bytes.NewReader(rest), int64(good), int64(len(rest))); err != nil {
						t.Fatal(err)
					}
					whole := append(slices.Clone(first), rest...)
					d := digest.FromBytes(whole)
					if _, err := up.Commit(ctx, d); err != nil {
						t.Fatalf("Commit of the good bytes: %v", err)
					}
					if !bytes.Equal(readBlob(t, r, d), whole) {
						t.Error("the blob holds bytes of the broken chunk")
					}
				})
			}
		}
	}
}

// A request cancelled half way is a broken body too.
func TestUploadCancelledContext(t *testing.T) {
	t.Parallel()
	s, dir := newTestStore(t)
	r := repo(t, s, "a/b")
	up := mustStart(t, r)
	mustAppend(t, up, "kept", 0)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := up.Append(cctx, strings.NewReader("lost"), -1, -1); !errors.Is(err, context.Canceled) {
		t.Errorf("Append with a cancelled context = %v", err)
	}
	if up.Offset() != 4 || uploadFileSize(t, dir, up.ID()) != 4 {
		t.Errorf("Offset() = %d, %d on disk; want 4", up.Offset(), uploadFileSize(t, dir, up.ID()))
	}
}

// slowReader delivers its data a little at a time, so that concurrent
// appends overlap.
type slowReader struct{ data []byte }

func (s *slowReader) Read(p []byte) (int, error) {
	if len(s.data) == 0 {
		return 0, io.EOF
	}
	time.Sleep(time.Millisecond)
	n := copy(p, s.data[:min(len(s.data), 64)])
	s.data = s.data[n:]
	return n, nil
}

// Appends to one upload are serialised: chunks never interleave or
// overwrite each other, and the kept hash matches the bytes.
func TestUploadConcurrentAppends(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	r := repo(t, s, "a/b")
	up := mustStart(t, r)
	const n, size = 8, 640
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, err := r.Upload(ctx, up.ID()) // each request loads its own handle
			if err != nil {
				errs <- err
				return
			}
			errs <- h.Append(ctx, &slowReader{bytes.Repeat([]byte{byte('a' + i)}, size)}, -1, size)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	final, err := r.Upload(ctx, up.ID())
	if err != nil {
		t.Fatal(err)
	}
	if final.Offset() != n*size {
		t.Fatalf("Offset() = %d after %d chunks of %d", final.Offset(), n, size)
	}
	rc, err := s.Driver().Reader(ctx, uploadDataPath(up.ID()), 0)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(rc)
	rc.Close()
	seen := map[byte]bool{}
	for i := 0; i < len(data); i += size {
		chunk := data[i : i+size]
		if bytes.Count(chunk, chunk[:1]) != size || seen[chunk[0]] {
			t.Fatalf("chunk %d is not one whole chunk: %q…", i/size, chunk[:min(80, len(chunk))])
		}
		seen[chunk[0]] = true
	}
	if _, err := final.Commit(ctx, digest.FromBytes(data)); err != nil {
		t.Errorf("the kept hash does not match the bytes: %v", err)
	}
}

// Many clients pushing the same blob at once, to one repository and to
// several: every upload commits, every repository holds the blob, and the
// blob is intact.
func TestUploadSameBlobConcurrently(t *testing.T) {
	t.Parallel()
	for _, repos := range []int{1, 4} {
		t.Run(fmt.Sprintf("%d repositories", repos), func(t *testing.T) {
			t.Parallel()
			s, dir := newTestStore(t)
			data := pattern(11, 1<<20+333)
			d := digest.FromBytes(data)
			var wg sync.WaitGroup
			errs := make(chan error, 16)
			for i := range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r, err := s.Repo(fmt.Sprintf("docker.io/team/app%d", i%repos))
					if err != nil {
						errs <- err
						return
					}
					up, err := r.UploadStart(ctx)
					if err != nil {
						errs <- err
						return
					}
					half := len(data) / 2
					if err := up.Append(ctx, bytes.NewReader(data[:half]), 0, int64(half)); err != nil {
						errs <- err
						return
					}
					if err := up.Append(ctx, bytes.NewReader(data[half:]), int64(half), -1); err != nil {
						errs <- err
						return
					}
					_, err = up.Commit(ctx, d)
					errs <- err
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Error(err)
				}
			}
			for i := range repos {
				r := repo(t, s, fmt.Sprintf("docker.io/team/app%d", i))
				if !bytes.Equal(readBlob(t, r, d), data) {
					t.Errorf("%s: the blob is not intact", r.Name())
				}
			}
			entries, _ := os.ReadDir(filepath.Join(dir, "uploads"))
			if len(entries) != 0 {
				t.Errorf("%d upload sessions left behind", len(entries))
			}
		})
	}
}

// The driver's writer must be closed on every path, or a file descriptor
// leaks per refused chunk; a store on a driver that counts open writers
// shows none left.
func TestUploadClosesWriters(t *testing.T) {
	t.Parallel()
	fs, _ := newFS(t)
	cd := &closeCountingDriver{Driver: fs}
	s := New(cd, Options{})
	r := repo(t, s, "a/b")
	up := mustStart(t, r)
	mustAppend(t, up, "abc", 0)
	up.Append(ctx, &failingReader{[]byte("xx"), io.ErrUnexpectedEOF}, -1, -1)
	up.Append(ctx, strings.NewReader("abcd"), 3, 2)
	up.Commit(ctx, digest.FromString("wrong"))
	up = mustStart(t, r)
	mustAppend(t, up, "abc", 0)
	up.Commit(ctx, digest.FromString("abc"))
	if open := cd.open(); open != 0 {
		t.Errorf("%d driver writers left open", open)
	}
}

type closeCountingDriver struct {
	driver.Driver
	mu    sync.Mutex
	count int
}

func (c *closeCountingDriver) Writer(ctx context.Context, path string, offset int64) (driver.FileWriter, error) {
	w, err := c.Driver.Writer(ctx, path, offset)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.count++
	c.mu.Unlock()
	return &closeCountingWriter{FileWriter: w, c: c}, nil
}

func (c *closeCountingDriver) open() int { c.mu.Lock(); defer c.mu.Unlock(); return c.count }

type closeCountingWriter struct {
	driver.FileWriter
	c      *closeCountingDriver
	closed bool
}

func (w *closeCountingWriter) Close() error {
	if !w.closed {
		w.closed = true
		w.c.mu.Lock()
		w.c.count--
		w.c.mu.Unlock()
	}
	return w.FileWriter.Close()
}

// A sha512 upload started for sha512 (a client that named its digest) is
// hashed as it streams, across chunks: Commit reads nothing back, accepts
// the right digest and refuses a wrong one.
func TestUploadStreamsSHA512(t *testing.T) {
	t.Parallel()
	fs, _ := newFS(t)
	counting := newCountingDriver(fs)
	s := New(counting, Options{})
	r := repo(t, s, "a/b")
	data := pattern(5, 300_000)
	sum := sha512.Sum512(data)
	d := digest.NewDigestFromBytes(digest.SHA512, sum[:])
	push := func(want digest.Digest) (digest.Digest, int64, error) {
		up, err := r.UploadStartHashing(ctx, digest.SHA512)
		if err != nil {
			t.Fatal(err)
		}
		for off := 0; off < len(data); off += 100_000 {
			if err := up.Append(ctx, bytes.NewReader(data[off:off+100_000]), int64(off), 100_000); err != nil {
				t.Fatal(err)
			}
		}
		desc, err := up.Commit(ctx, want)
		return desc.Digest, desc.Size, err
	}
	wrong := sha512.Sum512(append([]byte("x"), data...))
	if _, _, err := push(digest.NewDigestFromBytes(digest.SHA512, wrong[:])); !errors.Is(err, ErrDigestMismatch) {
		t.Errorf("Commit with a wrong sha512 = %v, want ErrDigestMismatch", err)
	}
	got, size, err := push(d)
	if err != nil || got != d || size != int64(len(data)) {
		t.Fatalf("Commit(sha512) = %s of %d bytes, %v", got, size, err)
	}
	if n := counting.count("uploads"); n != 0 {
		t.Errorf("the streamed sha512 Commits read the upload %d times, want 0", n)
	}
	if !bytes.Equal(readBlob(t, r, d), data) {
		t.Error("the sha512 blob is not the bytes uploaded")
	}
}
