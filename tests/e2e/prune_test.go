package e2e

import (
	"fmt"
	"math/rand"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// abBigImage is base with n random (incompressible) layers of size bytes
// each on top: its content shares base's layers.
func abBigImage(t *testing.T, base v1.Image, n int, size int64, seed int64) v1.Image {
	t.Helper()
	var layers []v1.Layer
	for i := 0; i < n; i++ {
		l, err := random.Layer(size, types.OCILayer, random.WithSource(rand.NewSource(seed*100+int64(i))))
		if err != nil {
			t.Fatal(err)
		}
		layers = append(layers, l)
	}
	img, err := mutate.AppendLayers(base, layers...)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// abOnlyIn is the bytes of img's content (blobs and manifest) that base
// does not hold: what deleting img alone frees.
func abOnlyIn(t *testing.T, img, base v1.Image) int64 {
	t.Helper()
	have := collectContent(t, base).Blobs
	var n int64
	for d, size := range collectContent(t, img).Blobs {
		if _, ok := have[d]; !ok {
			n += size
		}
	}
	return n + int64(len(rawManifest(t, img)))
}

func abMiB(n int64) string { return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20)) }

// TestPrune deletes a buildset holding about 20 MiB of layers (on top of a
// base image that the shared area also holds) and collects with gc.grace
// 1s: `prune --dry-run --server` reports exactly the bytes of the content
// only that buildset named and frees nothing; `prune --server` then frees
// the same number, the data directory shrinks by that much, and the shared
// base image is intact. A second prune frees nothing. Then the same in
// local mode (`prune --config`, the registry stopped).
func TestPrune(t *testing.T) {
	t.Parallel()
	abRequireShadowreg(t)
	e := abBuildsetServer(t, "", "gc: {grace: 1s, interval: 0s}\n")
	zuul := e.zuul

	base := newImage(t, formatOCI, 1, 256<<10, "linux/amd64", 1301)
	zuul.pushContent("docker.io/org/base", "1", base)
	big := abBigImage(t, base, 4, 5<<20, 1302)
	want := abOnlyIn(t, big, base)

	e.admin.create("prune-big", "--ttl", "1h")
	zuul.pushContent("buildsets/prune-big/docker.io/org/big", "1", big)
	zuul.expectContent("buildsets/prune-big/docker.io/org/big", collectContent(t, big))
	time.Sleep(1100 * time.Millisecond) // older than gc.grace

	// Nothing to collect while the buildset lives.
	if r := abParsePrune(t, e.admin.run("prune", "--dry-run", "-o", "json")); r.FreedBytes != 0 {
		t.Errorf("prune --dry-run while the buildset lives would free %d bytes, want 0: %+v", r.FreedBytes, r)
	}
	e.admin.run("buildset", "delete", "prune-big")
	_, before := abDirStats(t, e.srv.DataDir)

	dry := abParsePrune(t, e.admin.run("prune", "--dry-run", "-o", "json"))
	_, afterDry := abDirStats(t, e.srv.DataDir)
	if !dry.DryRun || dry.FreedBytes != want || dry.BlobBytes != want {
		t.Errorf("prune --dry-run: %+v; want dryRun and freedBytes = blobBytes = %d (the deleted buildset's own content)", dry, want)
	}
	if afterDry != before {
		t.Errorf("prune --dry-run changed the data directory: %d → %d bytes", before, afterDry)
	}
	if text := e.admin.run("prune", "--dry-run"); !strings.Contains(text, fmt.Sprintf("prune would free %s (%d bytes)", "20.0 MiB", want)) {
		t.Errorf("prune --dry-run (text) printed:\n%s\nwant \"prune would free 20.0 MiB (%d bytes)\"", text, want)
	}

	real := abParsePrune(t, e.admin.run("prune", "-o", "json"))
	_, after := abDirStats(t, e.srv.DataDir)
	if real.DryRun || real.FreedBytes != dry.FreedBytes || real.Blobs != dry.Blobs {
		t.Errorf("prune: %+v; want what the dry run reported: %d bytes in %d blobs", real, dry.FreedBytes, dry.Blobs)
	}
	shrank := before - after
	if d := shrank - real.FreedBytes; d < 0 || d > 64<<10 {
		t.Errorf("the data directory shrank by %d bytes, prune reported %d freed", shrank, real.FreedBytes)
	}
	t.Logf("prune freed %d bytes (%s) in %d blobs; --dry-run reported %d bytes; the data directory shrank %d → %d bytes (by %d); the deleted buildset held %d bytes of its own (4 × 5 MiB random layers, a config and a manifest)",
		real.FreedBytes, abMiB(real.FreedBytes), real.Blobs, dry.FreedBytes, before, after, shrank, want)
	zuul.expectContent("docker.io/org/base", collectContent(t, base))
	abExpect(t, zuul, "docker.io/org/base", "1", manifestDigest(t, base), "the shared base image after prune")

	if again := abParsePrune(t, e.admin.run("prune", "-o", "json")); again.FreedBytes != 0 || again.Blobs != 0 {
		t.Errorf("a second prune freed %+v, want nothing", again)
	}
	// Dry runs are not collections: the metrics count the two real ones.
	if runs, freed := metricValue(t, e.srv.URL, `shadowreg_gc_runs_total{result="ok"}`),
		metricValue(t, e.srv.URL, "shadowreg_gc_freed_bytes_total"); runs != 2 || freed != float64(real.FreedBytes) {
		t.Errorf("metrics after two prunes: shadowreg_gc_runs_total{ok} = %v, shadowreg_gc_freed_bytes_total = %v; want 2 and %d", runs, freed, real.FreedBytes)
	}
	if blobs := metricValue(t, e.srv.URL, `shadowreg_gc_deleted_total{kind="blobs"}`); blobs != float64(real.Blobs) {
		t.Errorf("shadowreg_gc_deleted_total{blobs} = %v, want %d", blobs, real.Blobs)
	}
	// Every collection, dry or not, pauses references at least once: when
	// its marking starts.
	if pauses := metricValue(t, e.srv.URL, "shadowreg_gc_pause_seconds_count"); pauses < 3 {
		t.Errorf("shadowreg_gc_pause_seconds_count = %v after three collections, want at least 3", pauses)
	}

	// Local mode: prune --config on the stopped registry's storage.
	e.admin.create("prune-local", "--ttl", "1h")
	local := abBigImage(t, base, 2, 2<<20, 1303)
	zuul.pushContent("buildsets/prune-local/docker.io/org/local", "1", local)
	wantLocal := abOnlyIn(t, local, base)
	time.Sleep(1100 * time.Millisecond)
	e.admin.run("buildset", "delete", "prune-local")
	e.srv.Stop()
	// What a crash leaves: a fetch spool and a PutContent's temporary file
	// that never got renamed into place, idle for longer than the grace.
	leftovers := map[string]int{".tmp-crashed-fetch": 3 << 20, "areas/shared/.tmp-crashed-put": 300}
	for p, size := range leftovers {
		full := filepath.Join(e.srv.DataDir, p)
		if err := os.WriteFile(full, make([]byte, size), 0o644); err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-2 * time.Hour) // temporary files are kept an hour whatever the grace
		os.Chtimes(full, old, old)
		wantLocal += int64(size)
	}
	env := clientEnv(t)
	_, before = abDirStats(t, e.srv.DataDir)
	dry = abParsePrune(t, abCLI(t, env, "prune", "--config", e.cfg, "--dry-run", "-o", "json"))
	real = abParsePrune(t, abCLI(t, env, "prune", "--config", e.cfg, "-o", "json"))
	_, after = abDirStats(t, e.srv.DataDir)
	if !dry.DryRun || dry.FreedBytes != wantLocal || real.FreedBytes != dry.FreedBytes || real.TempFiles != len(leftovers) {
		t.Errorf("local prune --dry-run %+v then prune %+v; want both to free %d bytes, %d of them crash leftovers", dry, real, wantLocal, len(leftovers))
	}
	for p := range leftovers {
		if _, err := os.Stat(filepath.Join(e.srv.DataDir, p)); !os.IsNotExist(err) {
			t.Errorf("crash leftover %s survived prune: %v", p, err)
		}
	}
	if d := (before - after) - real.FreedBytes; d < 0 || d > 64<<10 {
		t.Errorf("local prune: the data directory shrank by %d bytes, prune reported %d", before-after, real.FreedBytes)
	}
	t.Logf("local prune (--config, registry stopped) freed %d bytes (%s); --dry-run reported %d", real.FreedBytes, abMiB(real.FreedBytes), dry.FreedBytes)
	if _, err := os.Stat(filepath.Join(e.srv.DataDir, "areas", "shared")); err != nil {
		t.Errorf("the shared area is gone after prune: %v", err)
	}
}

// TestPruneCacheAndUploads: a collection evicts the least recently used
// upstream content past gc.cache-max-bytes and keeps the rest (still served
// with the upstream gone), and deletes upload sessions idle longer than
// gc.upload-max-age; --dry-run reports the same.
func TestPruneCacheAndUploads(t *testing.T) {
	t.Parallel()
	abRequireShadowreg(t)
	up := abUpstreamServer(t)
	upc := &regClient{t: t, base: up.URL, hc: &http.Client{Timeout: time.Minute}}
	one := abBigImage(t, empty.Image, 1, 1<<20, 1401)
	two := abBigImage(t, empty.Image, 1, 1<<20, 1402)
	upc.pushContent("org/one", "1", one)
	upc.pushContent("org/two", "1", two)
	e := abBuildsetServer(t, up.URL, "gc: {grace: 1s, interval: 0s, cache-max-bytes: 1536KiB, upload-max-age: 2s}\n")
	zuul := e.zuul

	// Pull one, then (later) two, through the cache.
	abExpect(t, zuul, "org/one", "1", manifestDigest(t, one), "pulled through")
	zuul.expectContent("org/one", collectContent(t, one))
	time.Sleep(1100 * time.Millisecond)
	abExpect(t, zuul, "org/two", "1", manifestDigest(t, two), "pulled through")
	zuul.expectContent("org/two", collectContent(t, two))

	// An upload left half done.
	loc, err := zuul.startUpload("e2e/partial")
	if err != nil {
		t.Fatal(err)
	}
	part := make([]byte, 512<<10)
	if r := zuul.must("PATCH", loc, map[string]string{"Content-Type": "application/octet-stream", "Content-Range": fmt.Sprintf("0-%d", len(part)-1)}, part); r.Status != http.StatusAccepted {
		t.Fatalf("PATCH: %s", r)
	}
	time.Sleep(2100 * time.Millisecond) // past upload-max-age and grace

	dry := abParsePrune(t, e.admin.run("prune", "--dry-run", "-o", "json"))
	real := abParsePrune(t, e.admin.run("prune", "-o", "json"))
	t.Logf("prune: %+v (--dry-run: %+v)", real, dry)
	if dry.FreedBytes != real.FreedBytes || dry.CacheLinks != real.CacheLinks || dry.Uploads != real.Uploads {
		t.Errorf("prune --dry-run %+v differs from prune %+v", dry, real)
	}
	if real.Uploads != 1 || real.UploadBytes != int64(len(part)) {
		t.Errorf("prune: %d uploads, %d bytes; want the 1 stale upload of %d bytes", real.Uploads, real.UploadBytes, len(part))
	}
	if real.CacheLinks == 0 || real.BlobBytes < 1<<20 {
		t.Errorf("prune evicted %d cache links and freed %d blob bytes; want org/one's 1 MiB layer (cache-max-bytes 1.5 MiB, 2 MiB cached)", real.CacheLinks, real.BlobBytes)
	}
	if r := zuul.must("GET", loc, nil, nil); r.Status != http.StatusNotFound {
		t.Errorf("the stale upload after prune: %s, want 404", r)
	}

	// With the upstream gone: two (recently used) is still served from the
	// cache; one's layer was evicted.
	up.Close()
	zuul.expectContent("org/two", collectContent(t, two))
	layers, _ := one.Layers()
	ld, _ := layers[0].Digest()
	if r := zuul.getBlob("org/one", ld.String()); r.Status == http.StatusOK {
		t.Errorf("org/one's layer is still served with the upstream down: it was not evicted")
	}
}

// TestPruneRacingPushes collects while clients push: each round deletes a
// buildset whose image is then unreferenced (older than gc.grace), and pushes
// the same image again elsewhere while the running registry collects over
// and over (POST /shadowreg/v1/gc, what `prune --server` sends). The pushes
// find their blobs already stored and only link them: a collection that
// deleted them anyway would leave a manifest pointing at missing blobs.
func TestPruneRacingPushes(t *testing.T) {
	t.Parallel()
	abRequireShadowreg(t)
	e := abBuildsetServer(t, "", "gc: {grace: 1s, interval: 0s}\n")
	zuul := e.zuul
	img := newImage(t, formatOCI, 24, 32<<10, "linux/amd64", 1601)
	cs := collectContent(t, img)
	const rounds = 4
	collections := 0
	for k := 0; k < rounds; k++ {
		id := fmt.Sprintf("race-%d", k)
		e.admin.create(id, "--ttl", "1h")
		zuul.pushContent("buildsets/"+id+"/docker.io/org/race", "1", img)
		e.admin.run("buildset", "delete", id)
		time.Sleep(1100 * time.Millisecond) // the content is now garbage, older than grace

		done := make(chan struct{})
		gcErr := make(chan error, 1)
		go func() {
			var err error
			n := 0
			defer func() { collections += n; gcErr <- err }()
			for i := 0; i < 30; i++ {
				select {
				case <-done:
					return
				default:
				}
				r, e2 := zuul.do("POST", "/shadowreg/v1/gc", nil, nil)
				if e2 != nil || r.Status != http.StatusOK {
					err = fmt.Errorf("POST /shadowreg/v1/gc: %v %v", e2, r)
					return
				}
				n++
			}
		}()
		repo := fmt.Sprintf("docker.io/org/race-%d", k)
		pushStart := time.Now()
		zuul.pushContent(repo, "1", img)
		t.Logf("round %d: push took %v", k, time.Since(pushStart))
		close(done)
		if err := <-gcErr; err != nil {
			t.Fatal(err)
		}
		zuul.expectContent(repo, cs)
	}
	t.Logf("%d rounds, %d collections racing the pushes", rounds, collections)
	// One more collection with nothing racing: every pushed image intact.
	abParsePrune(t, e.admin.run("prune", "-o", "json"))
	for k := 0; k < rounds; k++ {
		zuul.expectContent(fmt.Sprintf("docker.io/org/race-%d", k), cs)
	}
}

// TestPruneScheduled: with gc.interval set, the registry collects by itself:
// a buildset created with --ttl 1s is deleted, area, metadata and content,
// without anyone running prune.
func TestPruneScheduled(t *testing.T) {
	t.Parallel()
	abRequireShadowreg(t)
	e := abBuildsetServer(t, "", "gc: {grace: 1s, interval: 1s}\n")
	e.admin.create("scheduled", "--ttl", "1s")
	if _, err := e.zuul.tryPushBlob("buildsets/scheduled/docker.io/org/s", []byte("pushed within the second")); err != nil {
		t.Logf("push raced the 1s expiry: %v", err) // fine: nothing to collect then
	}
	area := filepath.Join(e.srv.DataDir, "areas", "bs.scheduled")
	meta := filepath.Join(e.srv.DataDir, "buildsets", "scheduled")
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		_, errA := os.Stat(area)
		_, errM := os.Stat(meta)
		files, _ := abDirStats(t, filepath.Join(e.srv.DataDir, "blobs"))
		if os.IsNotExist(errA) && os.IsNotExist(errM) && files == 0 {
			t.Logf("collected by the schedule: area, metadata and blobs gone")
			if !strings.Contains(e.srv.Logs(), "buildset expired and deleted") {
				t.Errorf("the server log does not say the buildset was deleted")
			}
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Errorf("15s after a 1s TTL with gc.interval 1s: the buildset's area, metadata or blobs are still there")
}
