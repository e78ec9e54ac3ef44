package storage

// Garbage collection: what Collect frees, what it keeps, and that a dry run
// predicts a real one exactly. Ages are set explicitly: the store runs on a
// fake clock (Options.Now) and file modification times, which the collector
// reads from the driver, are set with os.Chtimes relative to that clock.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/shadowreg/shadowreg/storage/driver/filesystem"
)

// gcClock is a settable clock.
type gcClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *gcClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *gcClock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// gcEnv is a store on a filesystem driver in a temporary folder, on a fake
// clock that starts at the real time (so that files written now are "now").
type gcEnv struct {
	t     *testing.T
	s     *Store
	dir   string
	clock *gcClock
}

func newGCEnv(t *testing.T) *gcEnv {
	t.Helper()
	dir := t.TempDir()
	d, err := filesystem.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	clock := &gcClock{t: time.Now()}
	// No manifest cache: what is read comes from the driver.
	s := New(d, Options{Now: clock.Now, ManifestCacheBytes: -1})
	return &gcEnv{t: t, s: s, dir: dir, clock: clock}
}

func (e *gcEnv) repo(name string, areas ...string) *Repo {
	e.t.Helper()
	r, err := e.s.Repo(name, areas...)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// gcContent is n bytes unique to seed.
func gcContent(seed string, n int) []byte {
	b := make([]byte, 0, n)
	for i := 0; len(b) < n; i++ {
		b = fmt.Appendf(b, "%s:%d;", seed, i)
	}
	return b[:n]
}

// push uploads data into r in two chunks and returns its digest.
func (e *gcEnv) push(r *Repo, data []byte) digest.Digest {
	e.t.Helper()
	ctx := e.t.Context()
	d := digest.FromBytes(data)
	up, err := r.UploadStart(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	half := len(data) / 2
	if err := up.Append(ctx, bytes.NewReader(data[:half]), 0, int64(half)); err != nil {
		e.t.Fatal(err)
	}
	if err := up.Append(ctx, bytes.NewReader(data[half:]), int64(half), int64(len(data)-half)); err != nil {
		e.t.Fatal(err)
	}
	if _, err := up.Commit(ctx, d); err != nil {
		e.t.Fatal(err)
	}
	return d
}

// gcImage is a manifest pushed by gcEnv.image: its parse and what it
// references.
type gcImage struct {
	m      *Manifest
	p      *Parsed
	config digest.Digest
	layers []digest.Digest
}

// image builds an OCI image manifest over a config unique to seed and
// layers, pushing the config and every layer into r first.
func (e *gcEnv) image(r *Repo, seed string, layers ...[]byte) gcImage {
	e.t.Helper()
	config := fmt.Appendf(nil, `{"architecture":"amd64","os":"linux","seed":%q}`, seed)
	img := gcImage{config: e.push(r, config)}
	ls := []obj2{}
	for _, l := range layers {
		img.layers = append(img.layers, e.push(r, l))
		ls = append(ls, obj2{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest.FromBytes(l), "size": len(l)})
	}
	data := gcJSON(obj2{
		"schemaVersion": 2, "mediaType": MediaTypeOCIManifest,
		"config": obj2{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": img.config, "size": len(config)},
		"layers": ls,
	})
	p, err := ParseManifest(MediaTypeOCIManifest, data)
	if err != nil {
		e.t.Fatal(err)
	}
	img.m, img.p = &Manifest{Digest: digest.FromBytes(data), MediaType: p.MediaType, Data: data}, p
	return img
}

type obj2 = map[string]any

func gcJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func (e *gcEnv) putImage(r *Repo, img gcImage, tags ...string) {
	e.t.Helper()
	if err := r.PutManifest(e.t.Context(), img.m, img.p, tags...); err != nil {
		e.t.Fatal(err)
	}
}

// full is a store path on disk.
func (e *gcEnv) full(p string) string { return filepath.Join(e.dir, filepath.FromSlash(p)) }

// setAge makes the file at store path p look age old to the store's clock.
func (e *gcEnv) setAge(p string, age time.Duration) {
	e.t.Helper()
	at := e.clock.Now().Add(-age)
	if err := os.Chtimes(e.full(p), at, at); err != nil {
		e.t.Fatal(err)
	}
}

// ageAll makes every file of the store age old.
func (e *gcEnv) ageAll(age time.Duration) {
	e.t.Helper()
	at := e.clock.Now().Add(-age)
	err := filepath.WalkDir(e.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		return os.Chtimes(p, at, at)
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *gcEnv) exists(p string) bool {
	_, err := os.Stat(e.full(p))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		e.t.Fatal(err)
	}
	return err == nil
}

func (e *gcEnv) hasBlob(d digest.Digest) bool { return e.exists(blobPath(d)) }

func (e *gcEnv) mtime(p string) time.Time {
	e.t.Helper()
	fi, err := os.Stat(e.full(p))
	if err != nil {
		e.t.Fatal(err)
	}
	return fi.ModTime()
}

func (e *gcEnv) collect(o CollectOptions) *CollectReport {
	e.t.Helper()
	rep, err := e.s.Collect(e.t.Context(), o)
	if err != nil {
		e.t.Fatalf("Collect(%+v): %v", o, err)
	}
	return rep
}

// files lists every file of the store with its size, temporary files too.
func (e *gcEnv) files() map[string]int64 {
	e.t.Helper()
	out := map[string]int64{}
	err := filepath.WalkDir(e.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(e.dir, p)
		out[filepath.ToSlash(rel)] = fi.Size()
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// readAll reads blob d of r whole and checks it against its digest.
func gcReadBlob(t *testing.T, r *Repo, d digest.Digest) error {
	t.Helper()
	ctx := t.Context()
	if _, err := r.BlobStat(ctx, d); err != nil {
		return fmt.Errorf("BlobStat(%s): %w", d, err)
	}
	b, err := r.BlobOpen(ctx, d)
	if err != nil {
		return fmt.Errorf("BlobOpen(%s): %w", d, err)
	}
	defer b.Close()
	rc, err := b.Reader(ctx, 0)
	if err != nil {
		return fmt.Errorf("Reader(%s): %w", d, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return fmt.Errorf("reading %s: %w", d, err)
	}
	if got := d.Algorithm().FromBytes(data); got != d {
		return fmt.Errorf("blob %s: its %d bytes hash to %s", d, len(data), got)
	}
	return nil
}

// gcSame compares what two reports say was freed.
func gcSame(a, b *CollectReport) bool {
	return slices.Equal(a.Areas, b.Areas) && a.Uploads == b.Uploads && a.UploadBytes == b.UploadBytes &&
		a.CacheLinks == b.CacheLinks && a.Blobs == b.Blobs && a.BlobBytes == b.BlobBytes && a.FreedBytes == b.FreedBytes
}

func TestCollectFreesOldUnreferencedKeepsYoung(t *testing.T) {
	e := newGCEnv(t)
	ctx := t.Context()
	r := e.repo("docker.io/gc/grace")
	oldData, youngData, keptData := gcContent("old", 3000), gcContent("young", 700), gcContent("linked", 500)
	old, young, kept := e.push(r, oldData), e.push(r, youngData), e.push(r, keptData)
	for _, d := range []digest.Digest{old, young} {
		if err := r.BlobDelete(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	e.setAge(blobPath(old), 2*time.Hour)
	e.setAge(blobPath(young), 10*time.Minute)
	e.setAge(blobPath(kept), 48*time.Hour)

	rep := e.collect(CollectOptions{Grace: time.Hour})
	if rep.Blobs != 1 || rep.BlobBytes != int64(len(oldData)) || rep.FreedBytes != int64(len(oldData)) {
		t.Errorf("report = %+v, want 1 blob of %d bytes freed", rep, len(oldData))
	}
	if rep.DryRun || rep.Uploads != 0 || rep.CacheLinks != 0 || len(rep.Areas) != 0 {
		t.Errorf("report = %+v, want nothing else", rep)
	}
	if e.hasBlob(old) {
		t.Error("an unreferenced blob older than the grace period is still stored")
	}
	if !e.hasBlob(young) {
		t.Error("an unreferenced blob younger than the grace period was freed")
	}
	if !e.hasBlob(kept) {
		t.Error("a linked blob was freed")
	}
	if err := gcReadBlob(t, r, kept); err != nil {
		t.Error(err)
	}

	// The default grace period is an hour: the young blob stays, until it
	// is older than that.
	if rep := e.collect(CollectOptions{}); rep.Blobs != 0 {
		t.Errorf("default grace: report = %+v, want nothing freed", rep)
	}
	e.clock.Add(time.Hour)
	if rep := e.collect(CollectOptions{}); rep.Blobs != 1 || rep.BlobBytes != int64(len(youngData)) {
		t.Errorf("after an hour more: report = %+v, want the young blob (%d bytes) freed", rep, len(youngData))
	}
	if e.hasBlob(young) || !e.hasBlob(kept) {
		t.Errorf("after an hour more: young stored = %v (want false), linked stored = %v (want true)", e.hasBlob(young), e.hasBlob(kept))
	}
}

func TestCollectKeepsWhatLinksAndManifestsReference(t *testing.T) {
	e := newGCEnv(t)
	ctx := t.Context()
	shared := e.repo("docker.io/gc/app")
	child := e.repo("docker.io/gc/app", "bs.x", SharedArea)

	// A manifest in the shared area whose blob links were then deleted:
	// the manifest alone keeps its config and layer.
	imgA := e.image(shared, "a", gcContent("layer-a", 4000))
	e.putImage(shared, imgA, "a")
	for _, d := range append([]digest.Digest{imgA.config}, imgA.layers...) {
		if err := shared.BlobDelete(ctx, d); err != nil {
			t.Fatal(err)
		}
	}

	// A layer pushed to the shared area, referenced by a manifest in
	// another area (a buildset), then deleted from both repositories: only
	// that other area's manifest refers to it.
	layerB := gcContent("layer-b", 5000)
	dB := e.push(shared, layerB)
	configB := fmt.Appendf(nil, `{"architecture":"amd64","os":"linux","seed":"b"}`)
	dConfigB := e.push(child, configB)
	dataB := gcJSON(obj2{
		"schemaVersion": 2, "mediaType": MediaTypeOCIManifest,
		"config": obj2{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": dConfigB, "size": len(configB)},
		"layers": []obj2{{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": dB, "size": len(layerB)}},
	})
	pB, err := ParseManifest(MediaTypeOCIManifest, dataB)
	if err != nil {
		t.Fatal(err)
	}
	mB := &Manifest{Digest: digest.FromBytes(dataB), MediaType: MediaTypeOCIManifest, Data: dataB}
	if err := child.PutManifest(ctx, mB, pB, "b"); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*Repo{shared, child} {
		if err := r.BlobDelete(ctx, dB); err != nil {
			t.Fatal(err)
		}
	}
	if err := child.BlobDelete(ctx, dConfigB); err != nil {
		t.Fatal(err)
	}

	// A blob that only a link keeps.
	dLinked := e.push(e.repo("docker.io/gc/other", "bs.y"), gcContent("linked", 100))

	// A manifest in the cache area keeps its bytes (its link) but not its
	// layers: cache links alone do.
	cache := e.repo("docker.io/gc/cached", CacheArea)
	imgC := e.image(cache, "c", gcContent("layer-c", 3000))
	e.putImage(cache, imgC, "c")
	if err := cache.BlobDelete(ctx, imgC.layers[0]); err != nil {
		t.Fatal(err)
	}

	e.ageAll(30 * 24 * time.Hour)
	rep := e.collect(CollectOptions{Grace: time.Hour})

	for what, d := range map[string]digest.Digest{
		"manifest a": imgA.m.Digest, "config of a": imgA.config, "layer of a": imgA.layers[0],
		"manifest b": mB.Digest, "config of b": dConfigB, "layer of b (only another area's manifest refers to it)": dB,
		"linked blob": dLinked, "cached manifest": imgC.m.Digest, "config of the cached manifest (linked)": imgC.config,
	} {
		if !e.hasBlob(d) {
			t.Errorf("%s (%s) was freed", what, d)
		}
	}
	if e.hasBlob(imgC.layers[0]) {
		t.Error("a layer referenced only by a cached manifest was kept")
	}
	if rep.Blobs != 1 || rep.BlobBytes != 3000 {
		t.Errorf("report = %+v, want only the cached manifest's layer (3000 bytes) freed", rep)
	}

	// The manifests are still whole where their links are.
	if m, err := shared.Manifest(ctx, "a"); err != nil || m.Digest != imgA.m.Digest {
		t.Errorf("Manifest(a) = %v, %v", m, err)
	}
	if m, err := child.Manifest(ctx, "b"); err != nil || m.Digest != mB.Digest {
		t.Errorf("Manifest(b) = %v, %v", m, err)
	}
}

func TestCollectDropAreas(t *testing.T) {
	e := newGCEnv(t)
	ctx := t.Context()
	shared := e.repo("docker.io/gc/app")
	bs := e.repo("docker.io/gc/app", "bs.gone", SharedArea)
	keep := e.repo("docker.io/gc/app", "bs.kept", SharedArea)

	common := gcContent("common", 2000)
	imgS := e.image(shared, "shared", common)
	e.putImage(shared, imgS, "1")

	// The dropped area's image: the common layer (also held by the shared
	// area) and a layer of its own.
	own := gcContent("own", 6000)
	imgG := e.image(bs, "gone", common, own)
	e.putImage(bs, imgG, "1")
	// Another area holds the same layer as the dropped one: it stays.
	ownKept := gcContent("own-kept", 1500)
	imgK := e.image(keep, "kept", ownKept)
	e.putImage(keep, imgK, "1")

	e.ageAll(48 * time.Hour)
	want := int64(len(own)) + int64(len(imgG.m.Data)) + sizeOf(t, e, imgG.config)
	rep := e.collect(CollectOptions{Grace: time.Hour, DropAreas: []string{"bs.gone"}})

	if !slices.Equal(rep.Areas, []string{"bs.gone"}) {
		t.Errorf("report areas = %v, want [bs.gone]", rep.Areas)
	}
	if e.exists(areaPath("bs.gone")) {
		t.Error("the dropped area is still stored")
	}
	if rep.Blobs != 3 || rep.BlobBytes != want {
		t.Errorf("report = %+v, want 3 blobs (its manifest, config and own layer) of %d bytes", rep, want)
	}
	for _, d := range []digest.Digest{imgG.m.Digest, imgG.config, imgG.layers[1]} {
		if e.hasBlob(d) {
			t.Errorf("%s, which only the dropped area named, is still stored", d)
		}
	}
	for _, d := range []digest.Digest{imgS.m.Digest, imgS.config, imgS.layers[0], imgK.m.Digest, imgK.layers[0]} {
		if !e.hasBlob(d) {
			t.Errorf("%s, which another area names, was freed", d)
		}
	}
	// Reads through the dropped area fall through to the shared one.
	if m, err := bs.Manifest(ctx, "1"); err != nil || m.Digest != imgS.m.Digest {
		t.Errorf("Manifest(1) through the dropped area = %v, %v; want the shared area's %s", m, err, imgS.m.Digest)
	}
	if _, err := bs.Manifest(ctx, imgG.m.Digest.String()); !errors.Is(err, ErrManifestUnknown) {
		t.Errorf("the dropped area's manifest by digest: %v, want ErrManifestUnknown", err)
	}
	if _, err := keep.Manifest(ctx, "1"); err != nil {
		t.Errorf("another area's manifest: %v", err)
	}
	if rep := e.collect(CollectOptions{Grace: time.Hour, DropAreas: []string{"bs.gone"}}); rep.Blobs != 0 {
		t.Errorf("second run: %+v, want nothing more freed", rep)
	}
	if _, err := e.s.Collect(ctx, CollectOptions{DropAreas: []string{"../shared"}}); !errors.Is(err, ErrAreaInvalid) {
		t.Errorf("dropping an invalid area: %v, want ErrAreaInvalid", err)
	}
}

// sizeOf is blob d's stored size.
func sizeOf(t *testing.T, e *gcEnv, d digest.Digest) int64 {
	t.Helper()
	fi, err := os.Stat(e.full(blobPath(d)))
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func TestCollectStaleUploads(t *testing.T) {
	e := newGCEnv(t)
	ctx := t.Context()
	r := e.repo("docker.io/gc/uploads")
	stale, err := r.UploadStart(ctx)
	if err != nil {
		t.Fatal(err)
	}
	staleData := gcContent("stale", 1234)
	if err := stale.Append(ctx, bytes.NewReader(staleData), 0, int64(len(staleData))); err != nil {
		t.Fatal(err)
	}
	staleEmpty, err := r.UploadStart(ctx) // started, never written to
	if err != nil {
		t.Fatal(err)
	}

	e.clock.Add(2 * time.Hour)
	young, err := r.UploadStart(ctx)
	if err != nil {
		t.Fatal(err)
	}
	youngData := gcContent("young", 999)
	if err := young.Append(ctx, bytes.NewReader(youngData[:500]), 0, 500); err != nil {
		t.Fatal(err)
	}

	rep := e.collect(CollectOptions{UploadMaxAge: time.Hour})
	if rep.Uploads != 2 || rep.UploadBytes != int64(len(staleData)) || rep.FreedBytes != int64(len(staleData)) {
		t.Errorf("report = %+v, want 2 uploads of %d bytes in all", rep, len(staleData))
	}
	for _, id := range []string{stale.ID(), staleEmpty.ID()} {
		if e.exists(uploadDir(id)) {
			t.Errorf("stale upload %s is still stored", id)
		}
		if _, err := r.Upload(ctx, id); !errors.Is(err, ErrUploadUnknown) {
			t.Errorf("Upload(%s) = %v, want ErrUploadUnknown", id, err)
		}
	}
	// The young session goes on as if nothing happened.
	up, err := r.Upload(ctx, young.ID())
	if err != nil {
		t.Fatalf("young upload: %v", err)
	}
	if err := up.Append(ctx, bytes.NewReader(youngData[500:]), 500, int64(len(youngData)-500)); err != nil {
		t.Fatal(err)
	}
	d := digest.FromBytes(youngData)
	if _, err := up.Commit(ctx, d); err != nil {
		t.Fatal(err)
	}
	if err := gcReadBlob(t, r, d); err != nil {
		t.Error(err)
	}

	// An upload is judged by its last chunk, not its start.
	long, err := r.UploadStart(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Add(50 * time.Minute)
	if err := long.Append(ctx, bytes.NewReader([]byte("more")), 0, 4); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(50 * time.Minute)
	if rep := e.collect(CollectOptions{UploadMaxAge: time.Hour}); rep.Uploads != 0 {
		t.Errorf("an upload written to 50 minutes ago was collected: %+v", rep)
	}
}

// cacheEnv pushes three 1000-byte blobs into a cache repository, their
// links last used 3h, 2h and 1h ago, their bytes 3 days old.
func cacheEnv(t *testing.T) (*gcEnv, *Repo, []digest.Digest) {
	e := newGCEnv(t)
	cache := e.repo("docker.io/library/cached", CacheArea)
	var ds []digest.Digest
	for i := range 3 {
		d := e.push(cache, gcContent(fmt.Sprintf("cached-%d", i), 1000))
		ds = append(ds, d)
		e.setAge(blobPath(d), 72*time.Hour)
		e.setAge(blobLinkPath(CacheArea, cache.Name(), d), time.Duration(3-i)*time.Hour)
	}
	return e, cache, ds
}

func TestCollectCacheMaxAge(t *testing.T) {
	e, cache, ds := cacheEnv(t)
	ctx := t.Context()
	// The oldest is also pushed to a local repository: its link in the
	// cache goes, its bytes stay.
	local := e.repo("docker.io/library/local")
	if _, err := local.BlobMount(ctx, ds[0], cache); err != nil {
		t.Fatal(err)
	}
	e.setAge(blobPath(ds[0]), 72*time.Hour)

	rep := e.collect(CollectOptions{Grace: time.Hour, CacheMaxAge: 90 * time.Minute})
	if rep.CacheLinks != 2 || rep.Blobs != 1 || rep.BlobBytes != 1000 {
		t.Errorf("report = %+v, want 2 cache links evicted and 1 blob of 1000 bytes freed", rep)
	}
	for i, wantLink := range []bool{false, false, true} {
		if got := e.exists(blobLinkPath(CacheArea, cache.Name(), ds[i])); got != wantLink {
			t.Errorf("cache link %d (used %dh ago) present = %v, want %v", i, 3-i, got, wantLink)
		}
	}
	if !e.hasBlob(ds[0]) || e.hasBlob(ds[1]) || !e.hasBlob(ds[2]) {
		t.Errorf("blobs stored = %v %v %v, want true false true", e.hasBlob(ds[0]), e.hasBlob(ds[1]), e.hasBlob(ds[2]))
	}
	if err := gcReadBlob(t, local, ds[0]); err != nil {
		t.Error(err)
	}
	if _, err := cache.BlobStat(ctx, ds[1]); !errors.Is(err, ErrBlobUnknown) {
		t.Errorf("evicted entry: BlobStat = %v, want ErrBlobUnknown", err)
	}
	// Without a limit nothing is evicted, however old.
	e.clock.Add(1000 * time.Hour)
	if rep := e.collect(CollectOptions{Grace: time.Hour}); rep.CacheLinks != 0 {
		t.Errorf("no cache limits: %+v, want nothing evicted", rep)
	}
}

func TestCollectCacheMaxBytesLeastRecentlyUsed(t *testing.T) {
	e, cache, ds := cacheEnv(t)
	ctx := t.Context()
	// A hit on the oldest entry makes it the most recently used.
	cache.TouchBlob(ctx, ds[0])
	link0 := blobLinkPath(CacheArea, cache.Name(), ds[0])
	if !e.mtime(link0).After(e.clock.Now().Add(-time.Minute)) {
		t.Fatalf("TouchBlob did not renew the link: %v, clock %v", e.mtime(link0), e.clock.Now())
	}

	rep := e.collect(CollectOptions{Grace: time.Hour, CacheMaxBytes: 2000})
	if rep.CacheLinks != 1 || rep.Blobs != 1 || rep.BlobBytes != 1000 {
		t.Errorf("report = %+v, want 1 cache link evicted and its 1000 bytes freed", rep)
	}
	for i, want := range []bool{true, false, true} {
		if got := e.exists(blobLinkPath(CacheArea, cache.Name(), ds[i])); got != want {
			t.Errorf("cache link %d present = %v, want %v (least recently used goes first)", i, got, want)
		}
		if got := e.hasBlob(ds[i]); got != want {
			t.Errorf("blob %d stored = %v, want %v", i, got, want)
		}
	}
	// Within the limit, nothing more goes.
	if rep := e.collect(CollectOptions{Grace: time.Hour, CacheMaxBytes: 2000}); rep.CacheLinks != 0 || rep.Blobs != 0 {
		t.Errorf("second run: %+v, want nothing", rep)
	}
	// Down to one entry: the older of the two left goes.
	rep = e.collect(CollectOptions{Grace: time.Hour, CacheMaxBytes: 1000})
	if rep.CacheLinks != 1 || e.exists(blobLinkPath(CacheArea, cache.Name(), ds[2])) || !e.exists(link0) {
		t.Errorf("limit 1000: %+v; links present: touched %v, third %v (want true, false)", rep,
			e.exists(link0), e.exists(blobLinkPath(CacheArea, cache.Name(), ds[2])))
	}
}

func TestTouchBlobRenewsAtMostHourly(t *testing.T) {
	e, cache, ds := cacheEnv(t)
	ctx := t.Context()
	link := blobLinkPath(CacheArea, cache.Name(), ds[0])
	cache.TouchBlob(ctx, ds[0])
	renewed := e.mtime(link)
	e.setAge(link, 3*time.Hour)
	aged := e.mtime(link)
	// Touched again within the hour: no write.
	e.clock.Add(30 * time.Minute)
	cache.TouchBlob(ctx, ds[0])
	if got := e.mtime(link); !got.Equal(aged) {
		t.Errorf("a second touch within the hour rewrote the link (%v, was %v)", got, aged)
	}
	e.clock.Add(31 * time.Minute)
	cache.TouchBlob(ctx, ds[0])
	if got := e.mtime(link); got.Before(renewed) {
		t.Errorf("a touch after an hour did not renew the link: %v, want at least %v", got, renewed)
	}
	// A touch of a blob the repository does not hold creates nothing
	// that makes it readable.
	if _, err := cache.BlobStat(ctx, digest.FromString("nothing")); !errors.Is(err, ErrBlobUnknown) {
		t.Errorf("BlobStat of an unknown blob: %v", err)
	}
}

func TestCollectDryRunPredictsRealRun(t *testing.T) {
	e := newGCEnv(t)
	ctx := t.Context()
	shared := e.repo("docker.io/gc/app")
	bs := e.repo("docker.io/gc/app", "bs.drop", SharedArea)
	cache := e.repo("docker.io/library/cached", CacheArea)

	// Garbage of every kind: a deleted manifest, deleted blobs, a dropped
	// area, stale uploads, cache entries over both limits.
	img := e.image(shared, "kept", gcContent("kept-layer", 2500))
	e.putImage(shared, img, "kept")
	gone := e.image(shared, "gone", gcContent("gone-layer", 3300))
	e.putImage(shared, gone, "gone")
	if err := shared.DeleteManifest(ctx, gone.m.Digest); err != nil {
		t.Fatal(err)
	}
	if err := shared.BlobDelete(ctx, gone.layers[0]); err != nil {
		t.Fatal(err)
	}
	dropped := e.image(bs, "dropped", gcContent("dropped-layer", 4100), gcContent("kept-layer", 2500))
	e.putImage(bs, dropped, "1")
	var cached []digest.Digest
	for i := range 4 {
		cached = append(cached, e.push(cache, gcContent(fmt.Sprintf("cache-%d", i), 800+i)))
	}
	up, err := shared.UploadStart(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := up.Append(ctx, bytes.NewReader(gcContent("stale-upload", 777)), 0, 777); err != nil {
		t.Fatal(err)
	}
	e.ageAll(24 * time.Hour)
	e.clock.Add(48 * time.Hour)
	for i, d := range cached {
		e.setAge(blobLinkPath(CacheArea, cache.Name(), d), time.Duration(5-i)*time.Hour)
	}
	// Young garbage, which neither run may free.
	young := e.push(shared, gcContent("young", 321))
	if err := shared.BlobDelete(ctx, young); err != nil {
		t.Fatal(err)
	}
	e.setAge(blobPath(young), time.Minute)
	youngUp, err := shared.UploadStart(ctx)
	if err != nil {
		t.Fatal(err)
	}

	o := CollectOptions{Grace: time.Hour, UploadMaxAge: 24 * time.Hour, CacheMaxAge: 4*time.Hour + 30*time.Minute,
		CacheMaxBytes: 1700, DropAreas: []string{"bs.drop"}}
	before := e.files()
	dry := o
	dry.DryRun = true
	dryRep := e.collect(dry)
	if !dryRep.DryRun {
		t.Error("dry run report: DryRun false")
	}
	if after := e.files(); !gcSameFiles(before, after) {
		t.Fatalf("a dry run changed the store:\n%s", gcDiffFiles(before, after))
	}
	realRep := e.collect(o)
	if realRep.DryRun {
		t.Error("real run report: DryRun true")
	}
	if !gcSame(dryRep, realRep) {
		t.Errorf("dry run reported %+v\nreal run reported %+v", dryRep, realRep)
	}
	// What the real run freed, on disk: blob and upload bytes.
	after := e.files()
	var freed, freedBlobs, freedUploads int64
	nBlobs := 0
	for p, size := range before {
		if _, ok := after[p]; ok {
			continue
		}
		switch {
		case strings.HasPrefix(p, blobsRoot+"/"):
			freed += size
			freedBlobs += size
			nBlobs++
		case strings.HasPrefix(p, uploadsRoot+"/") && strings.HasSuffix(p, "/data"):
			freed += size
			freedUploads += size
		}
	}
	if realRep.FreedBytes != freed || realRep.BlobBytes != freedBlobs || realRep.UploadBytes != freedUploads || realRep.Blobs != nBlobs {
		t.Errorf("real run reported %+v; on disk it freed %d blobs of %d bytes and %d upload bytes", realRep, nBlobs, freedBlobs, freedUploads)
	}
	// Every kind of garbage was found.
	if realRep.Uploads != 1 || realRep.UploadBytes != 777 || len(realRep.Areas) != 1 || realRep.CacheLinks != 2 || realRep.Blobs < 5 {
		t.Errorf("real run: %+v, want 1 upload of 777 bytes, 1 area, 2 cache links, at least 5 blobs", realRep)
	}
	// What must stay stayed.
	if m, err := shared.Manifest(ctx, "kept"); err != nil || m.Digest != img.m.Digest {
		t.Errorf("kept manifest: %v, %v", m, err)
	}
	for _, d := range append([]digest.Digest{img.config}, img.layers...) {
		if err := gcReadBlob(t, shared, d); err != nil {
			t.Error(err)
		}
	}
	if !e.hasBlob(young) || !e.exists(uploadDir(youngUp.ID())) {
		t.Error("young garbage was freed")
	}
	// And a second pair of runs finds nothing more.
	again := e.collect(dry)
	if again.Blobs != 0 || again.Uploads != 0 || again.CacheLinks != 0 || again.FreedBytes != 0 {
		t.Errorf("dry run after the real one: %+v, want nothing to free", again)
	}
}

func gcSameFiles(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for p, s := range a {
		if t, ok := b[p]; !ok || s != t {
			return false
		}
	}
	return true
}

func gcDiffFiles(a, b map[string]int64) string {
	var out []string
	for p := range a {
		if _, ok := b[p]; !ok {
			out = append(out, "- "+p)
		}
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			out = append(out, "+ "+p)
		}
	}
	slices.Sort(out)
	return strings.Join(out, "\n")
}

func TestCollectBlobDeletedFreedAfterGrace(t *testing.T) {
	e := newGCEnv(t)
	ctx := t.Context()
	r := e.repo("docker.io/gc/blobdelete")
	other := e.repo("docker.io/gc/other")
	data := gcContent("deleted", 4096)
	d := e.push(r, data)
	shared := e.push(r, gcContent("in two repositories", 100))
	if _, err := other.BlobMount(ctx, shared, r); err != nil {
		t.Fatal(err)
	}
	for _, x := range []digest.Digest{d, shared} {
		if err := r.BlobDelete(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.BlobStat(ctx, d); !errors.Is(err, ErrBlobUnknown) {
		t.Errorf("BlobStat after BlobDelete = %v, want ErrBlobUnknown", err)
	}
	// Within the grace period it stays (a manifest may be on its way).
	if rep := e.collect(CollectOptions{Grace: time.Hour}); rep.Blobs != 0 || !e.hasBlob(d) {
		t.Errorf("within the grace period: %+v, stored %v", rep, e.hasBlob(d))
	}
	e.clock.Add(61 * time.Minute)
	rep := e.collect(CollectOptions{Grace: time.Hour})
	if rep.Blobs != 1 || rep.BlobBytes != int64(len(data)) || e.hasBlob(d) {
		t.Errorf("after the grace period: %+v, stored %v; want it freed (%d bytes)", rep, e.hasBlob(d), len(data))
	}
	if err := gcReadBlob(t, other, shared); err != nil {
		t.Errorf("a blob deleted from one repository but held by another: %v", err)
	}
}

func TestCollectFreesDeletedManifest(t *testing.T) {
	e := newGCEnv(t)
	ctx := t.Context()
	r := e.repo("docker.io/gc/manifests")
	img := e.image(r, "m", gcContent("layer", 1000))
	e.putImage(r, img, "latest", "v1")
	e.clock.Add(2 * time.Hour)
	if rep := e.collect(CollectOptions{Grace: time.Hour}); rep.Blobs != 0 {
		t.Fatalf("with everything referenced: %+v, want nothing freed", rep)
	}
	if err := r.DeleteManifest(ctx, img.m.Digest); err != nil {
		t.Fatal(err)
	}
	rep := e.collect(CollectOptions{Grace: time.Hour})
	if rep.Blobs != 1 || rep.BlobBytes != int64(len(img.m.Data)) {
		t.Errorf("after deleting the manifest: %+v, want its %d bytes freed", rep, len(img.m.Data))
	}
	if e.hasBlob(img.m.Digest) {
		t.Error("the deleted manifest's bytes are still stored")
	}
	if !e.hasBlob(img.config) || !e.hasBlob(img.layers[0]) {
		t.Error("the blobs, still linked, were freed")
	}
	for _, ref := range []string{"latest", "v1", img.m.Digest.String()} {
		if _, err := r.Manifest(ctx, ref); !errors.Is(err, ErrManifestUnknown) {
			t.Errorf("Manifest(%s) after delete = %v, want ErrManifestUnknown", ref, err)
		}
	}
	// Then its blobs, once they are deleted too.
	for _, d := range []digest.Digest{img.config, img.layers[0]} {
		if err := r.BlobDelete(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if rep := e.collect(CollectOptions{Grace: time.Hour}); rep.Blobs != 2 || e.hasBlob(img.layers[0]) {
		t.Errorf("after deleting its blobs: %+v, want both freed", rep)
	}
}
