package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"net/http"
	"testing"
	"time"
)

// TestSwiftBuildsetsCacheAndGC: buildsets, the upstream cache and a
// collection on Swift, across two replicas (TestS3BuildsetsCacheAndGC's
// checks).
func TestSwiftBuildsetsCacheAndGC(t *testing.T) {
	t.Parallel()
	requireSwiftTarget(t)
	abRequireShadowreg(t)
	s := sharedSwift(t)
	prefix := s3Prefix(t)
	testBuildsetsCacheAndGC(t, "Swift", swiftStorage(s, swiftOptions{Prefix: prefix}), prefix, s.listNames)
}

// TestSwiftPruneRacingPushesAcrossReplicas: the claims and tombstones keep
// a collector on one replica from deleting what pushes through the other
// reference, on Swift (TestS3PruneRacingPushesAcrossReplicas's checks).
func TestSwiftPruneRacingPushesAcrossReplicas(t *testing.T) {
	t.Parallel()
	requireSwiftTarget(t)
	abRequireShadowreg(t)
	s := sharedSwift(t)
	testPruneRacingPushesAcrossReplicas(t, swiftStorage(s, swiftOptions{Prefix: s3Prefix(t)}))
}

// TestSwiftGCAbandonedUploads: an upload left open with a checkpointed
// segment and a tail, once idle past gc.upload-max-age, is collected with
// its segments and writer state; an upload still in use is not.
func TestSwiftGCAbandonedUploads(t *testing.T) {
	t.Parallel()
	requireSwiftTarget(t)
	s := sharedSwift(t)
	prefix := s3Prefix(t)
	srv := startSwiftServer(t, s, swiftOptions{Prefix: prefix,
		GC: "gc:\n  interval: 0s\n  grace: 1s\n  upload-max-age: 2s\n"})
	rc := newRegClient(t, srv)
	chunk := make([]byte, swiftSegment+1<<20+3) // a segment and a tail
	rand.New(rand.NewSource(631)).Read(chunk)
	patch := func(repo string) string {
		t.Helper()
		loc, err := rc.startUpload(repo)
		if err != nil {
			t.Fatal(err)
		}
		resp := rc.must("PATCH", loc, map[string]string{
			"Content-Type": "application/octet-stream", "Content-Range": fmt.Sprintf("0-%d", len(chunk)-1),
		}, chunk)
		if resp.Status != http.StatusAccepted {
			t.Fatalf("PATCH: want 202, got %s", resp)
		}
		if l := resp.Header.Get("Location"); l != "" {
			loc = l
		}
		return loc
	}
	patch("gc/abandoned")
	if segs := s.listNames(t, prefix+"/segments/"); len(segs) == 0 {
		t.Fatal("no segment in the container after a checkpointed chunk larger than a segment")
	}
	time.Sleep(2500 * time.Millisecond) // past gc.upload-max-age
	live := patch("gc/live")
	liveSegs := s.listNames(t, prefix+"/segments/")

	r := rc.must("POST", "/shadowreg/v1/gc", nil, nil)
	var rep abPruneReport
	if r.Status != http.StatusOK || json.Unmarshal(r.Body, &rep) != nil {
		t.Fatalf("POST /shadowreg/v1/gc: %s", r)
	}
	if rep.Uploads != 1 {
		t.Errorf("collected %d uploads, want the abandoned one", rep.Uploads)
	}
	segs := s.listNames(t, prefix+"/segments/")
	if len(segs) == 0 || len(segs) >= len(liveSegs) {
		t.Errorf("segments after the collection: %d (before: %d): want the live upload's only", len(segs), len(liveSegs))
	}
	if st := s.listNames(t, prefix+"/writers/uploads/"); len(st) == 0 {
		t.Errorf("the live upload's writer state is gone")
	}
	// The live upload still completes.
	dg := sha256Digest(chunk)
	if resp := rc.must("PUT", withQuery(live, "digest", dg), map[string]string{"Content-Length": "0"}, nil); resp.Status != http.StatusCreated {
		t.Fatalf("completing the live upload after the collection: %s", resp)
	}
	if got := rc.getBlob("gc/live", dg); got.Status != http.StatusOK || sha256Digest(got.Body) != dg {
		t.Errorf("GET of the live upload's blob: %d, digest %s", got.Status, sha256Digest(got.Body))
	}
}
