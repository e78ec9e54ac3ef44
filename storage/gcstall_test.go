package storage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/shadowreg/shadowreg/storage/driver"
	"github.com/shadowreg/shadowreg/storage/driver/filesystem"
)

// slowSweepDriver makes a collection over a small store as slow as one over
// a large store on an object store: every blob the collector walks past,
// and every blob it deletes, costs a delay. It reports when the walk of the
// blobs is in progress.
type slowSweepDriver struct {
	driver.Driver
	perEntry, perDelete time.Duration
	walking             atomic.Bool
	walkStarted         chan struct{}
	startOnce           sync.Once
}

func (s *slowSweepDriver) Walk(ctx context.Context, p string, fn func(driver.FileInfo) error) error {
	if p != blobsRoot {
		return s.Driver.Walk(ctx, p, fn)
	}
	s.walking.Store(true)
	s.startOnce.Do(func() { close(s.walkStarted) })
	defer s.walking.Store(false)
	return s.Driver.Walk(ctx, p, func(fi driver.FileInfo) error {
		time.Sleep(s.perEntry)
		return fn(fi)
	})
}

func (s *slowSweepDriver) Delete(ctx context.Context, p string) error {
	if strings.HasPrefix(p, blobsRoot+"/") {
		time.Sleep(s.perDelete)
	}
	return s.Driver.Delete(ctx, p)
}

// TestCollectNeverStallsReferences runs a collection whose blob walk takes
// seconds (hundreds of garbage blobs, each slow to list and to delete) and,
// while it walks, keeps making references: uploads committed, blobs
// mounted, manifests pushed. None may wait for the collection: none waits
// more than 100 ms where references wait (the guard), none takes a second
// end to end, many must finish while the walk is still going, and
// every reference made must still be readable after the collection, which
// must have deleted all the garbage and nothing else. Each moment in which
// the collector kept references out is reported to GCPause, and is short.
func TestCollectNeverStallsReferences(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	fs, err := filesystem.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	sd := &slowSweepDriver{Driver: fs, perEntry: 3 * time.Millisecond, perDelete: 3 * time.Millisecond,
		walkStarted: make(chan struct{})}
	var pauseMu sync.Mutex
	var pauses []time.Duration
	s := New(sd, Options{GCPause: func(d time.Duration) {
		pauseMu.Lock()
		pauses = append(pauses, d)
		pauseMu.Unlock()
	}})
	// What references waited for the collector, measured where they wait.
	var waitMu sync.Mutex
	var longestWait time.Duration
	s.guard.waited = func(d time.Duration) {
		waitMu.Lock()
		longestWait = max(longestWait, d)
		waitMu.Unlock()
	}

	// Garbage: blobs no link names, older than the grace period.
	const garbage = 400
	old := time.Now().Add(-2 * time.Hour)
	for i := range garbage {
		d := digest.FromString(fmt.Sprintf("garbage %d", i))
		if err := fs.PutContent(ctx, blobPath(d), []byte("x")); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(filepath.Join(dir, filepath.FromSlash(blobPath(d))), old, old); err != nil {
			t.Fatal(err)
		}
	}
	src := repo(t, s, "docker.io/stall/src")
	base := gcContent("base layer", 3000)
	baseD := pushBlob(t, src, base)

	done := make(chan *CollectReport, 1)
	go func() {
		rep, err := s.Collect(ctx, CollectOptions{Grace: time.Hour})
		if err != nil {
			t.Error(err)
		}
		done <- rep
	}()
	within(t, sd.walkStarted, "the collection's blob walk")

	type made struct {
		r *Repo
		d digest.Digest
	}
	var refs []made
	var slowest time.Duration
	var slowestOp string
	duringWalk := map[string]int{}
	timed := func(op string, fn func()) {
		start := time.Now()
		before := sd.walking.Load()
		fn()
		took := time.Since(start)
		if took > slowest {
			slowest, slowestOp = took, op
		}
		if before && sd.walking.Load() {
			duringWalk[op]++
		}
	}
	for i := 0; i < 200 && sd.walking.Load(); i++ {
		r := repo(t, s, fmt.Sprintf("docker.io/stall/r%d", i))
		var layer digest.Digest
		timed("upload", func() { layer = pushBlob(t, r, gcContent(fmt.Sprintf("layer %d", i), 2000)) })
		timed("mount", func() {
			if _, err := r.BlobMount(ctx, baseD, src); err != nil {
				t.Fatalf("BlobMount: %v", err)
			}
		})
		tm := imageManifest(t, r, nil, base)
		timed("manifest", func() { putManifest(t, r, tm, "latest") })
		refs = append(refs, made{r, layer}, made{r, baseD})
	}
	rep := within(t, done, "the collection")
	if rep == nil {
		t.FailNow()
	}

	for _, op := range []string{"upload", "mount", "manifest"} {
		if duringWalk[op] < 5 {
			t.Errorf("%s: only %d finished while the collection walked the blobs; the test proves nothing", op, duringWalk[op])
		}
	}
	waitMu.Lock()
	if longestWait > 100*time.Millisecond {
		t.Errorf("a reference waited %v for the collection; none may wait more than 100 ms", longestWait)
	}
	waitMu.Unlock()
	// End to end too, loosely (a loaded machine slows a push's fsyncs): a
	// reference that waited for the sweep would take its seconds.
	if slowest > time.Second {
		t.Errorf("a %s took %v while a collection ran; no reference may wait for the collector", slowestOp, slowest)
	}
	if rep.Blobs != garbage {
		t.Errorf("collection deleted %d blobs, want the %d garbage blobs", rep.Blobs, garbage)
	}
	for _, m := range refs {
		if err := gcReadBlob(t, m.r, m.d); err != nil {
			t.Errorf("%s in %s, referenced during the collection: %v", m.d, m.r.Name(), err)
		}
	}
	pauseMu.Lock()
	defer pauseMu.Unlock()
	// The start of the marking, and one doom per batch.
	if want := 1 + garbage/localBatch; len(pauses) < want {
		t.Errorf("GCPause told of %d pauses, want at least %d", len(pauses), want)
	}
	for _, p := range pauses {
		if p > 100*time.Millisecond {
			t.Errorf("the collector kept references out for %v", p)
		}
	}
	t.Logf("walk: %d uploads, %d mounts, %d manifests during it; slowest reference %v (%s), longest wait for the guard %v; %d pauses",
		duringWalk["upload"], duringWalk["mount"], duringWalk["manifest"], slowest, slowestOp, longestWait, len(pauses))
}

// blockDeleteDriver holds the deletion of one path until released.
type blockDeleteDriver struct {
	driver.Driver
	path     string
	deleting chan struct{} // closed when the deletion began
	release  chan struct{}
	once     sync.Once
}

func (b *blockDeleteDriver) Delete(ctx context.Context, p string) error {
	if p == b.path {
		b.once.Do(func() { close(b.deleting) })
		<-b.release
	}
	return b.Driver.Delete(ctx, p)
}

// TestReferenceToContentBeingDeletedWaitsForIt: the collector is deleting
// garbage X (doomed: nothing noted it) when a push mounts X and another
// uploads X's bytes. Neither may link X while its deletion can still
// remove it: the mount waits and then finds nothing to mount, the upload
// waits and then writes its own bytes, which stay readable.
func TestReferenceToContentBeingDeletedWaitsForIt(t *testing.T) {
	ctx := t.Context()
	fs, dir := newFS(t)
	data := gcContent("doomed", 3000)
	x := digest.FromBytes(data)
	bd := &blockDeleteDriver{Driver: fs, path: blobPath(x), deleting: make(chan struct{}), release: make(chan struct{})}
	s := New(bd, Options{})
	src, mnt, up := repo(t, s, "docker.io/doom/src"), repo(t, s, "docker.io/doom/mount"), repo(t, s, "docker.io/doom/upload")
	pushBlob(t, src, data)
	if err := src.BlobDelete(ctx, x); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(filepath.Join(dir, filepath.FromSlash(blobPath(x))), old, old); err != nil {
		t.Fatal(err)
	}
	collected := make(chan error, 1)
	go func() {
		_, err := s.Collect(ctx, CollectOptions{Grace: time.Hour})
		collected <- err
	}()
	within(t, bd.deleting, "the deletion of X")

	mounted := make(chan error, 1)
	go func() {
		_, err := mnt.BlobMount(ctx, x, nil)
		mounted <- err
	}()
	uploaded := make(chan error, 1)
	go func() {
		u, err := up.UploadStart(ctx)
		if err == nil {
			err = u.Append(ctx, strings.NewReader(string(data)), 0, int64(len(data)))
		}
		if err == nil {
			_, err = u.Commit(ctx, x)
		}
		uploaded <- err
	}()
	select {
	case err := <-mounted:
		t.Fatalf("BlobMount of content being deleted returned (%v) before the deletion ended", err)
	case err := <-uploaded:
		t.Fatalf("an upload of content being deleted committed (%v) before the deletion ended", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(bd.release)
	if err := within(t, collected, "the collection"); err != nil {
		t.Fatal(err)
	}
	mountErr, upErr := within(t, mounted, "the mount"), within(t, uploaded, "the upload")
	if upErr != nil {
		t.Fatalf("upload of X after its deletion: %v", upErr)
	}
	if mountErr == nil {
		// Ordered after the upload, it found the new bytes: fine, if they
		// are there.
		if err := gcReadBlob(t, mnt, x); err != nil {
			t.Errorf("mounted X is linked but unreadable: %v", err)
		}
	} else if !errors.Is(mountErr, ErrBlobUnknown) {
		t.Errorf("BlobMount of deleted X = %v, want ErrBlobUnknown", mountErr)
	}
	if err := gcReadBlob(t, up, x); err != nil {
		t.Errorf("X uploaded again while it was deleted is unreadable: %v", err)
	}
}

// failReadDriver fails every GetContent of one path.
type failReadDriver struct {
	driver.Driver
	path string
}

func (f *failReadDriver) GetContent(ctx context.Context, p string) ([]byte, error) {
	if p == f.path {
		return nil, fmt.Errorf("injected: %w", driver.ErrUnavailable)
	}
	return f.Driver.GetContent(ctx, p)
}

// TestCollectFailsClosedWhenAManifestCannotBeRead: a manifest that cannot
// be read while marking (the store out of reach) ends the collection with
// an error, and its layers — old, linked by nothing else — stay.
func TestCollectFailsClosedWhenAManifestCannotBeRead(t *testing.T) {
	e := newGCEnv(t)
	r := e.repo("docker.io/closed/app")
	layer := gcContent("only the manifest names it", 2000)
	tm := imageManifest(t, r, nil, layer)
	putManifest(t, r, tm, "v1")
	if err := r.BlobDelete(t.Context(), digest.FromBytes(layer)); err != nil {
		t.Fatal(err)
	}
	e.ageAll(2 * time.Hour)
	fs, err := filesystem.New(e.dir)
	if err != nil {
		t.Fatal(err)
	}
	s := New(&failReadDriver{Driver: fs, path: blobPath(tm.m.Digest)}, Options{Now: e.clock.Now, ManifestCacheBytes: -1})
	if _, err := s.Collect(t.Context(), CollectOptions{Grace: time.Hour}); !errors.Is(err, driver.ErrUnavailable) {
		t.Errorf("Collect with an unreadable manifest = %v, want ErrUnavailable", err)
	}
	if !e.hasBlob(digest.FromBytes(layer)) {
		t.Error("a layer of a manifest the collector could not read was deleted")
	}
}
