package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

const clientTimeout = 2 * time.Minute

// TestCrane pushes, pulls and copies a multi-layer image, an OCI index and a
// Docker manifest list with crane; every digest must be preserved.
func TestCrane(t *testing.T) {
	t.Parallel()
	requireTool(t, "crane")
	srv := startServer(t)
	rc := newRegClient(t, srv)
	env := clientEnv(t)
	crane := func(t *testing.T, args ...string) string {
		t.Helper()
		return strings.TrimSpace(runTool(t, clientTimeout, env, "crane", append([]string{"--insecure"}, args...)...))
	}

	img := newImage(t, formatOCI, 4, 40<<10, "linux/amd64", 11)
	idx := newIndex(t, formatOCI, 2, 24<<10, 12, "linux/amd64", "linux/arm64/v8")
	dlist := newIndex(t, formatDocker, 2, 24<<10, 13, "linux/amd64", "linux/arm64/v8")
	cases := []struct {
		name, repo string
		v          any
	}{
		{"image", "crane/app", img},
		{"index", "docker.io/library/crane-multi", idx},
		{"docker-list", "quay.io/org/crane-list", dlist},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rc := *rc
			rc.t = t
			want := collectContent(t, tc.v)
			raw := rawManifest(t, tc.v.(interface{ RawManifest() ([]byte, error) }))
			dg := sha256Digest(raw)
			lay := filepath.Join(t.TempDir(), "layout")
			writeLayout(t, lay, map[string]any{"x": tc.v})

			ref := srv.Ref(tc.repo + ":v1")
			out := crane(t, "push", lay, ref)
			if !strings.HasSuffix(out, "@"+dg) {
				t.Errorf("crane push printed %q, want …@%s", out, dg)
			}
			if got := crane(t, "digest", ref); got != dg {
				t.Errorf("crane digest %s = %s, want %s", ref, got, dg)
			}
			if got := crane(t, "manifest", ref); got != strings.TrimSpace(string(raw)) {
				t.Errorf("crane manifest %s differs from the pushed manifest:\n got %s\nwant %s", ref, got, raw)
			}
			rc.expectManifest(tc.repo, "v1", raw)
			rc.expectContent(tc.repo, want)
			if alias, ok := strings.CutPrefix(tc.repo, "docker.io/"); ok && !isReference() {
				// shadowreg files docker.io/X and X as one repository, the
				// way docker's registry-mirrors send names.
				rc.expectManifest(alias, "v1", raw)
			}

			// Pull into an OCI layout: the whole index, byte-identical.
			pulled := filepath.Join(t.TempDir(), "pulled")
			crane(t, "pull", "--format", "oci", ref, pulled)
			verifyLayoutHas(t, pulled, "", dg, want)

			// Copy to another repository (cross-repo mounts) and tag.
			dst := srv.Ref("crane/copies/" + tc.name + ":c1")
			crane(t, "copy", ref, dst)
			if got := crane(t, "digest", dst); got != dg {
				t.Errorf("crane digest after copy = %s, want %s", got, dg)
			}
			rc.expectContent("crane/copies/"+tc.name, want)
			crane(t, "tag", ref, "v2")
			tags := strings.Fields(crane(t, "ls", srv.Ref(tc.repo)))
			if !contains(tags, "v1") || !contains(tags, "v2") {
				t.Errorf("crane ls %s = %v, want v1 and v2", tc.repo, tags)
			}

			// Blobs by digest.
			for d, size := range want.Blobs {
				p := filepath.Join(t.TempDir(), "blob")
				b := runTool(t, clientTimeout, env, "crane", "--insecure", "blob", srv.Ref(tc.repo+"@"+d))
				if err := os.WriteFile(p, []byte(b), 0o644); err != nil {
					t.Fatal(err)
				}
				if got, n := hashFile(t, p); got != d || n != size {
					t.Errorf("crane blob %s: %d bytes hashing to %s, want %d bytes", d, n, got, size)
				}
			}
		})
	}

	t.Run("tarball", func(t *testing.T) {
		ref := srv.Ref("crane/tarball:1")
		lay := filepath.Join(t.TempDir(), "layout")
		writeLayout(t, lay, map[string]any{"x": img})
		crane(t, "push", lay, ref)
		tarPath := filepath.Join(t.TempDir(), "img.tar")
		crane(t, "pull", ref, tarPath)
		got, err := tarball.ImageFromPath(tarPath, nil)
		if err != nil {
			t.Fatal(err)
		}
		compareConfigAndDiffIDs(t, got, img)
		// And push the tarball back: a tarball keeps the compressed layers
		// and the config (not the manifest's media types).
		crane(t, "push", tarPath, srv.Ref("crane/tarball:2"))
		var m1, m2 struct {
			Config struct{ Digest string }
			Layers []struct{ Digest string }
		}
		if err := json.Unmarshal([]byte(crane(t, "manifest", ref)), &m1); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(crane(t, "manifest", srv.Ref("crane/tarball:2"))), &m2); err != nil {
			t.Fatal(err)
		}
		if m1.Config.Digest != m2.Config.Digest || len(m1.Layers) != len(m2.Layers) {
			t.Fatalf("tarball round trip: config %s -> %s, %d -> %d layers", m1.Config.Digest, m2.Config.Digest, len(m1.Layers), len(m2.Layers))
		}
		for i := range m1.Layers {
			if m1.Layers[i].Digest != m2.Layers[i].Digest {
				t.Errorf("tarball round trip: layer %d: %s -> %s", i, m1.Layers[i].Digest, m2.Layers[i].Digest)
			}
		}
	})

	t.Run("catalog-and-delete", func(t *testing.T) {
		cat := strings.Fields(crane(t, "catalog", srv.Addr))
		for _, r := range []string{"crane/app", "docker.io/library/crane-multi", "quay.io/org/crane-list", "crane/copies/image"} {
			if !catalogHas(cat, r) {
				t.Errorf("crane catalog = %v, lacks %s", cat, r)
			}
		}
		dg := crane(t, "digest", srv.Ref("crane/copies/image:c1"))
		crane(t, "delete", srv.Ref("crane/copies/image@"+dg))
		resp := rc.must("GET", "/v2/crane/copies/image/manifests/"+dg, map[string]string{"Accept": acceptAll}, nil)
		if resp.Status != http.StatusNotFound {
			t.Errorf("GET deleted manifest: want 404, got %s", resp)
		}
		resp = rc.must("GET", "/v2/crane/copies/image/manifests/c1", map[string]string{"Accept": acceptAll}, nil)
		if resp.Status != http.StatusNotFound {
			t.Errorf("GET tag of a deleted manifest: want 404, got %s", resp)
		}
		// The same manifest in another repository is untouched.
		rc.expectManifest("crane/app", dg, rawManifest(t, img))
	})
}

// TestRegctl does the same with regclient's regctl, which reads OCI layouts
// itself (ocidir://) and implements tag delete.
func TestRegctl(t *testing.T) {
	t.Parallel()
	requireTool(t, "regctl")
	srv := startServer(t)
	rc := newRegClient(t, srv)
	env := clientEnv(t)
	regctl := func(t *testing.T, args ...string) string {
		t.Helper()
		return runTool(t, clientTimeout, env, "regctl", append([]string{"--host", "reg=" + srv.Addr + ",tls=disabled"}, args...)...)
	}

	img := newImage(t, formatOCI, 3, 40<<10, "linux/amd64", 21)
	idx := newIndex(t, formatOCI, 2, 24<<10, 22, "linux/amd64", "linux/arm64/v8")
	dimg := newImage(t, formatDocker, 2, 24<<10, "linux/arm64/v8", 23)
	dlist := newIndex(t, formatDocker, 2, 24<<10, 24, "linux/amd64", "linux/arm/v7")
	lay := filepath.Join(t.TempDir(), "layout")
	writeLayout(t, lay, map[string]any{"img": img, "idx": idx, "dimg": dimg, "dlist": dlist})

	cases := []struct {
		name, repo string
		v          any
	}{
		{"img", "regctl/app", img},
		{"idx", "docker.io/library/regctl-multi", idx},
		{"dimg", "regctl/docker-img", dimg},
		{"dlist", "quay.io/org/regctl-list", dlist},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rc := *rc
			rc.t = t
			want := collectContent(t, tc.v)
			raw := rawManifest(t, tc.v.(interface{ RawManifest() ([]byte, error) }))
			dg := sha256Digest(raw)
			ref := srv.Ref(tc.repo + ":1")

			regctl(t, "image", "copy", "ocidir://"+lay+":"+tc.name, ref)
			if got := strings.TrimSpace(regctl(t, "image", "digest", ref)); got != dg {
				t.Errorf("regctl image digest %s = %s, want %s", ref, got, dg)
			}
			if got := regctl(t, "manifest", "get", "--format", "raw-body", ref); got != string(raw) {
				t.Errorf("regctl manifest get %s differs from the pushed manifest:\n got %s\nwant %s", ref, got, raw)
			}
			rc.expectContent(tc.repo, want)
			for d, size := range want.Blobs {
				p := filepath.Join(t.TempDir(), "blob")
				b := regctl(t, "blob", "get", srv.Ref(tc.repo), d)
				if err := os.WriteFile(p, []byte(b), 0o644); err != nil {
					t.Fatal(err)
				}
				if got, n := hashFile(t, p); got != d || n != size {
					t.Errorf("regctl blob get %s: %d bytes hashing to %s, want %d bytes", d, n, got, size)
				}
			}

			// Registry to registry (cross-repository mount) and back to a layout.
			dst := srv.Ref("regctl/copies/" + tc.name + ":build_1")
			regctl(t, "image", "copy", ref, dst)
			rc.expectManifest("regctl/copies/"+tc.name, "build_1", raw)
			rc.expectContent("regctl/copies/"+tc.name, want)
			out := filepath.Join(t.TempDir(), "out")
			regctl(t, "image", "copy", dst, "ocidir://"+out+":back")
			verifyLayoutHas(t, out, "back", dg, want)

			// Tags: add two, delete one; the manifest stays.
			regctl(t, "image", "copy", ref, srv.Ref(tc.repo+":2"))
			regctl(t, "image", "copy", ref, srv.Ref(tc.repo+":3"))
			regctl(t, "tag", "delete", srv.Ref(tc.repo+":2"))
			tags := strings.Fields(regctl(t, "tag", "ls", srv.Ref(tc.repo)))
			if !contains(tags, "1") || contains(tags, "2") || !contains(tags, "3") {
				t.Errorf("regctl tag ls after deleting tag 2 = %v, want 1 and 3", tags)
			}
			resp := rc.must("GET", "/v2/"+tc.repo+"/manifests/2", map[string]string{"Accept": acceptAll}, nil)
			if resp.Status != http.StatusNotFound {
				t.Errorf("GET deleted tag: want 404, got %s", resp)
			}
			rc.expectManifest(tc.repo, "3", raw)
			rc.expectManifest(tc.repo, dg, raw)
		})
	}

	t.Run("repo-ls", func(t *testing.T) {
		repos := strings.Fields(regctl(t, "repo", "ls", srv.Addr))
		for _, r := range []string{"regctl/app", "docker.io/library/regctl-multi", "quay.io/org/regctl-list"} {
			if !catalogHas(repos, r) {
				t.Errorf("regctl repo ls = %v, lacks %s", repos, r)
			}
		}
	})
}

// TestOras pushes an artifact, attaches a referrer to an image (subject) and
// discovers it through the referrers API.
func TestOras(t *testing.T) {
	t.Parallel()
	requireTool(t, "oras")
	srv := startServer(t)
	rc := newRegClient(t, srv)
	env := clientEnv(t)
	dir := t.TempDir()
	oras := func(args ...string) string {
		t.Helper()
		r := tryTool(t, clientTimeout, env, "oras", append(args, "--plain-http")...)
		if r.Err != nil {
			t.Fatalf("oras %s: %v\n%s\n%s", strings.Join(args, " "), r.Err, clip(r.Stdout), clip(r.Stderr))
		}
		return r.Stdout
	}
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("readme.txt", "hello from e2e\n")
	write("sbom.json", `{"sbom":"e2e"}`)
	write("sig.txt", "signature\n")

	// A plain artifact.
	orasIn := func(args ...string) string {
		t.Helper()
		r := tryToolIn(t, dir, clientTimeout, env, "oras", append(args, "--plain-http")...)
		if r.Err != nil {
			t.Fatalf("oras %s: %v\n%s\n%s", strings.Join(args, " "), r.Err, clip(r.Stdout), clip(r.Stderr))
		}
		return r.Stdout
	}
	orasIn("push", "--artifact-type", "application/vnd.e2e.readme", srv.Ref("oras/artifact:v1"), "readme.txt:text/plain")
	pullDir := filepath.Join(t.TempDir(), "pull")
	oras("pull", "-o", pullDir, srv.Ref("oras/artifact:v1"))
	if b, err := os.ReadFile(filepath.Join(pullDir, "readme.txt")); err != nil || string(b) != "hello from e2e\n" {
		t.Errorf("oras pull: readme.txt = %q, %v", b, err)
	}

	// An image, then two referrers attached to it.
	img := newImage(t, formatOCI, 1, 8<<10, "linux/amd64", 31)
	lay := filepath.Join(t.TempDir(), "layout")
	writeLayout(t, lay, map[string]any{"img": img})
	runTool(t, clientTimeout, env, "oras", "cp", "--to-plain-http", "--from-oci-layout", lay+":img", srv.Ref("oras/app:1"))
	subject := manifestDigest(t, img)
	rc.expectManifest("oras/app", "1", rawManifest(t, img))

	orasIn("attach", "--artifact-type", "application/vnd.e2e.sbom", srv.Ref("oras/app:1"), "sbom.json:application/json")
	orasIn("attach", "--artifact-type", "application/vnd.e2e.signature", srv.Ref("oras/app@"+subject), "sig.txt:text/plain")

	var disc struct {
		Referrers []struct {
			Digest       string `json:"digest"`
			ArtifactType string `json:"artifactType"`
		} `json:"referrers"`
		// older oras output
		Manifests []struct {
			Digest       string `json:"digest"`
			ArtifactType string `json:"artifactType"`
		} `json:"manifests"`
	}
	out := oras("discover", "--format", "json", srv.Ref("oras/app:1"))
	if err := json.Unmarshal([]byte(out), &disc); err != nil {
		t.Fatalf("oras discover output: %v\n%s", err, out)
	}
	types := map[string]string{}
	for _, r := range append(disc.Referrers, disc.Manifests...) {
		types[r.ArtifactType] = r.Digest
	}
	if types["application/vnd.e2e.sbom"] == "" || types["application/vnd.e2e.signature"] == "" {
		t.Errorf("oras discover found %v, want the sbom and the signature\n%s", types, out)
	}

	// The referrers API itself, with and without a filter (the reference
	// registry has none: oras fell back to the referrers tag schema above).
	if isReference() {
		return
	}
	resp := rc.must("GET", "/v2/oras/app/referrers/"+subject, nil, nil)
	if resp.Status != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/vnd.oci.image.index.v1+json") {
		t.Fatalf("GET referrers: want 200 with an OCI index, got %s (Content-Type %q)", resp, resp.Header.Get("Content-Type"))
	}
	var refIdx struct {
		Manifests []struct {
			Digest       string `json:"digest"`
			ArtifactType string `json:"artifactType"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal(resp.Body, &refIdx); err != nil || len(refIdx.Manifests) != 2 {
		t.Errorf("GET referrers: want 2 referrers, got %s (%v)", resp.Body, err)
	}
	resp = rc.must("GET", "/v2/oras/app/referrers/"+subject+"?artifactType=application/vnd.e2e.sbom", nil, nil)
	refIdx.Manifests = nil
	if err := json.Unmarshal(resp.Body, &refIdx); err != nil || len(refIdx.Manifests) != 1 ||
		refIdx.Manifests[0].Digest != types["application/vnd.e2e.sbom"] {
		t.Errorf("GET referrers?artifactType=sbom: want only the sbom, got %s", resp)
	}
	if resp.Header.Get("OCI-Filters-Applied") != "artifactType" {
		t.Errorf("GET referrers?artifactType=…: OCI-Filters-Applied = %q, want artifactType", resp.Header.Get("OCI-Filters-Applied"))
	}

	// Pull the referrer back by digest.
	sbomDir := filepath.Join(t.TempDir(), "sbom")
	oras("pull", "-o", sbomDir, srv.Ref("oras/app@"+types["application/vnd.e2e.sbom"]))
	if b, err := os.ReadFile(filepath.Join(sbomDir, "sbom.json")); err != nil || string(b) != `{"sbom":"e2e"}` {
		t.Errorf("oras pull of the referrer: sbom.json = %q, %v", b, err)
	}
}

// catalogHas reports whether a catalog lists repo; shadowreg lists
// docker.io/library/x as library/x (the same repository for it).
func catalogHas(catalog []string, repo string) bool {
	if contains(catalog, repo) {
		return true
	}
	alias, ok := strings.CutPrefix(repo, "docker.io/")
	return ok && contains(catalog, alias)
}
