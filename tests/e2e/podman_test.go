package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// TestPodmanPullThroughMirror pulls pushed images with podman the way Zuul's
// use-buildset-registry role configures it: registries.conf mirrors, the
// registry as docker.io's mirror without a path (podman asks for
// library/app) and as quay.io's mirror under /quay.io. Short names resolve
// through docker.io. (Only pulls: podman run does not work on these
// machines.)
func TestPodmanPullThroughMirror(t *testing.T) {
	t.Parallel()
	requireTool(t, "podman")
	sk := newSkopeo(t)
	srv := startServer(t)

	idx := newIndex(t, formatOCI, 2, 32<<10, 51, "linux/amd64", "linux/arm64/v8")
	dimg := newImage(t, formatDocker, 2, 32<<10, "linux/amd64", 52)
	src := filepath.Join(t.TempDir(), "src")
	writeLayout(t, src, map[string]any{"idx": idx})
	dsrc := filepath.Join(t.TempDir(), "dimg")
	writeDir(t, dsrc, dimg)
	sk.copyIn("oci:"+src+":idx", srv.Ref("docker.io/library/app:1"), "--all")
	sk.copyIn("dir:"+dsrc, srv.Ref("quay.io/org/img:tag"))
	if isReference() {
		// No docker.io/library/app == library/app mapping there.
		sk.copyIn("oci:"+src+":idx", srv.Ref("library/app:1"), "--all")
	}

	dir := t.TempDir()
	conf := filepath.Join(dir, "registries.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`unqualified-search-registries = ["docker.io"]
short-name-mode = "permissive"

[[registry]]
prefix = "docker.io"
location = "docker.io"
[[registry.mirror]]
location = %q
insecure = true

[[registry]]
prefix = "quay.io"
location = "quay.io"
[[registry.mirror]]
location = %q
insecure = true
`, srv.Addr, srv.Addr+"/quay.io")), 0o644); err != nil {
		t.Fatal(err)
	}
	env := append(clientEnv(t), "CONTAINERS_REGISTRIES_CONF="+conf)
	// podman wants a run root shorter than 50 characters.
	short, err := os.MkdirTemp("", "e2epod")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(short) })
	podman := func(args ...string) string {
		t.Helper()
		global := []string{
			"--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(short, "run"),
			"--storage-driver", "vfs", "--cgroup-manager=cgroupfs", "--events-backend=file",
			"--tmpdir", filepath.Join(short, "tmp"),
		}
		return strings.TrimSpace(runTool(t, clientTimeout, env, "podman", append(global, args...)...))
	}

	amd64Config, _ := childOf(t, idx, "amd64").ConfigName()
	dimgConfig, _ := dimg.ConfigName()

	cases := []struct {
		ref, wantID, wantDigest string
	}{
		{"app:1", amd64Config.Hex, manifestDigest(t, idx)},                                      // short name, via docker.io
		{"docker.io/library/app:1", amd64Config.Hex, manifestDigest(t, idx)},                    // fully qualified
		{"quay.io/org/img:tag", dimgConfig.Hex, manifestDigest(t, dimg)},                        // other registry, mirror with a path
		{"quay.io/org/img@" + manifestDigest(t, dimg), dimgConfig.Hex, manifestDigest(t, dimg)}, // by digest
	}
	for _, tc := range cases {
		id := podman("pull", "--quiet", "--tls-verify=false", "--arch", "amd64", "--os", "linux", tc.ref)
		if id != tc.wantID {
			t.Errorf("podman pull %s: image ID %s, want %s (the config digest)", tc.ref, id, tc.wantID)
		}
		digest := podman("image", "inspect", "--format", "{{.Digest}}", tc.ref)
		if digest != tc.wantDigest {
			t.Errorf("podman image inspect %s: digest %s, want %s", tc.ref, digest, tc.wantDigest)
		}
	}
}

// childOf returns the image of an index for an architecture.
func childOf(t testing.TB, idx v1.ImageIndex, arch string) v1.Image {
	t.Helper()
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range im.Manifests {
		if d.Platform != nil && d.Platform.Architecture == arch {
			img, err := idx.Image(d.Digest)
			if err != nil {
				t.Fatal(err)
			}
			return img
		}
	}
	t.Fatalf("index has no %s image", arch)
	return nil
}
