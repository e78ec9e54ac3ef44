package storage

// The race test: pushes (uploads, cross-repository mounts, manifests) and
// deletions run while garbage collection loops with no grace period at
// all. Whatever a push acknowledged and nobody deleted must stay whole.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/shadowreg/shadowreg/storage/driver"
	"github.com/shadowreg/shadowreg/storage/driver/filesystem"
)

// raceBlob is content a pusher may reuse: in a repository, or anywhere.
type raceBlob struct {
	d    digest.Digest
	data []byte
	repo *Repo // nil: recycled (deleted everywhere it was pushed)
}

// racePool hands out blobs for reuse, each at most once.
type racePool struct {
	mu    sync.Mutex
	blobs []raceBlob
}

func (p *racePool) put(b raceBlob) {
	p.mu.Lock()
	p.blobs = append(p.blobs, b)
	p.mu.Unlock()
}

func (p *racePool) take(rnd *rand.Rand) (raceBlob, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.blobs) == 0 {
		return raceBlob{}, false
	}
	i := rnd.IntN(len(p.blobs))
	b := p.blobs[i]
	p.blobs = append(p.blobs[:i], p.blobs[i+1:]...)
	return b, true
}

// raceImage is an acknowledged manifest.
type raceImage struct {
	repo   *Repo
	tag    string
	digest digest.Digest
	blobs  []digest.Digest // config, base layer, own layer
	layer  []byte          // the own layer's bytes
}

// raceStats counts what happened, to show that the test exercised the
// races it means to.
type raceStats struct {
	acked, refused, deleted, uploadRetries  atomic.Int64
	mounts, mountMisses, recycled, borrowed atomic.Int64
	collections, freedBlobs, freedUploads   atomic.Int64
	collectErrors                           atomic.Int64
}

type raceConfig struct {
	workers, rounds int
	// collectors run Collect concurrently with each other; with dryRuns,
	// every other collection of the second collector is a dry run.
	collectors int
	dryRuns    bool
	maxTime    time.Duration
	// collectWith, when set, is the store the collectors use: another
	// process's view of the same storage (pushers use the store given).
	collectWith *Store
	// claimRetention shortens how long claims keep content (shared
	// storage), so that the collector frees some during the test.
	claimRetention time.Duration
}

// raceUpload pushes data into r through an upload session in two chunks.
// The collector may delete the session under it (UploadMaxAge is tiny): the
// push then starts over, as a client would.
func raceUpload(ctx context.Context, r *Repo, data []byte, st *raceStats) (digest.Digest, error) {
	d := digest.FromBytes(data)
	var err error
	for range 50 {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		var up *Upload
		if up, err = r.UploadStart(ctx); err != nil {
			st.uploadRetries.Add(1)
			continue
		}
		half := int64(len(data) / 2)
		if err = up.Append(ctx, bytes.NewReader(data[:half]), 0, half); err != nil {
			st.uploadRetries.Add(1)
			continue
		}
		if err = up.Append(ctx, bytes.NewReader(data[half:]), half, int64(len(data))-half); err != nil {
			st.uploadRetries.Add(1)
			continue
		}
		dd, cerr := up.Commit(ctx, d)
		if err = cerr; err != nil {
			st.uploadRetries.Add(1)
			continue
		}
		if dd.Digest != d || dd.Size != int64(len(data)) {
			return "", fmt.Errorf("Commit = %+v, want %s of %d bytes", dd, d, len(data))
		}
		return d, nil
	}
	return "", fmt.Errorf("upload of %s kept failing: %w", d, err)
}

// raceMountOrUpload mounts b into r (from b.repo, or from anywhere), and
// uploads it when there is nothing to mount any more.
func raceMountOrUpload(ctx context.Context, r *Repo, b raceBlob, st *raceStats) error {
	st.mounts.Add(1)
	desc, err := r.BlobMount(ctx, b.d, b.repo)
	if err == nil {
		if desc.Digest != b.d || desc.Size != int64(len(b.data)) {
			return fmt.Errorf("BlobMount = %+v, want %s of %d bytes", desc, b.d, len(b.data))
		}
		return nil
	}
	if !errors.Is(err, ErrBlobUnknown) {
		return fmt.Errorf("BlobMount(%s): %w", b.d, err)
	}
	st.mountMisses.Add(1)
	_, err = raceUpload(ctx, r, b.data, st)
	return err
}

// runRace runs the pushers and collectors and returns what must be
// readable at the end, by repository.
func runRace(t *testing.T, s *Store, cfg raceConfig) ([]raceImage, *raceStats) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), cfg.maxTime)
	defer cancel()
	st := &raceStats{}

	// The base layer every image shares, held by a repository that never
	// deletes it.
	baseRepo, err := s.Repo("docker.io/race/base")
	if err != nil {
		t.Fatal(err)
	}
	baseData := gcContent("base layer", 64<<10)
	base, err := raceUpload(ctx, baseRepo, baseData, st)
	if err != nil {
		t.Fatal(err)
	}

	var recycle, borrow racePool
	var kept sync.Map // worker → []raceImage, written by the worker only
	done := make(chan struct{})

	var collectors sync.WaitGroup
	collectErrs := make(chan error, 1)
	for c := range cfg.collectors {
		collectors.Add(1)
		go func() {
			defer collectors.Done()
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				case <-ctx.Done():
					return
				default:
				}
				o := CollectOptions{Grace: time.Nanosecond, UploadMaxAge: time.Nanosecond, ClaimRetention: cfg.claimRetention}
				o.DryRun = cfg.dryRuns && c == 1 && i%2 == 0
				cs := s
				if cfg.collectWith != nil {
					cs = cfg.collectWith
				}
				rep, err := cs.Collect(ctx, o)
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					// A collection that fails is retried, as the scheduled
					// one is; TestCollectWhileUploadsAreWritten covers the
					// failures themselves.
					st.collectErrors.Add(1)
					select {
					case collectErrs <- fmt.Errorf("collector %d: %w", c, err):
					default:
					}
					continue
				}
				st.collections.Add(1)
				if !o.DryRun {
					st.freedBlobs.Add(int64(rep.Blobs))
					st.freedUploads.Add(int64(rep.Uploads))
				}
			}
		}()
	}

	var workers sync.WaitGroup
	workErrs := make(chan error, cfg.workers)
	for w := range cfg.workers {
		workers.Add(1)
		go func() {
			defer workers.Done()
			rnd := rand.New(rand.NewPCG(uint64(w), 42))
			r, err := s.Repo(fmt.Sprintf("docker.io/race/w%d", w))
			if err != nil {
				workErrs <- err
				return
			}
			// How many kept images of this repository reference each blob:
			// a blob link is deleted only when none does.
			refs := map[digest.Digest]int{}
			var mine []raceImage
			fail := func(err error) { workErrs <- fmt.Errorf("worker %d: %w", w, err) }
			for round := range cfg.rounds {
				if ctx.Err() != nil {
					break
				}
				seed := fmt.Sprintf("w%d-r%d", w, round)
				config := fmt.Appendf(nil, `{"architecture":"amd64","os":"linux","seed":%q}`, seed)
				dConfig, err := raceUpload(ctx, r, config, st)
				if err != nil {
					fail(err)
					return
				}
				// The base layer: a mount from the repository that holds it,
				// or from anywhere.
				from := baseRepo
				if round%2 == 1 {
					from = nil
				}
				if err := raceMountOrUpload(ctx, r, raceBlob{base, baseData, from}, st); err != nil {
					fail(err)
					return
				}
				// The image's own layer: new, recycled garbage (a mount from
				// anywhere, racing the sweep), or borrowed from another
				// worker's image (a mount racing its deletion).
				var layer raceBlob
				var ok bool
				switch round % 3 {
				case 1:
					if layer, ok = recycle.take(rnd); ok {
						st.recycled.Add(1)
					}
				case 2:
					if layer, ok = borrow.take(rnd); ok {
						st.borrowed.Add(1)
					}
				}
				if ok {
					if err := raceMountOrUpload(ctx, r, layer, st); err != nil {
						fail(err)
						return
					}
				} else {
					data := gcContent(seed+" layer", 1024+rnd.IntN(16<<10))
					d, err := raceUpload(ctx, r, data, st)
					if err != nil {
						fail(err)
						return
					}
					layer = raceBlob{d: d, data: data}
				}
				mdata := gcJSON(obj2{
					"schemaVersion": 2, "mediaType": MediaTypeOCIManifest,
					"config": obj2{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": dConfig, "size": len(config)},
					"layers": []obj2{
						{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": base, "size": len(baseData)},
						{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer.d, "size": len(layer.data)},
					},
				})
				p, err := ParseManifest(MediaTypeOCIManifest, mdata)
				if err != nil {
					fail(err)
					return
				}
				m := &Manifest{Digest: digest.FromBytes(mdata), MediaType: p.MediaType, Data: mdata}
				tag := fmt.Sprintf("r%d", round)
				if err := r.PutManifest(ctx, m, p, tag, "latest"); err != nil {
					var mbu *ManifestBlobUnknownError
					if !errors.As(err, &mbu) {
						fail(fmt.Errorf("PutManifest: %w", err))
						return
					}
					st.refused.Add(1)
				} else {
					st.acked.Add(1)
					img := raceImage{repo: r, tag: tag, digest: m.Digest, blobs: []digest.Digest{dConfig, base, layer.d}, layer: layer.data}
					mine = append(mine, img)
					for _, d := range img.blobs {
						refs[d]++
					}
					borrow.put(raceBlob{d: layer.d, data: layer.data, repo: r})
				}
				// Delete an earlier image now and then, and the blob links
				// only it needed: garbage for the collector.
				if round%3 == 2 && len(mine) > 1 {
					i := rnd.IntN(len(mine) - 1)
					old := mine[i]
					if err := r.DeleteManifest(ctx, old.digest); err != nil {
						fail(fmt.Errorf("DeleteManifest: %w", err))
						return
					}
					mine = append(mine[:i], mine[i+1:]...)
					st.deleted.Add(1)
					for _, d := range old.blobs {
						if refs[d]--; refs[d] == 0 {
							delete(refs, d)
							if err := r.BlobDelete(ctx, d); err != nil {
								fail(fmt.Errorf("BlobDelete: %w", err))
								return
							}
						}
					}
					if d := old.blobs[2]; refs[d] == 0 {
						recycle.put(raceBlob{d: d, data: old.layer})
					}
				}
				kept.Store(w, append([]raceImage(nil), mine...))
			}
		}()
	}

	workers.Wait()
	close(done)
	collectors.Wait()
	close(workErrs)
	close(collectErrs)
	for err := range workErrs {
		t.Error(err)
	}
	for err := range collectErrs {
		t.Logf("%d collections failed (and were retried), the first: %v", st.collectErrors.Load(), err)
	}
	if ctx.Err() != nil {
		t.Logf("stopped after %s", cfg.maxTime)
	}
	var out []raceImage
	kept.Range(func(_, v any) bool {
		out = append(out, v.([]raceImage)...)
		return true
	})
	return out, st
}

// verifyRace checks that every image is whole through s.
func verifyRace(t *testing.T, s *Store, imgs []raceImage) {
	t.Helper()
	ctx := t.Context()
	bad := 0
	for _, img := range imgs {
		r, err := s.Repo(img.repo.Name(), img.repo.Areas()...)
		if err != nil {
			t.Fatal(err)
		}
		var errs []error
		for _, ref := range []string{img.tag, img.digest.String()} {
			m, err := r.Manifest(ctx, ref)
			if err != nil {
				errs = append(errs, fmt.Errorf("Manifest(%s): %w", ref, err))
			} else if m.Digest != img.digest || digest.FromBytes(m.Data) != img.digest {
				errs = append(errs, fmt.Errorf("Manifest(%s) = %s", ref, m.Digest))
			}
		}
		for _, d := range img.blobs {
			if err := gcReadBlob(t, r, d); err != nil {
				errs = append(errs, err)
			}
		}
		if len(errs) > 0 {
			bad++
			if bad <= 10 {
				t.Errorf("acknowledged image %s:%s (%s) is not whole: %v", img.repo.Name(), img.tag, img.digest, errors.Join(errs...))
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d acknowledged images are not whole", bad, len(imgs))
	}
}

func raceStore(t *testing.T) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	d, err := filesystem.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	return New(d, Options{}), dir
}

func testRace(t *testing.T, cfg raceConfig) {
	s, dir := raceStore(t)
	testRaceOn(t, s, dir, cfg)
}

func testRaceOn(t *testing.T, s *Store, dir string, cfg raceConfig) {
	imgs, st := runRace(t, s, cfg)
	t.Logf("acknowledged %d manifests (%d refused: content swept), deleted %d; %d mounts (%d missed: swept or deleted), %d recycled, %d borrowed; %d upload retries; %d collections freed %d blobs and %d uploads",
		st.acked.Load(), st.refused.Load(), st.deleted.Load(), st.mounts.Load(), st.mountMisses.Load(),
		st.recycled.Load(), st.borrowed.Load(), st.uploadRetries.Load(), st.collections.Load(), st.freedBlobs.Load(), st.freedUploads.Load())
	if st.acked.Load() == 0 || st.collections.Load() == 0 {
		t.Fatal("the race did not happen: nothing acknowledged or nothing collected")
	}
	// Every blob a manifest names was linked into its repository by an
	// acknowledged upload or mount just before: a refusal means the
	// collector swept acknowledged content.
	if n := st.refused.Load(); n > 0 {
		t.Errorf("%d manifests were refused for missing blobs that their repository had linked (acknowledged uploads or mounts, then swept)", n)
	}
	verifyRace(t, s, imgs)
	// And from the storage alone, without this store's caches.
	d, err := filesystem.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	verifyRace(t, New(d, Options{ManifestCacheBytes: -1}), imgs)
}

// TestCollectRace is the race test the project requires: 8 pushers × 25
// rounds against one collector looping with no grace period.
func TestCollectRace(t *testing.T) {
	testRace(t, raceConfig{workers: 8, rounds: 25, collectors: 1, maxTime: 2 * time.Minute})
}

// TestCollectRaceConcurrentCollectors runs two collectors at once, as a
// server does when its scheduled collection meets one asked for through
// the admin API (POST /shadowreg/v1/gc, dry or not).
func TestCollectRaceConcurrentCollectors(t *testing.T) {
	testRace(t, raceConfig{workers: 8, rounds: 25, collectors: 2, dryRuns: true, maxTime: 2 * time.Minute})
}

// TestCollectRaceSharedStorage is the race across processes: the pushers
// and the collector use two stores on one storage, as two replicas on one
// bucket do, so the collector's gcGuard knows nothing of the pushes and
// only the claims and tombstones in the storage keep them apart.
func TestCollectRaceSharedStorage(t *testing.T) {
	dir := t.TempDir()
	d, err := filesystem.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	pushers := New(d, Options{Shared: true})
	collector := New(d, Options{Shared: true})
	testRaceOn(t, pushers, dir, raceConfig{workers: 8, rounds: 40, collectors: 1, maxTime: 2 * time.Minute, collectWith: collector,
		claimRetention: time.Second})
}

// pausingDriver blocks the first walk of the areas (a collection's
// marking) once it has finished, until released.
type pausingDriver struct {
	driver.Driver
	once    sync.Once
	marked  chan struct{} // closed when the first marking walk is done
	release chan struct{}
}

func (p *pausingDriver) Walk(ctx context.Context, path string, fn func(driver.FileInfo) error) error {
	err := p.Driver.Walk(ctx, path, fn)
	if path == areasRoot {
		first := false
		p.once.Do(func() { first = true })
		if first {
			close(p.marked)
			<-p.release
		}
	}
	return err
}

// TestCollectConcurrentCollectionsKeepNotedReferences makes the
// interleaving of TestCollectRaceConcurrentCollectors deterministic.
// Collection A has marked; then a push mounts content nothing referred to
// (A noted it, so A's sweep must spare it); then collection B — a dry run,
// or a real one — runs whole; then A sweeps. The mounted blob must survive.
func TestCollectConcurrentCollectionsKeepNotedReferences(t *testing.T) {
	for _, dry := range []bool{true, false} {
		t.Run(fmt.Sprintf("second-dry-run=%v", dry), func(t *testing.T) {
			ctx := t.Context()
			fs, err := filesystem.New(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			pd := &pausingDriver{Driver: fs, marked: make(chan struct{}), release: make(chan struct{})}
			s := New(pd, Options{})
			src, _ := s.Repo("docker.io/race/src")
			dst, _ := s.Repo("docker.io/race/dst")
			data := gcContent("orphan", 5000)
			d, err := raceUpload(ctx, src, data, &raceStats{})
			if err != nil {
				t.Fatal(err)
			}
			if err := src.BlobDelete(ctx, d); err != nil { // garbage now
				t.Fatal(err)
			}
			time.Sleep(5 * time.Millisecond) // older than A's grace of 1ns

			aDone := make(chan error, 1)
			go func() {
				_, err := s.Collect(ctx, CollectOptions{Grace: time.Nanosecond})
				aDone <- err
			}()
			select {
			case <-pd.marked:
			case <-time.After(30 * time.Second):
				t.Fatal("collection A never marked")
			}
			// A push mounts the blob by digest while A is between marking and
			// sweeping: A notes it.
			if _, err := dst.BlobMount(ctx, d, nil); err != nil {
				t.Fatalf("BlobMount: %v", err)
			}
			// B runs whole meanwhile (or, were collections serialised, waits
			// for A: A is released after a while either way).
			bDone := make(chan error, 1)
			go func() {
				_, err := s.Collect(ctx, CollectOptions{Grace: time.Nanosecond, DryRun: dry})
				bDone <- err
			}()
			var bErr error
			bFinished := false
			select {
			case bErr = <-bDone:
				bFinished = true
			case <-time.After(2 * time.Second):
			}
			close(pd.release)
			if err := <-aDone; err != nil {
				t.Fatal(err)
			}
			if !bFinished {
				bErr = <-bDone
			}
			if bErr != nil {
				t.Fatal(bErr)
			}
			if err := gcReadBlob(t, dst, d); err != nil {
				t.Errorf("a blob mounted while collections ran is linked but gone: %v", err)
			}
		})
	}
}

// gateDriver holds the first PutContent of a path that match selects, once
// armed, until a collection has walked the areas (marked). It makes a
// reference land just after the marking that should have seen it.
type gateDriver struct {
	driver.Driver
	match    func(path string) bool
	armed    atomic.Bool
	holdOnce sync.Once
	held     chan struct{} // closed when the write is held
	markOnce sync.Once
	marked   chan struct{} // closed when a walk of the areas ended
}

func newGateDriver(t *testing.T, match func(string) bool) *gateDriver {
	fs, err := filesystem.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return &gateDriver{Driver: fs, match: match, held: make(chan struct{}), marked: make(chan struct{})}
}

func (g *gateDriver) PutContent(ctx context.Context, path string, content []byte) error {
	if g.armed.Load() && g.match(path) {
		first := false
		g.holdOnce.Do(func() { first = true })
		if first {
			close(g.held)
			// Until the marking ended, or long enough for a collection
			// that waits for this write to have proceeded otherwise.
			select {
			case <-g.marked:
			case <-time.After(2 * time.Second):
			}
		}
	}
	return g.Driver.PutContent(ctx, path, content)
}

func (g *gateDriver) Walk(ctx context.Context, path string, fn func(driver.FileInfo) error) error {
	err := g.Driver.Walk(ctx, path, fn)
	if path == areasRoot && g.armed.Load() {
		g.markOnce.Do(func() { close(g.marked) })
	}
	return err
}

// TestCollectKeepsReferencesMadeAcrossMarkingStart: an operation that
// makes a reference holds the collection guard and notes the digest before
// it writes the link. When a collection starts marking between the note
// and the write, and its walk passes the repository before the link is
// there, the reference is neither marked nor noted — and its content, older
// than the collection, is swept although the operation succeeded. (With a
// single collector: this is what TestCollectRace runs into.)
func TestCollectKeepsReferencesMadeAcrossMarkingStart(t *testing.T) {
	isManifestLinkPath := func(p string) bool { return isManifestLink(p) }
	isBlobLinkPath := func(p string) bool { _, ok := linkedDigest(p); return ok && !isManifestLink(p) }
	type op struct {
		name  string
		match func(string) bool
		// setup prepares the operation; run does it and returns what must
		// then be readable, and how.
		setup func(t *testing.T, s *Store) func() (check func() error, err error)
	}
	ops := []op{
		{"PutManifest", isManifestLinkPath, func(t *testing.T, s *Store) func() (func() error, error) {
			ctx := t.Context()
			r, _ := s.Repo("docker.io/gate/app")
			config := []byte(`{"architecture":"amd64","os":"linux"}`)
			layer := gcContent("layer", 3000)
			dc, err := raceUpload(ctx, r, config, &raceStats{})
			if err != nil {
				t.Fatal(err)
			}
			dl, err := raceUpload(ctx, r, layer, &raceStats{})
			if err != nil {
				t.Fatal(err)
			}
			data := gcJSON(obj2{"schemaVersion": 2, "mediaType": MediaTypeOCIManifest,
				"config": obj2{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": dc, "size": len(config)},
				"layers": []obj2{{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": dl, "size": len(layer)}}})
			p, err := ParseManifest("", data)
			if err != nil {
				t.Fatal(err)
			}
			m := &Manifest{Digest: digest.FromBytes(data), MediaType: p.MediaType, Data: data}
			return func() (func() error, error) {
				err := r.PutManifest(ctx, m, p, "v1")
				return func() error {
					fresh := New(s.Driver(), Options{ManifestCacheBytes: -1})
					fr, _ := fresh.Repo(r.Name())
					for _, ref := range []string{"v1", m.Digest.String()} {
						if _, err := fr.Manifest(ctx, ref); err != nil {
							return fmt.Errorf("Manifest(%s): %w", ref, err)
						}
					}
					return nil
				}, err
			}
		}},
		{"Upload.Commit", isBlobLinkPath, func(t *testing.T, s *Store) func() (func() error, error) {
			ctx := t.Context()
			r, _ := s.Repo("docker.io/gate/app")
			data := gcContent("pushed", 4000)
			up, err := r.UploadStart(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := up.Append(ctx, bytes.NewReader(data), 0, int64(len(data))); err != nil {
				t.Fatal(err)
			}
			d := digest.FromBytes(data)
			return func() (func() error, error) {
				_, err := up.Commit(ctx, d)
				return func() error { return gcReadBlob(t, r, d) }, err
			}
		}},
		{"BlobMount", isBlobLinkPath, func(t *testing.T, s *Store) func() (func() error, error) {
			ctx := t.Context()
			src, _ := s.Repo("docker.io/gate/src")
			dst, _ := s.Repo("docker.io/gate/dst")
			d, err := raceUpload(ctx, src, gcContent("mounted", 2000), &raceStats{})
			if err != nil {
				t.Fatal(err)
			}
			if err := src.BlobDelete(ctx, d); err != nil {
				t.Fatal(err)
			}
			return func() (func() error, error) {
				_, err := dst.BlobMount(ctx, d, nil)
				return func() error { return gcReadBlob(t, dst, d) }, err
			}
		}},
	}
	for _, o := range ops {
		t.Run(o.name, func(t *testing.T) {
			g := newGateDriver(t, o.match)
			s := New(g, Options{})
			run := o.setup(t, s)
			time.Sleep(20 * time.Millisecond) // what setup wrote is older than the collection
			g.armed.Store(true)
			type result struct {
				check func() error
				err   error
			}
			res := make(chan result, 1)
			go func() {
				check, err := run()
				res <- result{check, err}
			}()
			select {
			case <-g.held:
			case <-time.After(30 * time.Second):
				t.Fatal("the operation never wrote its link")
			}
			time.Sleep(20 * time.Millisecond) // file times are coarse
			rep, err := s.Collect(t.Context(), CollectOptions{Grace: time.Nanosecond})
			if err != nil {
				t.Fatal(err)
			}
			r := <-res
			if r.err != nil {
				t.Fatalf("%s failed: %v", o.name, r.err)
			}
			if err := r.check(); err != nil {
				t.Errorf("%s succeeded, but what it referenced was swept by the collection it overlapped (report %+v): %v", o.name, rep, err)
			}
		})
	}
}

// TestCollectWhileUploadsAreWritten: a collection deletes stale upload
// sessions while clients may still write to them. A write racing the
// deletion (a chunk's state file appearing in the folder being removed)
// must not make the whole collection fail.
func TestCollectWhileUploadsAreWritten(t *testing.T) {
	s, _ := raceStore(t)
	ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, _ := s.Repo(fmt.Sprintf("docker.io/uploads/w%d", w))
			for i := 0; ctx.Err() == nil; i++ {
				data := gcContent(fmt.Sprintf("w%d-%d", w, i), 3000)
				up, err := r.UploadStart(ctx)
				if err != nil {
					continue
				}
				for c := int64(0); c < 3; c++ {
					if up.Append(ctx, bytes.NewReader(data[c*1000:(c+1)*1000]), c*1000, 1000) != nil {
						break
					}
				}
				up.Commit(ctx, digest.FromBytes(data)) // may fail: the collector deletes sessions
			}
		}()
	}
	var failures []error
	n := 0
	for ctx.Err() == nil {
		_, err := s.Collect(ctx, CollectOptions{UploadMaxAge: time.Nanosecond})
		if err != nil && ctx.Err() == nil {
			failures = append(failures, err)
		}
		n++
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Errorf("%d of %d collections failed while uploads were written; the first: %v", len(failures), n, failures[0])
	}
}
