package e2e

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ggcr "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"
	"github.com/shadowreg/shadowreg/registry/shadow"
	"github.com/shadowreg/shadowreg/registry/upstream"
	"github.com/shadowreg/shadowreg/storage"
	"github.com/shadowreg/shadowreg/storage/driver"
	"github.com/shadowreg/shadowreg/storage/driver/filesystem"
)

// This file reproduces, deterministically, the race that the end-to-end
// TestShadowConcurrentColdPulls caught only now and then: a read that
// missed the cache just before the one fetch of that content finished
// started a second fetch from the upstream (the cache was not checked again
// when joining the fetch in flight). Here the descheduling is forced: the storage
// driver holds that request's failed cache lookup until the first fetch is
// over.

// holdKey marks the context of the request whose first failed cache lookup
// is held.
type holdKey struct{}

type lookupHold struct {
	once    sync.Once
	reached chan struct{} // closed when the lookup has failed and is held
	release chan struct{} // closed to let it return
}

// holdingDriver holds the first failed lookup under areas/cache/ made with a
// context that carries a *lookupHold, after the lookup is done.
type holdingDriver struct{ driver.Driver }

func (d holdingDriver) hold(ctx context.Context, p string, err error) {
	h, ok := ctx.Value(holdKey{}).(*lookupHold)
	if !ok || err == nil || !strings.HasPrefix(p, "areas/cache/") {
		return
	}
	h.once.Do(func() {
		close(h.reached)
		<-h.release
	})
}

func (d holdingDriver) GetContent(ctx context.Context, p string) ([]byte, error) {
	b, err := d.Driver.GetContent(ctx, p)
	d.hold(ctx, p, err)
	return b, err
}

func (d holdingDriver) Stat(ctx context.Context, p string) (driver.FileInfo, error) {
	fi, err := d.Driver.Stat(ctx, p)
	d.hold(ctx, p, err)
	return fi, err
}

// TestShadowSingleFetchRace: request A misses and fetches a manifest (by
// digest, by tag) or a blob from the upstream; request B misses the cache
// while A's fetch runs, and goes on only once A's fetch has ended and
// cached the content. B must be served from what A fetched: the upstream
// must be asked once.
func TestShadowSingleFetchRace(t *testing.T) {
	t.Parallel()
	if isReference() {
		t.Skip("in-process test of shadowreg's shadow package")
	}
	img := newImage(t, formatOCI, 1, 64<<10, "linux/amd64", 1701)
	imgDigest := manifestDigest(t, img)
	layer := blobDigests(t, img)[1]

	for _, tc := range []struct {
		name, upstreamPath string
		read               func(ctx context.Context, r *shadow.Repo) error
	}{
		{"manifest-by-digest", "/v2/library/app/manifests/" + imgDigest, func(ctx context.Context, r *shadow.Repo) error {
			_, err := r.Manifest(ctx, imgDigest)
			return err
		}},
		{"manifest-by-tag", "/v2/library/app/manifests/1", func(ctx context.Context, r *shadow.Repo) error {
			_, err := r.Manifest(ctx, "1")
			return err
		}},
		{"blob", "/v2/library/app/blobs/" + layer, func(ctx context.Context, r *shadow.Repo) error {
			b, err := r.BlobOpen(ctx, digest.Digest(layer))
			if err != nil {
				return err
			}
			defer b.Close()
			rc, err := b.Reader(ctx, 0)
			if err != nil {
				return err
			}
			defer rc.Close()
			data, err := io.ReadAll(rc)
			if err == nil && sha256Digest(data) != layer {
				err = fmt.Errorf("read %d bytes hashing to %s", len(data), sha256Digest(data))
			}
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The upstream: go-containerregistry's registry; the first GET of
			// the content waits until released.
			reg := ggcr.New(ggcr.Logger(log.New(io.Discard, "", 0)))
			var mu sync.Mutex
			gets := 0
			firstGET, releaseUpstream := make(chan struct{}), make(chan struct{})
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodGet && r.URL.Path == tc.upstreamPath {
					mu.Lock()
					gets++
					n := gets
					mu.Unlock()
					if n == 1 {
						close(firstGET)
						<-releaseUpstream
					}
				}
				reg.ServeHTTP(w, r)
			}))
			defer up.Close()
			ref, err := name.NewTag(strings.TrimPrefix(up.URL, "http://")+"/library/app:1", name.Insecure)
			if err != nil {
				t.Fatal(err)
			}
			if err := remote.Write(ref, img); err != nil {
				t.Fatal(err)
			}

			fs, err := filesystem.New(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			store := storage.New(holdingDriver{fs}, storage.Options{ManifestCacheBytes: -1})
			client, err := upstream.New("docker.io", upstream.Config{URL: up.URL}, upstream.Options{})
			if err != nil {
				t.Fatal(err)
			}
			ns := shadow.NewNamespace("docker.io", store, client, shadow.Options{Cache: true, TagTTL: time.Hour})
			repo := func() *shadow.Repo {
				local, err := store.Repo("docker.io/library/app", storage.SharedArea)
				if err != nil {
					t.Fatal(err)
				}
				r, err := ns.Repo(local, "library/app")
				if err != nil {
					t.Fatal(err)
				}
				return r
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			wait := func(ch <-chan struct{}, what string) {
				t.Helper()
				select {
				case <-ch:
				case <-ctx.Done():
					t.Fatalf("timed out waiting for %s", what)
				}
			}

			result := func(ch <-chan error, who string) error {
				t.Helper()
				select {
				case err := <-ch:
					return err
				case <-ctx.Done():
					t.Fatalf("%s did not return", who)
					return nil
				}
			}
			aDone, bDone := make(chan error, 1), make(chan error, 1)
			go func() { aDone <- tc.read(ctx, repo()) }()
			wait(firstGET, "A's upstream GET")
			h := &lookupHold{reached: make(chan struct{}), release: make(chan struct{})}
			go func() { bDone <- tc.read(context.WithValue(ctx, holdKey{}, h), repo()) }()
			wait(h.reached, "B's cache miss")
			close(releaseUpstream)
			if err := result(aDone, "A"); err != nil {
				t.Fatalf("A: %v", err)
			}
			// A's fetch must be over — cached and no longer in flight —
			// before B goes on, or B would simply join it and the race this
			// test is about would not happen. Drain returns once every fetch
			// goroutine has ended (a blob's download ends after A read it);
			// a manifest's flight ended when A's read returned.
			if err := ns.Drain(ctx); err != nil {
				t.Fatalf("A's fetch did not end: %v", err)
			}
			cache, _ := store.Repo("docker.io/library/app", storage.CacheArea)
			var cached error
			if tc.name == "blob" {
				_, cached = cache.BlobStat(ctx, digest.Digest(layer))
			} else {
				_, cached = cache.Manifest(ctx, strings.TrimPrefix(tc.upstreamPath, "/v2/library/app/manifests/"))
			}
			if cached != nil {
				t.Fatalf("A's fetch ended without caching the content (%v): B would not meet the race", cached)
			}
			select {
			case err := <-bDone:
				t.Fatalf("B returned (%v) before it was released: its cache lookup was not the one held", err)
			default:
			}
			close(h.release)
			if err := result(bDone, "B"); err != nil {
				t.Fatalf("B: %v", err)
			}
			if err := ns.Drain(ctx); err != nil { // fetches run detached
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if gets != 1 {
				t.Errorf("the upstream got %d GETs of %s, want 1: a request that missed the cache while the one fetch was ending fetched again instead of reading what that fetch cached", gets, tc.upstreamPath)
			}
		})
	}
}
