package e2e

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"sync"
	"testing"
)

// TestConcurrentSameBlob pushes the same blob (same digest) 16 times at once,
// half to one repository and half to 8 others, monolithic and chunked: all
// uploads succeed and the blob is intact everywhere. Then 8 clients PUT the
// same manifest under the same tag at once.
func TestConcurrentSameBlob(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	rc := newRegClient(t, srv)
	blob := make([]byte, 8<<20+12345)
	if _, err := rand.Read(blob); err != nil {
		t.Fatal(err)
	}
	dg := sha256Digest(blob)

	const n = 16
	repos := make([]string, n)
	for i := range repos {
		if i%2 == 0 {
			repos[i] = "conc/same"
		} else {
			repos[i] = fmt.Sprintf("conc/r%d", i)
		}
	}
	start := make(chan struct{})
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			var got string
			if i%4 < 2 {
				got, errs[i] = rc.tryPushBlob(repos[i], blob)
			} else {
				got, errs[i] = rc.tryPushBlobChunked(repos[i], blob, 1<<20+i*4096)
			}
			if errs[i] == nil && got != dg {
				errs[i] = fmt.Errorf("digest %s, want %s", got, dg)
			}
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("push %d to %s: %v", i, repos[i], err)
		}
	}
	for _, repo := range uniq(repos) {
		resp := rc.getBlob(repo, dg)
		if resp.Status != http.StatusOK || sha256Digest(resp.Body) != dg || len(resp.Body) != len(blob) {
			t.Errorf("GET %s blob: %d, %d bytes hashing to %s; want 200, %d bytes", repo, resp.Status, len(resp.Body), sha256Digest(resp.Body), len(blob))
		}
	}

	// The same manifest, same tag, 8 clients at once.
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	cfgDigest := rc.pushBlob("conc/same", cfg)
	manifest := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},`+
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":%q,"size":%d}]}`,
		cfgDigest, len(cfg), dg, len(blob)))
	statuses := make([]int, 8)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := rc.putManifest("conc/same", "latest", "application/vnd.oci.image.manifest.v1+json", manifest)
			if err != nil {
				statuses[i] = -1
				return
			}
			statuses[i] = resp.Status
		}()
	}
	wg.Wait()
	for i, st := range statuses {
		if st != http.StatusCreated {
			t.Errorf("concurrent manifest PUT %d: status %d, want 201", i, st)
		}
	}
	rc.expectManifest("conc/same", "latest", manifest)
	rc.expectManifest("conc/same", sha256Digest(manifest), manifest)
}

// TestServerLifecycle checks the harness contract: SIGTERM stops the server
// cleanly (exit 0), and content survives a clean restart and a SIGKILL.
func TestServerLifecycle(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	rc := newRegClient(t, srv)
	cs, raw := pushTestImage(t, rc, "life/app", "v1", 41)
	srv.Restart() // SIGTERM, then start again
	rc.expectManifest("life/app", "v1", raw)
	rc.expectContent("life/app", cs)
	srv.Kill()
	srv.Restart()
	rc.expectManifest("life/app", "v1", raw)
	rc.expectContent("life/app", cs)
	if tags := rc.tagList("life/app"); len(tags) != 1 || tags[0] != "v1" {
		t.Errorf("tags after restarts: %v, want [v1]", tags)
	}
}

func uniq(list []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range list {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
