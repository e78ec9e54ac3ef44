package storage

import (
	"context"
	"errors"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/shadowreg/shadowreg/storage/driver"
	"github.com/shadowreg/shadowreg/storage/driver/filesystem"
)

// holdDriver holds the first PutContent under prefix, once armed and once
// it has written (or, with before, before it writes), until release is
// closed.
type holdDriver struct {
	driver.Driver
	prefix  string
	before  bool
	armed   atomic.Bool
	once    sync.Once
	held    chan struct{}
	release chan struct{}
	// walked receives the path of every Walk of tombstonesRoot that has
	// returned, without blocking (it drops what nobody waits for): a
	// reference walks the tombstones once per wait it makes.
	walked chan string
}

func newHoldDriver(d driver.Driver, prefix string) *holdDriver {
	return &holdDriver{Driver: d, prefix: prefix, held: make(chan struct{}), release: make(chan struct{}),
		walked: make(chan string)}
}

func (h *holdDriver) Walk(ctx context.Context, p string, fn func(driver.FileInfo) error) error {
	err := h.Driver.Walk(ctx, p, fn)
	if p == tombstonesRoot {
		select {
		case h.walked <- p:
		default:
		}
	}
	return err
}

// within waits up to a bound for a value from ch: a test that misses the
// interleaving it means fails, it does not hang until go test's timeout.
func within[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(30 * time.Second):
		t.Fatalf("timed out after 30s waiting for %s", what)
		panic("unreachable")
	}
}

func (h *holdDriver) PutContent(ctx context.Context, path string, content []byte) error {
	if h.before {
		h.hold(path)
	}
	err := h.Driver.PutContent(ctx, path, content)
	if !h.before {
		h.hold(path)
	}
	return err
}

func (h *holdDriver) hold(path string) {
	if h.armed.Load() && strings.HasPrefix(path, h.prefix) {
		first := false
		h.once.Do(func() { first = true })
		if first {
			close(h.held)
			<-h.release
		}
	}
}

// sharedEnv is two processes' stores on one storage: a pusher and a
// collector, each with its own gcGuard, and garbage: a blob X that nothing
// references any more, older than any grace.
type sharedEnv struct {
	gc              *gcEnv // the collector's store, its folder and clock
	pusher          *Store
	src, dst        *Repo // the pusher's repositories
	x               digest.Digest
	xData           []byte
	pushDrv, colDrv *holdDriver
}

func newSharedEnv(t *testing.T, holdPusher, holdCollector string) *sharedEnv {
	t.Helper()
	e := newGCEnv(t)
	fs, err := filesystem.New(e.dir)
	if err != nil {
		t.Fatal(err)
	}
	se := &sharedEnv{gc: e, pushDrv: newHoldDriver(fs, holdPusher), colDrv: newHoldDriver(fs, holdCollector)}
	e.s = New(se.colDrv, Options{Now: e.clock.Now, ManifestCacheBytes: -1, Shared: true})
	se.pusher = New(se.pushDrv, Options{Now: e.clock.Now, ManifestCacheBytes: -1, Shared: true})
	se.src, _ = se.pusher.Repo("docker.io/shared/src")
	se.dst, _ = se.pusher.Repo("docker.io/shared/dst")
	se.xData = gcContent("garbage", 4000)
	se.x = e.push(se.src, se.xData)
	if err := se.src.BlobDelete(t.Context(), se.x); err != nil {
		t.Fatal(err)
	}
	e.ageAll(2 * time.Hour) // X, and the claim its upload made, are old
	se.pushDrv.armed.Store(true)
	se.colDrv.armed.Store(true)
	return se
}

// TestClaimSeenByCollector: a mount has claimed X (and not yet linked it)
// when a collection in another process runs whole: the collection spares
// X, and the mount then finds it.
func TestClaimSeenByCollector(t *testing.T) {
	se := newSharedEnv(t, claimsRoot+"/", "never/")
	ctx := t.Context()
	mounted := make(chan error, 1)
	go func() {
		_, err := se.dst.BlobMount(ctx, se.x, nil)
		mounted <- err
	}()
	within(t, se.pushDrv.held, "the mount to claim")
	rep := se.gc.collect(CollectOptions{Grace: time.Hour})
	if !se.gc.hasBlob(se.x) || rep.Blobs != 0 {
		t.Errorf("the collection deleted %d blobs (X there: %v) although a mount had claimed X", rep.Blobs, se.gc.hasBlob(se.x))
	}
	close(se.pushDrv.release)
	if err := within(t, mounted, "the mount"); err != nil {
		t.Fatalf("BlobMount: %v", err)
	}
	if err := gcReadBlob(t, se.dst, se.x); err != nil {
		t.Error(err)
	}
}

// TestReferenceWaitsForTombstone: a collection in another process has
// tombstoned X and not yet deleted it when a mount of X starts: the mount
// waits; the collection then sees the mount's claim and spares X.
func TestReferenceWaitsForTombstone(t *testing.T) {
	se := newSharedEnv(t, "never/", tombstonesRoot+"/")
	ctx := t.Context()
	collected := make(chan *CollectReport, 1)
	go func() {
		rep, err := se.gc.s.Collect(ctx, CollectOptions{Grace: time.Hour})
		if err != nil {
			t.Error(err)
		}
		collected <- rep
	}()
	within(t, se.colDrv.held, "the collection to tombstone")
	mounted := make(chan error, 1)
	go func() {
		_, err := se.dst.BlobMount(ctx, se.x, nil)
		mounted <- err
	}()
	// The mount looks at the tombstones after its claim, and again only
	// when one named X: a second look means it is waiting.
	within(t, se.pushDrv.walked, "the mount's first look at the tombstones")
	within(t, se.pushDrv.walked, "the mount's second look at the tombstones (is it waiting?)")
	select {
	case err := <-mounted:
		t.Fatalf("the mount returned (%v) while a tombstone named X", err)
	default:
	}
	close(se.colDrv.release)
	rep := within(t, collected, "the collection")
	if err := within(t, mounted, "the mount"); err != nil {
		t.Fatalf("BlobMount: %v", err)
	}
	if rep == nil || rep.Blobs != 0 || !se.gc.hasBlob(se.x) {
		t.Errorf("the collection freed %+v although the mount claimed X before it read the claims", rep)
	}
	if err := gcReadBlob(t, se.dst, se.x); err != nil {
		t.Error(err)
	}
}

// TestReferenceAfterDeletion: X deleted first, references to it are
// refused (or, for an upload, made with the uploaded bytes).
func TestReferenceAfterDeletion(t *testing.T) {
	se := newSharedEnv(t, "never/", "never/")
	ctx := t.Context()
	if rep := se.gc.collect(CollectOptions{Grace: time.Hour}); rep.Blobs != 1 || se.gc.hasBlob(se.x) {
		t.Fatalf("the collection freed %+v; want X", rep)
	}
	if _, err := se.dst.BlobMount(ctx, se.x, nil); !errors.Is(err, ErrBlobUnknown) {
		t.Errorf("BlobMount of deleted X: %v, want ErrBlobUnknown", err)
	}
	img := se.gc.image(se.dst, "after", []byte("a layer"))
	bad := gcJSON(obj2{"schemaVersion": 2, "mediaType": MediaTypeOCIManifest,
		"config": obj2{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": img.config, "size": 1},
		"layers": []obj2{{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": se.x, "size": len(se.xData)}}})
	p, err := ParseManifest(MediaTypeOCIManifest, bad)
	if err != nil {
		t.Fatal(err)
	}
	var mbu *ManifestBlobUnknownError
	if err := se.dst.PutManifest(ctx, &Manifest{Digest: digest.FromBytes(bad), MediaType: p.MediaType, Data: bad}, p, "x"); !errors.As(err, &mbu) || mbu.Digest != se.x {
		t.Errorf("PutManifest naming deleted X: %v, want MANIFEST_BLOB_UNKNOWN for X", err)
	}
	if d := se.gc.push(se.dst, se.xData); d != se.x || gcReadBlob(t, se.dst, se.x) != nil {
		t.Errorf("uploading X again did not bring it back")
	}
}

// TestClaimRecordsExpire: old claims and dead collectors' tombstones go at
// the next collection; a reference ignores a dead collector's tombstone and
// gives up (503) on a live one that never goes.
func TestClaimRecordsExpire(t *testing.T) {
	se := newSharedEnv(t, "never/", "never/")
	e, ctx := se.gc, t.Context()
	if err := se.pusher.claim(ctx, se.x); err != nil { // a fresh claim
		t.Fatal(err)
	}
	tomb := tombstonesRoot + "/dead"
	if err := e.s.d.PutContent(ctx, tomb, gcJSON(digestList{Digests: []digest.Digest{se.x}})); err != nil {
		t.Fatal(err)
	}
	claims := func() int {
		n := 0
		e.s.d.Walk(ctx, claimsRoot, func(driver.FileInfo) error { n++; return nil })
		return n
	}
	if n := claims(); n != 2 {
		t.Fatalf("%d claims, want 2 (X's upload's, aged, and a fresh one)", n)
	}
	// The live tombstone: the claim waits, then gives up.
	e.clock.Add(time.Minute) // the tombstone is a minute old: live
	done := make(chan error, 1)
	go func() { done <- se.pusher.claim(ctx, se.x) }()
	// Its first look at the tombstones comes after it set its deadline:
	// only then may the clock move past it.
	within(t, se.pushDrv.walked, "the claim's first look at the tombstones")
	e.clock.Add(tombstoneWait + time.Second)
	if err := within(t, done, "the claim to give up"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("claim under a tombstone that never goes: %v, want ErrUnavailable", err)
	}
	// A dead collector's tombstone is ignored.
	e.clock.Add(tombstoneTTL)
	start := time.Now()
	if err := se.pusher.claim(ctx, se.x); err != nil || time.Since(start) > 5*time.Second {
		t.Errorf("claim under a dead collector's tombstone: %v after %v", err, time.Since(start))
	}
	// A collection removes the dead tombstone and the claims older than
	// claimRetention: the aged one, not the fresh ones.
	e.collect(CollectOptions{Grace: time.Hour})
	if e.exists(tomb) {
		t.Error("a dead collector's tombstone survived a collection")
	}
	if n := claims(); n != 3 {
		t.Errorf("%d claims after the collection, want 3 (the aged one removed)", n)
	}
}

// TestPromoteClaims: a promotion has read a link of an area that a
// collection in another process then drops, and not yet written its copy:
// the promotion's claim keeps the collection from deleting the content, so
// the copy does not dangle.
func TestPromoteClaims(t *testing.T) {
	se := newSharedEnv(t, path.Join(areasRoot, SharedArea)+"/", "never/")
	se.pushDrv.armed.Store(false)
	se.pushDrv.before = true
	ctx := t.Context()
	bs, _ := se.pusher.Repo("docker.io/shared/app", "bs.a")
	data := gcContent("promoted layer", 3000)
	d := se.gc.push(bs, data)
	se.gc.ageAll(2 * time.Hour)
	se.pushDrv.armed.Store(true)

	promoted := make(chan error, 1)
	go func() {
		_, err := se.pusher.Promote(ctx, "bs.a", SharedArea, nil)
		promoted <- err
	}()
	within(t, se.pushDrv.held, "the promotion to write a link")
	rep := se.gc.collect(CollectOptions{Grace: time.Hour, DropAreas: []string{"bs.a"}})
	close(se.pushDrv.release)
	if err := within(t, promoted, "the promotion"); err != nil {
		t.Fatalf("Promote: %v", err)
	}
	shared, _ := se.pusher.Repo("docker.io/shared/app", SharedArea)
	if err := gcReadBlob(t, shared, d); err != nil {
		t.Errorf("the promoted link dangles: the collection (%+v) deleted what the promotion had claimed: %v", rep, err)
	}
}
