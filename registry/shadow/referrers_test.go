package shadow_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// artifact is an OCI artifact of artifactType whose subject is subject.
func artifact(t *testing.T, artifactType string, subject v1.Image) v1.Image {
	t.Helper()
	d, err := subject.Digest()
	if err != nil {
		t.Fatal(err)
	}
	mt, _ := subject.MediaType()
	raw, _ := subject.RawManifest()
	a := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.MediaType(artifactType))
	return mutate.Subject(a, v1.Descriptor{MediaType: mt, Digest: d, Size: int64(len(raw))}).(v1.Image)
}

// referrers asks shadowreg's referrers API and returns the artifact types
// listed, sorted.
func (e *env) referrers(t *testing.T, repo string, subject v1.Hash, query string) []string {
	t.Helper()
	resp, err := http.Get(e.srv.URL + "/v2/" + repo + "/referrers/" + subject.String() + query)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var idx v1.IndexManifest
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&idx) != nil {
		t.Fatalf("referrers of %s: %d", subject, resp.StatusCode)
	}
	var types []string
	for _, m := range idx.Manifests {
		types = append(types, m.ArtifactType)
	}
	slices.Sort(types)
	return types
}

// TestReferrersIncludeTheUpstreams: a signature attached upstream is listed
// with one pushed locally, whether the upstream has the referrers API or
// only the tag schema (distribution v3); the artifact pulls through by
// digest; while the upstream is down the local one is still listed.
func TestReferrersIncludeTheUpstreams(t *testing.T) {
	t.Parallel()
	for _, api := range []bool{true, false} {
		e := newEnv(t, cached)
		img := randomImage(t, 1024, 1)
		e.up.push(t, "library/app", "1", img)
		subject, _ := img.Digest()
		upSig := artifact(t, "application/vnd.example.upstream-sig", img)
		if api {
			e.up.push(t, "library/app", "sig", upSig)
		} else {
			// The upstream has no referrers API: clients pushing there
			// fall back to the tag schema, an index tagged sha256-<hex>.
			e.up.setFault(func(w http.ResponseWriter, r *http.Request) bool {
				if strings.Contains(r.URL.Path, "/referrers/") {
					http.Error(w, `{"errors":[{"code":"NOT_FOUND","message":"no such route"}]}`, http.StatusNotFound)
					return true
				}
				return false
			})
			e.up.push(t, "library/app", "sig", upSig)
			idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
				mutate.IndexAddendum{Add: upSig, Descriptor: v1.Descriptor{ArtifactType: "application/vnd.example.upstream-sig"}})
			if err := remote.WriteIndex(ref(t, e.up.host(), "library/app:sha256-"+subject.Hex), idx); err != nil {
				t.Fatal(err)
			}
		}
		// Pull the subject through shadowreg, then attach one locally.
		if _, err := e.pull(t.Context(), "library/app:1"); err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(ref(t, e.host(), "library/app:local-sig"), artifact(t, "application/vnd.example.local-sig", img)); err != nil {
			t.Fatal(err)
		}
		want := []string{"application/vnd.example.local-sig", "application/vnd.example.upstream-sig"}
		if got := e.referrers(t, "library/app", subject, ""); !slices.Equal(got, want) {
			t.Errorf("api=%v: referrers = %v, want %v", api, got, want)
		}
		if got := e.referrers(t, "library/app", subject, "?artifactType=application/vnd.example.upstream-sig"); !slices.Equal(got, want[1:]) {
			t.Errorf("api=%v: referrers filtered = %v, want %v", api, got, want[1:])
		}
		// The upstream's artifact pulls through by digest.
		sd, _ := upSig.Digest()
		if _, err := remote.Image(ref(t, e.host(), "library/app@"+sd.String())); err != nil {
			t.Errorf("api=%v: pull of the upstream's artifact by digest: %v", api, err)
		}
		e.up.setDown(true)
		got := e.referrers(t, "library/app", subject, "")
		if !slices.Contains(got, want[0]) {
			t.Errorf("api=%v: with the upstream down, referrers = %v; the local one is missing", api, got)
		}
	}
}

// TestUpstreamReferrersCached: the upstream's list is asked once per tag
// TTL, and served stale while the upstream is down.
func TestUpstreamReferrersCached(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cached) // TagTTL: a minute
	img := randomImage(t, 1024, 1)
	e.up.push(t, "library/app", "1", img)
	subject, _ := img.Digest()
	e.up.push(t, "library/app", "sig", artifact(t, "application/vnd.example.sig", img))
	path := "/v2/library/app/referrers/" + subject.String()
	want := []string{"application/vnd.example.sig"}
	e.up.resetCounts()
	for range 3 {
		if got := e.referrers(t, "library/app", subject, ""); !slices.Equal(got, want) {
			t.Fatalf("referrers = %v, want %v", got, want)
		}
	}
	if n := e.up.count("GET", path); n != 1 {
		t.Errorf("3 referrers requests within the TTL asked the upstream %d times, want 1", n)
	}
	e.clock.Add(2 * time.Minute)
	e.referrers(t, "library/app", subject, "")
	if n := e.up.count("GET", path); n != 2 {
		t.Errorf("after the TTL: %d upstream requests, want 2", n)
	}
	e.clock.Add(2 * time.Minute)
	e.up.setDown(true)
	if got := e.referrers(t, "library/app", subject, ""); !slices.Equal(got, want) {
		t.Errorf("upstream down: referrers = %v, want the stale %v", got, want)
	}
}
