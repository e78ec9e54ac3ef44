package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

// TestS3PruneRacingPushesAcrossReplicas is TestPruneRacingPushes across
// two replicas on one bucket: replica A collects over and over while
// clients push through replica B an image whose blobs are garbage (its
// buildset deleted, older than gc.grace and gc.claim-retention). B's
// pushes find the blobs stored and only reference them; A's collector
// knows nothing of B's process, so only the claims and tombstones in the
// bucket keep A from deleting what B's manifests name.
func TestS3PruneRacingPushesAcrossReplicas(t *testing.T) {
	t.Parallel()
	requireS3Target(t)
	abRequireShadowreg(t)
	m := sharedMinio(t)
	testPruneRacingPushesAcrossReplicas(t, abS3Storage(m, s3Prefix(t)))
}

// testPruneRacingPushesAcrossReplicas is the test above on any object store,
// storage being the configuration's storage: section.
func testPruneRacingPushesAcrossReplicas(t *testing.T, storage string) {
	cfg := abAuthYAML("none", abUser{Name: abZuulUser, Password: abZuulPass, Access: "write"})
	cfg += "gc: {interval: 0s, grace: 1s, claim-retention: 2s}\n"
	cfg += storage
	a, _ := abStart(t, cfg, "")
	b, _ := abStart(t, cfg, "")
	admin := newABAdmin(t, a, abZuulUser, abZuulPass)
	za := abClient(t, a.URL, abZuulUser, abZuulPass, "")
	zb := abClient(t, b.URL, abZuulUser, abZuulPass, "")
	img := newImage(t, formatOCI, 16, 32<<10, "linux/amd64", 4301)
	cs := collectContent(t, img)

	const rounds = 3
	var freed int64
	collections := 0
	for k := range rounds {
		id := fmt.Sprintf("s3race-%d", k)
		admin.create(id, "--ttl", "1h")
		zb.pushContent("buildsets/"+id+"/docker.io/org/race", "1", img)
		admin.run("buildset", "delete", id)
		time.Sleep(2200 * time.Millisecond) // garbage, older than the grace and its claims

		done := make(chan struct{})
		var wg sync.WaitGroup
		var gcErr error
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 40 {
				select {
				case <-done:
					return
				default:
				}
				r, err := za.do("POST", "/shadowreg/v1/gc", nil, nil)
				if err != nil || r.Status != http.StatusOK {
					gcErr = fmt.Errorf("POST /shadowreg/v1/gc on replica A: %v %v", err, r)
					return
				}
				var rep abPruneReport
				if json.Unmarshal(r.Body, &rep) == nil {
					freed += rep.FreedBytes
				}
				collections++
			}
		}()
		repo := fmt.Sprintf("docker.io/org/s3race-%d", k)
		zb.pushContent(repo, "1", img)
		close(done)
		wg.Wait()
		if gcErr != nil {
			t.Fatal(gcErr)
		}
		for _, c := range []*regClient{za, zb} {
			c.expectContent(repo, cs)
		}
	}
	t.Logf("%d rounds, %d collections on replica A racing the pushes through replica B, freeing %d bytes", rounds, collections, freed)
	// Nothing racing any more, claims expired: one more collection, and
	// every pushed image is still whole.
	time.Sleep(2200 * time.Millisecond)
	abParsePrune(t, admin.run("prune", "-o", "json"))
	for k := range rounds {
		zb.expectContent(fmt.Sprintf("docker.io/org/s3race-%d", k), cs)
	}
}
