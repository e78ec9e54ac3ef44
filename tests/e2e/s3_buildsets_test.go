package e2e

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestS3BuildsetsCacheAndGC: what the buildsets and the shadowing keep —
// buildset metadata, areas, the upstream cache — lives in the bucket like
// everything else: a second replica on the same bucket sees it at once, and
// a collection frees exactly what its dry run reported, from the bucket.
func TestS3BuildsetsCacheAndGC(t *testing.T) {
	t.Parallel()
	requireS3Target(t)
	abRequireShadowreg(t)
	m := sharedMinio(t)
	prefix := s3Prefix(t)
	testBuildsetsCacheAndGC(t, "S3", abS3Storage(m, prefix), prefix, m.listKeys)
}

// testBuildsetsCacheAndGC is TestS3BuildsetsCacheAndGC on any object store:
// storage is the configuration's storage: section, names lists the store's
// object names below a prefix.
func testBuildsetsCacheAndGC(t *testing.T, store, storage, prefix string, names func(testing.TB, string) []string) {
	upSrv := abUpstreamServer(t)
	upURL := upSrv.URL
	up := &regClient{t: t, base: upURL, hc: &http.Client{Timeout: time.Minute}}
	cfg := abAuthYAML("none", abUser{Name: abZuulUser, Password: abZuulPass, Access: "write"})
	cfg += fmt.Sprintf("upstreams:\n  docker.io: {url: %q, tag-ttl: 1h}\n", upURL)
	// Claims keep what pushes referenced for gc.claim-retention (at least
	// 10m by default): shortened here so that the prune below frees the
	// deleted buildset's layers seconds after they were pushed.
	cfg += "gc: {interval: 0s, grace: 1s, claim-retention: 2s}\n"
	cfg += storage
	a, _ := abStart(t, cfg, "")
	b, _ := abStart(t, cfg, "") // a second replica on the same bucket and prefix
	admin := newABAdmin(t, a, abZuulUser, abZuulPass)
	za := abClient(t, a.URL, abZuulUser, abZuulPass, "")
	zb := abClient(t, b.URL, abZuulUser, abZuulPass, "")

	base := abImg(t, 4101)
	baseDg := up.pushContent("library/base", "1", base)
	admin.create("s3-parent", "--ttl", "6h")
	admin.create("s3-child", "--parent", "s3-parent", "--ttl", "6h")
	app := abImg(t, 4102)
	appDg := za.pushContent("buildsets/s3-parent/docker.io/org/app", "1", app)

	// The child sees its parent's image and the upstream's, on both replicas:
	// buildsets, areas and the cache are in the bucket.
	for _, c := range []*regClient{za, zb} {
		abExpect(t, c, "buildsets/s3-child/org/app", "1", appDg, "child sees its parent's push")
		abExpect(t, c, "buildsets/s3-child/library/base", "1", baseDg, "child sees the upstream's image")
		abExpect(t, c, "org/app", "1", "404", "the shared area before promotion")
	}
	if keys := names(t, prefix+"/data/areas/cache/"); len(keys) == 0 {
		t.Fatalf("no cache entries in the %s store after a pull through", store)
	}
	// The upstream goes away: the cached image is still served, by either
	// replica (within its tag TTL: no revalidation).
	upSrv.Close()
	for _, c := range []*regClient{za, zb} {
		abExpect(t, c, "library/base", "1", baseDg, "the cached upstream image with the upstream down")
	}

	// Promotion, seen by the other replica.
	admin.run("buildset", "promote", "s3-parent")
	abExpect(t, zb, "org/app", "1", appDg, "promoted image on the other replica")

	// A buildset's content, deleted, is freed from the bucket by a
	// collection; the dry run reports exactly what the real one frees.
	admin.create("s3-doomed", "--ttl", "6h")
	big := newImage(t, formatDocker, 2, 1<<20, "linux/amd64", 4103)
	bigDg := za.pushContent("buildsets/s3-doomed/docker.io/org/big", "1", big)
	var layerKeys []string
	for dg := range collectContent(t, big).Blobs {
		layerKeys = append(layerKeys, blobKey(prefix, dg))
	}
	layerKeys = append(layerKeys, blobKey(prefix, bigDg))
	admin.run("buildset", "delete", "s3-doomed")
	time.Sleep(2500 * time.Millisecond) // past gc.grace and gc.claim-retention
	dry := abParsePrune(t, admin.run("prune", "--dry-run", "-o", "json"))
	real := abParsePrune(t, admin.run("prune", "-o", "json"))
	if dry.FreedBytes == 0 || dry.FreedBytes != real.FreedBytes || dry.Blobs != real.Blobs {
		t.Fatalf("prune on %s: dry run %+v, real %+v: want equal, non-zero", store, dry, real)
	}
	if real.FreedBytes < 2<<20 {
		t.Errorf("prune freed %d bytes, want at least the deleted buildset's 2 MiB of layers", real.FreedBytes)
	}
	t.Logf("prune on %s freed %d bytes in %d blobs (dry run: %d)", store, real.FreedBytes, real.Blobs, dry.FreedBytes)
	for _, k := range layerKeys {
		if left := names(t, k); slices.Contains(left, k) {
			t.Errorf("%s still in the %s store after the collection", k, store)
		}
	}
	// What is still referenced survived, on both replicas.
	for _, c := range []*regClient{za, zb} {
		abExpect(t, c, "org/app", "1", appDg, "the promoted image after the collection")
		abExpect(t, c, "buildsets/s3-child/library/base", "1", baseDg, "the cached image after the collection")
		for dg := range collectContent(t, app).Blobs {
			if r := c.getBlob("org/app", dg); r.Status != 200 {
				t.Errorf("blob %s of the promoted image: %d after the collection", dg, r.Status)
			}
		}
	}
	if strings.Contains(a.Logs(), "panic") || strings.Contains(b.Logs(), "panic") {
		t.Fatalf("a replica panicked")
	}
}

// abS3Storage is the storage: section for the bucket of m under prefix.
func abS3Storage(m *minioServer, prefix string) string {
	return "storage:\n  driver: s3\n  s3:\n" +
		fmt.Sprintf("    endpoint: %q\n    bucket: %q\n    prefix: %q\n    insecure: true\n    access-key: %q\n    secret-key: %q\n",
			m.Endpoint, m.Bucket, prefix, m.AccessKey, m.SecretKey)
}
