package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

const skopeoTimeout = 3 * time.Minute

// skopeo runs skopeo with an isolated, empty registries.conf and a permissive
// signature policy (skopeo's defaults live in /etc and $HOME).
type skopeo struct {
	t      *testing.T
	env    []string
	global []string
}

func newSkopeo(t *testing.T) *skopeo {
	t.Helper()
	requireTool(t, "skopeo")
	dir := t.TempDir()
	regConf := filepath.Join(dir, "registries.conf")
	policy := filepath.Join(dir, "policy.json")
	if err := os.WriteFile(regConf, []byte("unqualified-search-registries = []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(policy, []byte(`{"default":[{"type":"insecureAcceptAnything"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	env := append(clientEnv(t), "TMPDIR="+t.TempDir())
	return &skopeo{t: t, env: env, global: []string{"--registries-conf", regConf, "--policy", policy}}
}

func (s *skopeo) run(args ...string) string {
	s.t.Helper()
	return runTool(s.t, skopeoTimeout, s.env, "skopeo", append(append([]string{}, s.global...), args...)...)
}

func (s *skopeo) copyIn(src, destRef string, extra ...string) {
	s.t.Helper()
	args := append([]string{"copy", "--dest-tls-verify=false"}, extra...)
	s.run(append(args, src, "docker://"+destRef)...)
}

func (s *skopeo) copyOut(srcRef, dest string, extra ...string) {
	s.t.Helper()
	args := append([]string{"copy", "--src-tls-verify=false"}, extra...)
	s.run(append(args, "docker://"+srcRef, dest)...)
}

// inspectRaw returns the manifest skopeo reads for ref.
func (s *skopeo) inspectRaw(ref string) []byte {
	s.t.Helper()
	return []byte(s.run("inspect", "--raw", "--tls-verify=false", "docker://"+ref))
}

// TestSkopeoRoundTrip copies images and indexes of both formats from an OCI
// layout into the registry under several kinds of names and back out; every
// manifest and blob digest must survive unchanged.
func TestSkopeoRoundTrip(t *testing.T) {
	t.Parallel()
	sk := newSkopeo(t)
	srv := startServer(t)
	rc := newRegClient(t, srv)

	img := newImage(t, formatOCI, 3, 64<<10, "linux/amd64", 1)
	idx := newIndex(t, formatOCI, 2, 32<<10, 2, "linux/amd64", "linux/arm64/v8")
	dimg := newImage(t, formatDocker, 3, 48<<10, "linux/amd64", 3)
	dlist := newIndex(t, formatDocker, 2, 32<<10, 4, "linux/amd64", "linux/arm64/v8", "linux/arm/v7")
	src := filepath.Join(t.TempDir(), "src")
	writeLayout(t, src, map[string]any{"img": img, "idx": idx})
	// skopeo 1.9 reads only OCI media types from an OCI layout: Docker
	// content comes from its "dir:" format.
	srcDir := t.TempDir()
	writeDir(t, filepath.Join(srcDir, "dimg"), dimg)
	writeDir(t, filepath.Join(srcDir, "dlist"), dlist)

	cases := []struct {
		name   string // ref name in the layout
		v      any
		ref    string // repo:tag in the registry
		all    bool
		docker bool // Docker media types: copy from and to dir: (oci: would convert)
	}{
		{"img", img, "e2e/app:1", false, false},
		{"idx", idx, "docker.io/library/app:1", true, false},
		{"dimg", dimg, "e2e/docker-img:1.0", false, true},
		{"dlist", dlist, "quay.io/org/img:tag", true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sk := *sk
			sk.t = t
			rc := *rc
			rc.t = t
			want := collectContent(t, tc.v)
			raw := rawManifest(t, tc.v.(interface{ RawManifest() ([]byte, error) }))
			dg := sha256Digest(raw)
			var extra []string
			if tc.all {
				extra = append(extra, "--all")
			}
			from := "oci:" + src + ":" + tc.name
			if tc.docker {
				from = "dir:" + filepath.Join(srcDir, tc.name)
			}
			sk.copyIn(from, srv.Ref(tc.ref), extra...)

			got := sk.inspectRaw(srv.Ref(tc.ref))
			if sha256Digest(got) != dg {
				t.Errorf("skopeo inspect --raw %s: digest %s, want %s (the layout's)", tc.ref, sha256Digest(got), dg)
			}
			repo, tag, _ := strings.Cut(tc.ref, ":")
			rc.expectManifest(repo, tag, raw)
			rc.expectContent(repo, want)

			// Back out, by tag and by digest.
			if !tc.docker {
				out := filepath.Join(t.TempDir(), "out")
				sk.copyOut(srv.Ref(tc.ref), "oci:"+out+":back", extra...)
				verifyLayoutHas(t, out, "back", dg, want)
				out2 := filepath.Join(t.TempDir(), "out2")
				sk.copyOut(srv.Ref(repo+"@"+dg), "oci:"+out2+":bydigest", extra...)
				verifyLayoutHas(t, out2, "bydigest", dg, want)
			} else {
				out := filepath.Join(t.TempDir(), "dir")
				sk.copyOut(srv.Ref(tc.ref), "dir:"+out, extra...)
				b, err := os.ReadFile(filepath.Join(out, "manifest.json"))
				if err != nil {
					t.Fatal(err)
				}
				if sha256Digest(b) != dg {
					t.Errorf("dir:%s/manifest.json: digest %s, want %s", out, sha256Digest(b), dg)
				}
				for d, size := range want.Blobs {
					if got, n := hashFile(t, filepath.Join(out, strings.TrimPrefix(d, "sha256:"))); got != d || n != size {
						t.Errorf("dir copy: blob %s: %d bytes hashing to %s, want %d bytes", d, n, got, size)
					}
				}
				for d, raw := range want.Manifests {
					if d == dg {
						continue
					}
					b, err := os.ReadFile(filepath.Join(out, strings.TrimPrefix(d, "sha256:")+".manifest.json"))
					if err != nil || string(b) != string(raw) {
						t.Errorf("dir copy: instance manifest %s missing or different: %v", d, err)
					}
				}
			}

			// Registry to registry, as Zuul's push-to-intermediate-registry
			// does (skopeo copy --all between repositories).
			dst := "zuul/intermediate/" + strings.ReplaceAll(repo, "/", "_") + ":build_" + tag
			sk.run(append(append([]string{"copy", "--src-tls-verify=false", "--dest-tls-verify=false"}, extra...),
				"docker://"+srv.Ref(tc.ref), "docker://"+srv.Ref(dst))...)
			drepo, dtag, _ := strings.Cut(dst, ":")
			rc.expectManifest(drepo, dtag, raw)
			rc.expectContent(drepo, want)

			tags := sk.run("list-tags", "--tls-verify=false", "docker://"+srv.Ref(repo))
			var tl struct{ Tags []string }
			if err := json.Unmarshal([]byte(tags), &tl); err != nil || !contains(tl.Tags, tag) {
				t.Errorf("skopeo list-tags %s: %v %s, want %q listed", repo, err, tags, tag)
			}
		})
	}

	// Docker archive: layers are stored uncompressed, so compare the config
	// digest and the layers' diff IDs.
	t.Run("docker-archive", func(t *testing.T) {
		sk := *sk
		sk.t = t
		sk.copyIn("oci:"+src+":img", srv.Ref("e2e/archive:1"))
		tarPath := filepath.Join(t.TempDir(), "img.tar")
		sk.copyOut(srv.Ref("e2e/archive:1"), "docker-archive:"+tarPath+":e2e/archive:1")
		got, err := tarball.ImageFromPath(tarPath, nil)
		if err != nil {
			t.Fatalf("reading docker-archive: %v", err)
		}
		compareConfigAndDiffIDs(t, got, img)
	})

	// --format v2s2 converts the OCI manifest to Docker schema 2: the blobs
	// keep their digests, the new manifest is served byte-identical.
	t.Run("format-v2s2", func(t *testing.T) {
		sk := *sk
		sk.t = t
		rc := *rc
		rc.t = t
		sk.copyIn("oci:"+src+":img", srv.Ref("e2e/app-v2s2:1"), "--format", "v2s2")
		raw := sk.inspectRaw(srv.Ref("e2e/app-v2s2:1"))
		var m v1.Manifest
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("manifest: %v: %s", err, raw)
		}
		if m.MediaType != "application/vnd.docker.distribution.manifest.v2+json" {
			t.Errorf("mediaType %q, want docker v2s2", m.MediaType)
		}
		om, _ := img.Manifest()
		if m.Config.Digest != om.Config.Digest {
			t.Errorf("config digest %s, want %s", m.Config.Digest, om.Config.Digest)
		}
		if len(m.Layers) != len(om.Layers) {
			t.Fatalf("%d layers, want %d", len(m.Layers), len(om.Layers))
		}
		for i := range m.Layers {
			if m.Layers[i].Digest != om.Layers[i].Digest {
				t.Errorf("layer %d: digest %s, want %s", i, m.Layers[i].Digest, om.Layers[i].Digest)
			}
		}
		resp := rc.must("HEAD", "/v2/e2e/app-v2s2/manifests/1", map[string]string{"Accept": acceptAll}, nil)
		if resp.Status != 200 || resp.Header.Get("Docker-Content-Digest") != sha256Digest(raw) {
			t.Errorf("HEAD manifest: %d Docker-Content-Digest %q, want 200 %s", resp.Status, resp.Header.Get("Docker-Content-Digest"), sha256Digest(raw))
		}
		if ct := resp.Header.Get("Content-Type"); ct != string(m.MediaType) {
			t.Errorf("HEAD manifest: Content-Type %q, want %q", ct, m.MediaType)
		}
		rc.expectManifest("e2e/app-v2s2", sha256Digest(raw), raw)
	})
}

// compareConfigAndDiffIDs checks that got has want's config (by digest) and
// the same uncompressed layers.
func compareConfigAndDiffIDs(t *testing.T, got, want v1.Image) {
	t.Helper()
	gc, err := got.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	wc, _ := want.ConfigName()
	if gc != wc {
		t.Errorf("config digest %s, want %s", gc, wc)
	}
	gls, err := got.Layers()
	if err != nil {
		t.Fatal(err)
	}
	wls, _ := want.Layers()
	if len(gls) != len(wls) {
		t.Fatalf("%d layers, want %d", len(gls), len(wls))
	}
	for i := range gls {
		gd, err := gls[i].DiffID()
		if err != nil {
			t.Fatal(err)
		}
		// Recompute from the content, not from the config.
		rc, err := gls[i].Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		h, _, err := v1.SHA256(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		wd, _ := wls[i].DiffID()
		if gd != wd || h != wd {
			t.Errorf("layer %d: diff ID %s (content %s), want %s", i, gd, h, wd)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
