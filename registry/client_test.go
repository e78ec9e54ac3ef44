package registry

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Round trips with a real client, go-containerregistry's remote package:
// what it pushes it pulls back bit for bit, by tag and by digest, as an
// image and as an index, and it can list and delete.
func TestClientRoundTrip(t *testing.T) {
	t.Parallel()
	reg := newTestRegistry(t, nil, Options{})
	host := strings.TrimPrefix(reg.srv.URL, "http://")

	img, err := random.Image(300_000, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{host + "/library/app:v1", host + "/quay.io/org/app:v1"} {
		tag, err := name.NewTag(ref, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(tag, img); err != nil {
			t.Fatalf("push %s: %v", ref, err)
		}
		got, err := remote.Image(tag)
		if err != nil {
			t.Fatalf("pull %s: %v", ref, err)
		}
		sameImage(t, img, got)
		want, _ := img.Digest()
		byDigest, err := remote.Image(tag.Context().Digest(want.String()))
		if err != nil {
			t.Fatalf("pull %s by digest: %v", ref, err)
		}
		sameImage(t, img, byDigest)
	}

	// docker.io/library/app is library/app.
	dockerTag, _ := name.NewTag(host+"/docker.io/library/app:v1", name.Insecure)
	if got, err := remote.Image(dockerTag); err != nil {
		t.Errorf("pull through docker.io/: %v", err)
	} else {
		sameImage(t, img, got)
	}

	// An index of two images, one of them the image above, pushed where
	// the image already is: only the new image's blobs go up.
	other, _ := random.Image(1000, 1)
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: other, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}})
	idxTag, _ := name.NewTag(host+"/library/app:multi", name.Insecure)
	if err := remote.WriteIndex(idxTag, idx); err != nil {
		t.Fatalf("push index: %v", err)
	}
	gotIdx, err := remote.Index(idxTag)
	if err != nil {
		t.Fatal(err)
	}
	wantD, _ := idx.Digest()
	gotD, _ := gotIdx.Digest()
	if wantD != gotD {
		t.Errorf("index digest %s, pushed %s", gotD, wantD)
	}
	child, err := gotIdx.Image(func() v1.Hash { d, _ := other.Digest(); return d }())
	if err != nil {
		t.Fatal(err)
	}
	sameImage(t, other, child)

	// A client that takes only image manifests gets the linux/amd64 one.
	req, _ := http.NewRequest(http.MethodGet, reg.srv.URL+"/v2/library/app/manifests/multi", nil)
	req.Header.Set("Accept", string(types.DockerManifestSchema2)+", "+string(types.OCIManifestSchema1))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if d, _ := img.Digest(); resp.StatusCode != 200 || resp.Header.Get("Docker-Content-Digest") != d.String() {
		t.Errorf("negotiated %d %s, want the amd64 image %s", resp.StatusCode, resp.Header.Get("Docker-Content-Digest"), d)
	}

	// Listing and deleting.
	tags, err := remote.List(idxTag.Context())
	if err != nil || !slices.Equal(tags, []string{"multi", "v1"}) {
		t.Errorf("tags = %q, %v", tags, err)
	}
	repos, err := remote.Catalog(t.Context(), idxTag.Context().Registry)
	if err != nil || !slices.Equal(repos, []string{"library/app", "quay.io/org/app"}) {
		t.Errorf("catalog = %q, %v", repos, err)
	}
	if err := remote.Delete(idxTag.Context().Digest(wantD.String())); err != nil {
		t.Fatal(err)
	}
	if _, err := remote.Index(idxTag); err == nil {
		t.Error("the deleted index is still served under its tag")
	}
}

func sameImage(t *testing.T, want, got v1.Image) {
	t.Helper()
	wd, _ := want.Digest()
	gd, err := got.Digest()
	if err != nil || wd != gd {
		t.Fatalf("image digest %s, %v; want %s", gd, err, wd)
	}
	wl, _ := want.Layers()
	gl, err := got.Layers()
	if err != nil || len(gl) != len(wl) {
		t.Fatalf("%d layers, %v; want %d", len(gl), err, len(wl))
	}
	for i := range wl {
		wr, _ := wl[i].Compressed()
		gr, err := gl[i].Compressed()
		if err != nil {
			t.Fatal(err)
		}
		wb, _ := io.ReadAll(wr)
		gb, err := io.ReadAll(gr) // ggcr verifies the digest as it reads
		wr.Close()
		gr.Close()
		if err != nil || string(wb) != string(gb) {
			t.Errorf("layer %d: %d bytes, %v; want the %d pushed", i, len(gb), err, len(wb))
		}
	}
	wc, _ := want.RawConfigFile()
	gc, err := got.RawConfigFile()
	if err != nil || string(wc) != string(gc) {
		t.Errorf("config differs: %v", err)
	}
}
