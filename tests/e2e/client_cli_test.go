package e2e

import (
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The shadowreg client commands (push, pull, copy, …) with real files made
// and read by real tools: docker save/load, podman save/load, skopeo's OCI
// layouts, oras push/pull.

const cliTransferTimeout = 5 * time.Minute

// srCLI runs the shadowreg client against srv (SHADOWREG_SERVER) and fails
// the test when it fails.
type srCLI struct {
	t   *testing.T
	env []string
}

func newSRCLI(t *testing.T, srv *Server) *srCLI {
	return &srCLI{t: t, env: append(clientEnv(t), "SHADOWREG_SERVER="+srv.URL)}
}

func (c *srCLI) run(args ...string) string {
	c.t.Helper()
	return runTool(c.t, cliTransferTimeout, c.env, serverBin, args...)
}

func (c *srCLI) try(args ...string) toolResult {
	c.t.Helper()
	return tryTool(c.t, cliTransferTimeout, c.env, serverBin, args...)
}

// digestOf is the digest shadowreg inspect reports for ref.
func (c *srCLI) digestOf(ref string, extra ...string) string {
	c.t.Helper()
	out := c.run(append([]string{"inspect", ref, "-o", "json"}, extra...)...)
	i := strings.Index(out, `"digest": "`)
	if i < 0 {
		c.t.Fatalf("inspect %s printed no digest:\n%s", ref, out)
	}
	return strings.SplitN(out[i+len(`"digest": "`):], `"`, 2)[0]
}

func gzipFile(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(out)
	if _, err := io.Copy(zw, in); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestClientDockerSaveLoad: a tarball docker save wrote (two images) goes
// into a buildset with shadowreg push, plain and gzipped; shadowreg pull
// writes a tarball docker load takes back, same image IDs, and the loaded
// image runs.
func TestClientDockerSaveLoad(t *testing.T) {
	t.Parallel()
	if isReference() {
		t.Skip("buildsets are shadowreg's")
	}
	srv := startServer(t)
	rc := newRegClient(t, srv)
	sr := newSRCLI(t, srv)
	env := startDockerd(t, srv)
	docker := func(args ...string) string {
		t.Helper()
		return strings.TrimSpace(runTool(t, clientTimeout, env, "docker", args...))
	}
	bb := busyboxImage(t)
	other := newImage(t, formatDocker, 3, 32<<10, "linux/amd64", 71)
	rc.pushContent("docker.io/myorg/runnable", "1.0", bb)
	rc.pushContent("docker.io/myorg/other", "2", other)
	docker("pull", "myorg/runnable:1.0")
	docker("pull", "myorg/other:2")
	dir := t.TempDir()
	saved := filepath.Join(dir, "both.tar")
	docker("save", "-o", saved, "myorg/runnable:1.0", "myorg/other:2")
	gzipFile(t, saved, filepath.Join(dir, "both.tar.gz"))
	bbID, otherID := "sha256:"+abConfigID(t, bb), "sha256:"+abConfigID(t, other)

	for _, c := range []struct{ buildset, file, out string }{
		{"dk-plain", "both.tar", "runnable.tar"},
		{"dk-gzip", "both.tar.gz", "runnable.tar.gz"},
	} {
		sr.run("buildset", "create", c.buildset, "--server", srv.URL)
		out := sr.run("push", filepath.Join(dir, c.file), "--buildset", c.buildset)
		for _, want := range []string{"pushed docker.io/myorg/runnable:1.0 sha256:", "pushed docker.io/myorg/other:2 sha256:"} {
			if !strings.Contains(out, want) {
				t.Errorf("push %s printed %q, want %q", c.file, out, want)
			}
		}
		// Only in the buildset: the shared area has no myorg/other:3.
		if got := sr.run("ls", "--tags", "docker.io/myorg/other", "--buildset", c.buildset); strings.TrimSpace(got) != "2" {
			t.Errorf("tags of myorg/other in %s: %q", c.buildset, got)
		}
		dest := filepath.Join(dir, c.out)
		sr.run("pull", "myorg/runnable:1.0", dest, "--buildset", c.buildset)
		docker("rmi", "myorg/runnable:1.0")
		if out := docker("load", "-i", dest); !strings.Contains(out, "myorg/runnable:1.0") {
			t.Errorf("docker load of %s printed %q, want the image's plain name", c.out, out)
		}
		if id := docker("image", "inspect", "--format", "{{.Id}}", "myorg/runnable:1.0"); id != bbID {
			t.Errorf("docker load %s: image ID %s, want %s", c.out, id, bbID)
		}
		if out := docker("run", "--rm", "--network", "none", "myorg/runnable:1.0"); out != "hello from shadowreg" {
			t.Errorf("docker run of the loaded image printed %q", out)
		}
	}
	sr.run("pull", "docker.io/myorg/other:2", filepath.Join(dir, "other.tar"), "--buildset", "dk-plain")
	docker("rmi", "myorg/other:2")
	docker("load", "-i", filepath.Join(dir, "other.tar"))
	if id := docker("image", "inspect", "--format", "{{.Id}}", "myorg/other:2"); id != otherID {
		t.Errorf("docker load other.tar: image ID %s, want %s", id, otherID)
	}
}

// TestClientPodmanSaveLoad: podman save's docker-archive in, and a pulled
// tarball podman load takes, same image ID.
func TestClientPodmanSaveLoad(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	rc := newRegClient(t, srv)
	sr := newSRCLI(t, srv)
	podman := abPodman(t, clientEnv(t))
	must := func(r toolResult) string {
		t.Helper()
		if r.Err != nil {
			t.Fatalf("podman: %v\n%s\n%s", r.Err, clip(r.Stdout), clip(r.Stderr))
		}
		return strings.TrimSpace(r.Stdout)
	}
	img := newImage(t, formatOCI, 2, 48<<10, "linux/amd64", 73)
	rc.pushContent("e2e/podsrc", "1", img)
	must(podman("pull", "--tls-verify=false", srv.Ref("e2e/podsrc:1")))
	dir := t.TempDir()
	saved := filepath.Join(dir, "podman.tar")
	must(podman("save", "-o", saved, srv.Ref("e2e/podsrc:1")))
	// podman records the registry it pulled from: shadowreg drops it.
	if out := sr.run("push", saved); !strings.Contains(out, "pushed e2e/podsrc:1 ") {
		t.Errorf("push of podman save's tarball printed %q", out)
	}
	sr.run("push", saved, "e2e/frompodman:1")
	out := filepath.Join(dir, "pulled.tar")
	sr.run("pull", "e2e/frompodman:1", out, "--tag", "localhost/frompodman:1")
	if got := must(podman("load", "-i", out)); !strings.Contains(got, "localhost/frompodman:1") {
		t.Errorf("podman load printed %q", got)
	}
	id := must(podman("image", "inspect", "--format", "{{.Id}}", "localhost/frompodman:1"))
	if want := abConfigID(t, img); id != want {
		t.Errorf("podman load: image ID %s, want %s", id, want)
	}
}

// TestClientSkopeoOCILayout: an OCI layout skopeo wrote (a two-platform
// index) goes in with shadowreg push and comes out with shadowreg pull
// --all, and skopeo reads it back: one digest all along.
func TestClientSkopeoOCILayout(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	rc := newRegClient(t, srv)
	sr := newSRCLI(t, srv)
	sk := newSkopeo(t)
	idx := newIndex(t, formatOCI, 2, 32<<10, 75, "linux/amd64", "linux/arm64/v8")
	want := rc.pushContent("e2e/ocisrc", "1", idx)
	dir := t.TempDir()
	lay := filepath.Join(dir, "layout")
	sk.copyOut(srv.Ref("e2e/ocisrc:1"), "oci:"+lay+":v1", "--all")

	if out := sr.run("push", lay, "e2e/fromlayout"); !strings.Contains(out, "pushed e2e/fromlayout:v1 "+want) {
		t.Errorf("push of skopeo's layout printed %q, want the index digest %s", out, want)
	}
	rc.expectManifest("e2e/fromlayout", "v1", rawManifest(t, idx))
	if got := sr.run("inspect", "e2e/fromlayout:v1"); !strings.Contains(got, "linux/amd64, linux/arm64/v8") {
		t.Errorf("inspect lists no platforms:\n%s", got)
	}

	out := filepath.Join(dir, "pulled")
	sr.run("pull", "e2e/fromlayout:v1", out, "--all")
	if d := sha256Digest([]byte(strings.TrimRight(sk.run("inspect", "--raw", "oci:"+out+":v1"), "\n"))); d != want {
		t.Errorf("skopeo reads the pulled layout as %s, want %s", d, want)
	}
	sk.copyIn("oci:"+out+":v1", srv.Addr+"/e2e/back:1", "--all")
	rc.expectManifest("e2e/back", "1", rawManifest(t, idx))

	// An OCI archive (a tar of the layout) too.
	archive := filepath.Join(dir, "layout.tar")
	sk.run("copy", "--src-tls-verify=false", "--all", "docker://"+srv.Ref("e2e/ocisrc:1"), "oci-archive:"+archive+":v2")
	if out := sr.run("push", archive, "e2e/fromarchive"); !strings.Contains(out, "pushed e2e/fromarchive:v2 "+want) {
		t.Errorf("push of an OCI archive printed %q", out)
	}
}
