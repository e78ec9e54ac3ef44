package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// testImage is an image or index with what a pull of it must show.
type testImage struct {
	v        any    // v1.Image or v1.ImageIndex
	digest   string // the top manifest's digest
	configID string // the linux/amd64 image's config digest (the image ID of docker and podman)
	content  contentSet
}

func mkTestImage(t testing.TB, v any) testImage {
	t.Helper()
	ti := testImage{v: v, digest: manifestDigest(t, v.(interface{ RawManifest() ([]byte, error) })), content: collectContent(t, v)}
	img, ok := v.(v1.Image)
	if !ok {
		img = childOf(t, v.(v1.ImageIndex), "amd64")
	}
	cfg, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	ti.configID = cfg.String()
	return ti
}

// mirrorFixture is shadowreg with two upstreams standing in for docker.io
// (reference registry behind htpasswd Basic auth) and quay.io (open), and,
// in each namespace, one name that was pushed to shadowreg AND exists
// upstream (a different image: the local push must win) and one name that
// exists upstream only (the upstream must answer).
type mirrorFixture struct {
	srv      *Server
	upD, upQ *upstreamRegistry
	// docker.io/library/app:1: local vs upstream; docker.io/library/uponly:1.
	dAppLocal, dAppUp, dUpOnly testImage
	// quay.io/org/img:1: local vs upstream; quay.io/org/uponly:1.
	qImgLocal, qImgUp, qUpOnly testImage
	// Access log lines of each upstream once the test's own pushes into it
	// were done: what comes after is shadowreg's doing.
	markD, markQ int
}

// newMirrorFixture builds the fixture; pushLocal pushes v into shadowreg as
// repo:tag (repo with its namespace: docker.io/library/app).
func newMirrorFixture(t *testing.T, seed int64, pushLocal func(srv *Server, repo, tag string, v any)) *mirrorFixture {
	t.Helper()
	f := &mirrorFixture{
		upD: startUpstream(t, upstreamOptions{User: "hubuser", Password: "hub-secret"}),
		upQ: startUpstream(t, upstreamOptions{}),
	}
	f.srv = startShadow(t, shadowUpstream{NS: "docker.io", Up: f.upD}, shadowUpstream{NS: "quay.io", Up: f.upQ})
	f.dAppLocal = mkTestImage(t, newIndex(t, formatOCI, 2, 32<<10, seed+1, "linux/amd64", "linux/arm64/v8"))
	f.dAppUp = mkTestImage(t, newImage(t, formatDocker, 2, 32<<10, "linux/amd64", seed+2))
	f.dUpOnly = mkTestImage(t, newIndex(t, formatDocker, 2, 32<<10, seed+3, "linux/amd64", "linux/arm64/v8"))
	f.qImgLocal = mkTestImage(t, newImage(t, formatDocker, 2, 32<<10, "linux/amd64", seed+4))
	f.qImgUp = mkTestImage(t, newImage(t, formatOCI, 3, 32<<10, "linux/amd64", seed+5))
	f.qUpOnly = mkTestImage(t, newImage(t, formatOCI, 2, 32<<10, "linux/amd64", seed+6))

	f.upD.push("library/app", "1", f.dAppUp.v)
	f.upD.push("library/uponly", "1", f.dUpOnly.v)
	f.upQ.push("org/img", "1", f.qImgUp.v)
	f.upQ.push("org/uponly", "1", f.qUpOnly.v)
	f.upD.settle()
	f.upQ.settle()
	f.markD, f.markQ = len(f.upD.Requests()), len(f.upQ.Requests())
	pushLocal(f.srv, "docker.io/library/app", "1", f.dAppLocal.v)
	pushLocal(f.srv, "quay.io/org/img", "1", f.qImgLocal.v)
	return f
}

// checkLocalNotAskedUpstream checks that the names served from local pushes
// were never asked of the upstreams: local content wins without a request.
func (f *mirrorFixture) checkLocalNotAskedUpstream(t *testing.T) {
	t.Helper()
	for _, c := range []struct {
		up   *upstreamRegistry
		mark int
		path string
	}{{f.upD, f.markD, "/v2/library/app/manifests/1"}, {f.upQ, f.markQ, "/v2/org/img/manifests/1"}} {
		c.up.settle()
		if n := c.up.countSince(c.mark, "GET", c.path) + c.up.countSince(c.mark, "HEAD", c.path); n != 0 {
			t.Errorf("upstream %s was asked %d times for %s, which was pushed to shadowreg (local content must win without asking)", c.up.URL, n, c.path)
		}
	}
}

// checkNoWritesUpstream checks that nothing was pushed through to the
// upstreams by shadowreg (the tests' own pushes are before mark).
func checkNoWritesUpstream(t *testing.T, up *upstreamRegistry, mark int) {
	t.Helper()
	up.settle()
	for _, e := range up.requestsSince(mark) {
		if e.Method != "GET" && e.Method != "HEAD" {
			t.Errorf("upstream %s got %s %s: a push to shadowreg must never write through", up.URL, e.Method, e.Path)
		}
	}
}

// skopeoPush copies v into shadowreg as repo:tag with skopeo, straight into
// the name's namespace (docker://REG/quay.io/org/img:tag): from an OCI
// layout, or from skopeo's dir: format for Docker media types (skopeo 1.9
// reads those only from there); --all for indexes.
func skopeoPush(t *testing.T, sk *skopeo, srv *Server, repo, tag string, v any) {
	t.Helper()
	mt, err := v.(interface {
		MediaType() (types.MediaType, error)
	}).MediaType()
	if err != nil {
		t.Fatal(err)
	}
	var extra []string
	if mt.IsIndex() {
		extra = append(extra, "--all")
	}
	src := filepath.Join(t.TempDir(), "src")
	if strings.Contains(string(mt), "docker") {
		writeDir(t, src, v)
		sk.copyIn("dir:"+src, srv.Ref(repo+":"+tag), extra...)
		return
	}
	writeLayout(t, src, map[string]any{"x": v})
	sk.copyIn("oci:"+src+":x", srv.Ref(repo+":"+tag), extra...)
}

// skopeoPullCheck copies ref (a docker:// reference, through whatever
// registries.conf sk has) into skopeo's dir: format, which keeps manifests
// byte for byte, and checks it is want: the top manifest, every instance
// manifest and every blob.
func skopeoPullCheck(t *testing.T, sk *skopeo, src string, want testImage, extra ...string) {
	t.Helper()
	if _, ok := want.v.(v1.ImageIndex); ok {
		extra = append(extra, "--all")
	}
	out := filepath.Join(t.TempDir(), "dir")
	sk.run(append(append([]string{"copy"}, extra...), src, "dir:"+out)...)
	b, err := os.ReadFile(filepath.Join(out, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if sha256Digest(b) != want.digest {
		t.Errorf("skopeo copy %s: manifest %s, want %s", src, sha256Digest(b), want.digest)
		return
	}
	for d, size := range want.content.Blobs {
		if got, n := hashFile(t, filepath.Join(out, strings.TrimPrefix(d, "sha256:"))); got != d || n != size {
			t.Errorf("skopeo copy %s: blob %s: %d bytes hashing to %s, want %d bytes", src, d, n, got, size)
		}
	}
	for d, raw := range want.content.Manifests {
		if d == want.digest {
			continue
		}
		b, err := os.ReadFile(filepath.Join(out, strings.TrimPrefix(d, "sha256:")+".manifest.json"))
		if err != nil || string(b) != string(raw) {
			t.Errorf("skopeo copy %s: instance manifest %s missing or different: %v", src, d, err)
		}
	}
}

// TestShadowSkopeoMirror: skopeo with registries.conf mirrors
// (location REG/docker.io and REG/quay.io) reads docker.io and quay.io
// names through shadowreg: what was pushed to shadowreg (with skopeo,
// straight into the namespace) wins over the upstream's different image of
// the same name, and a name only the upstream has comes from the upstream
// (docker.io's through Basic auth), byte for byte. docker.io and quay.io
// themselves are unreachable here: only the mirror can answer. Then skopeo
// copies straight into namespaces and back out, and nothing is written
// through to an upstream.
func TestShadowSkopeoMirror(t *testing.T) {
	t.Parallel()
	sk := newSkopeo(t)
	f := newMirrorFixture(t, 700, func(srv *Server, repo, tag string, v any) { skopeoPush(t, sk, srv, repo, tag, v) })
	conf := writeRegistriesConf(t, map[string]string{"docker.io": f.srv.Addr + "/docker.io", "quay.io": f.srv.Addr + "/quay.io"})
	mirrored := *sk
	mirrored.global = append([]string{}, sk.global...)
	mirrored.global[1] = conf // --registries-conf FILE (Debian's skopeo ignores CONTAINERS_REGISTRIES_CONF)

	for _, tc := range []struct {
		ref  string
		want testImage
		from string
	}{
		{"docker.io/library/app:1", f.dAppLocal, "the local push (the upstream has another image under this name)"},
		{"docker.io/library/uponly:1", f.dUpOnly, "the upstream (docker.io, Basic auth)"},
		{"quay.io/org/img:1", f.qImgLocal, "the local push (the upstream has another image under this name)"},
		{"quay.io/org/uponly:1", f.qUpOnly, "the upstream (quay.io)"},
	} {
		raw := []byte(mirrored.run("inspect", "--raw", "--no-tags", "docker://"+tc.ref))
		if got := sha256Digest(raw); got != tc.want.digest {
			t.Errorf("skopeo inspect --raw docker://%s through the mirror: manifest %s, want %s from %s", tc.ref, got, tc.want.digest, tc.from)
		}
		skopeoPullCheck(t, &mirrored, "docker://"+tc.ref, tc.want)
	}
	f.checkLocalNotAskedUpstream(t)

	// Straight into namespaces and back, by tag and by digest.
	pushed := mkTestImage(t, newImage(t, formatOCI, 3, 48<<10, "linux/amd64", 790))
	plist := mkTestImage(t, newIndex(t, formatDocker, 2, 24<<10, 791, "linux/amd64", "linux/arm64/v8"))
	skopeoPush(t, sk, f.srv, "quay.io/org/pushed", "v1", pushed.v)
	skopeoPush(t, sk, f.srv, "docker.io/myorg/pushed", "v1", plist.v)
	skopeoPullCheck(t, sk, "docker://"+f.srv.Ref("quay.io/org/pushed:v1"), pushed, "--src-tls-verify=false")
	skopeoPullCheck(t, sk, "docker://"+f.srv.Ref("quay.io/org/pushed@"+pushed.digest), pushed, "--src-tls-verify=false")
	skopeoPullCheck(t, sk, "docker://"+f.srv.Ref("docker.io/myorg/pushed:v1"), plist, "--src-tls-verify=false")
	// docker.io/myorg/pushed and myorg/pushed are one repository.
	skopeoPullCheck(t, sk, "docker://"+f.srv.Ref("myorg/pushed:v1"), plist, "--src-tls-verify=false")
	// And through the mirrors, as a job of the buildset would pull them.
	skopeoPullCheck(t, &mirrored, "docker://quay.io/org/pushed:v1", pushed)
	skopeoPullCheck(t, &mirrored, "docker://docker.io/myorg/pushed:v1", plist)
	checkNoWritesUpstream(t, f.upD, f.markD)
	checkNoWritesUpstream(t, f.upQ, f.markQ)
}

// podmanRunner runs podman with isolated storage (vfs, cgroupfs, file
// events) and the given registries.conf (podman honours
// CONTAINERS_REGISTRIES_CONF).
func podmanRunner(t *testing.T, registriesConf string) func(args ...string) string {
	t.Helper()
	requireTool(t, "podman")
	dir := t.TempDir()
	env := append(clientEnv(t), "CONTAINERS_REGISTRIES_CONF="+registriesConf)
	// podman wants a run root shorter than 50 characters.
	short, err := os.MkdirTemp("", "e2epod")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(short) })
	return func(args ...string) string {
		t.Helper()
		global := []string{
			"--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(short, "run"),
			"--storage-driver", "vfs", "--cgroup-manager=cgroupfs", "--events-backend=file",
			"--tmpdir", filepath.Join(short, "tmp"),
		}
		return strings.TrimSpace(runTool(t, clientTimeout, env, "podman", append(global, args...)...))
	}
}

// TestShadowPodmanMirror: podman pulls through registries.conf mirrors as
// Zuul's use-buildset-registry writes them (docker.io's mirror without a
// path, so podman asks for library/app; quay.io's under /quay.io), short
// names through docker.io: the local push wins over the upstream's image of
// the same name, the upstream answers for a name pushed nowhere else.
func TestShadowPodmanMirror(t *testing.T) {
	t.Parallel()
	requireTool(t, "podman")
	f := newMirrorFixture(t, 800, func(srv *Server, repo, tag string, v any) { newRegClient(t, srv).pushContent(repo, tag, v) })
	podman := podmanRunner(t, writeRegistriesConf(t, map[string]string{"docker.io": f.srv.Addr, "quay.io": f.srv.Addr + "/quay.io"}))
	for _, tc := range []struct {
		ref  string
		want testImage
		from string
	}{
		{"app:1", f.dAppLocal, "the local push"},                           // short name, docker.io
		{"docker.io/library/uponly:1", f.dUpOnly, "the upstream"},          // qualified
		{"uponly:1", f.dUpOnly, "the upstream"},                            // short name again: already there
		{"quay.io/org/img:1", f.qImgLocal, "the local push"},               // mirror with a path
		{"quay.io/org/uponly:1", f.qUpOnly, "the upstream"},                //
		{"quay.io/org/uponly@" + f.qUpOnly.digest, f.qUpOnly, "the cache"}, // by digest
	} {
		id := podman("pull", "--quiet", "--arch", "amd64", "--os", "linux", tc.ref)
		if "sha256:"+id != tc.want.configID {
			t.Errorf("podman pull %s: image ID %s, want %s (the config of %s)", tc.ref, id, tc.want.configID, tc.from)
		}
		if d := podman("image", "inspect", "--format", "{{.Digest}}", tc.ref); d != tc.want.digest {
			t.Errorf("podman image inspect %s: digest %s, want %s from %s", tc.ref, d, tc.want.digest, tc.from)
		}
	}
	f.checkLocalNotAskedUpstream(t)
}

// busyboxSaying is busyboxImage whose default command prints msg: images
// that run, and tell by their output which one ran.
func busyboxSaying(t *testing.T, msg string) v1.Image {
	t.Helper()
	img := busyboxImage(t)
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Config.Cmd = []string{"/bin/sh", "-c", "echo " + msg}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// TestShadowDockerMirror: a real dockerd whose registry-mirrors is
// shadowreg, whose docker.io upstream is the reference registry behind
// Basic auth. `docker pull app` and `docker pull myorg/app:1.0` get the
// images pushed to shadowreg (library/app, myorg/app), although the
// upstream has other images under those names (never asked for); names
// pushed nowhere but upstream come from the upstream. Checked by image ID
// (config digest) and repo digest, and by running the busybox images
// (--network none), whose output says which image ran.
func TestShadowDockerMirror(t *testing.T) {
	t.Parallel()
	up := startUpstream(t, upstreamOptions{User: "hubuser", Password: "hub-secret"})
	srv := startShadow(t, shadowUpstream{NS: "docker.io", Up: up})
	rc := newRegClient(t, srv)

	localApp := mkTestImage(t, busyboxSaying(t, "local-app"))
	upApp := mkTestImage(t, busyboxSaying(t, "upstream-app"))
	localOrg := mkTestImage(t, newIndex(t, formatOCI, 2, 32<<10, 901, "linux/amd64", "linux/arm64/v8"))
	upOrg := mkTestImage(t, newImage(t, formatDocker, 2, 32<<10, "linux/amd64", 902))
	upOnly := mkTestImage(t, busyboxSaying(t, "upstream-only"))
	upOrgOnly := mkTestImage(t, newIndex(t, formatDocker, 2, 32<<10, 903, "linux/amd64", "linux/arm64/v8"))
	up.push("library/app", "latest", upApp.v)
	up.push("myorg/app", "1.0", upOrg.v)
	up.push("library/uponly", "latest", upOnly.v)
	up.push("myorg/uponly", "2.0", upOrgOnly.v)
	up.settle()
	mark := len(up.Requests())
	rc.pushContent("library/app", "latest", localApp.v)      // the name docker's mirror requests carry
	rc.pushContent("docker.io/myorg/app", "1.0", localOrg.v) // the same repository as myorg/app

	env := startDockerd(t, srv)
	docker := func(args ...string) string {
		t.Helper()
		return strings.TrimSpace(runTool(t, clientTimeout, env, "docker", args...))
	}
	for _, tc := range []struct {
		ref  string
		want testImage
		from string
		says string // what the image prints when run; "" = not runnable
	}{
		{"app", localApp, "the local push", "local-app"},
		{"myorg/app:1.0", localOrg, "the local push", ""},
		{"uponly", upOnly, "the upstream", "upstream-only"},
		{"myorg/uponly:2.0", upOrgOnly, "the upstream", ""},
	} {
		docker("pull", tc.ref)
		if id := docker("image", "inspect", "--format", "{{.Id}}", tc.ref); id != tc.want.configID {
			t.Errorf("docker pull %s: image ID %s, want %s (the config of %s)", tc.ref, id, tc.want.configID, tc.from)
		}
		if rd := docker("image", "inspect", "--format", "{{json .RepoDigests}}", tc.ref); !strings.Contains(rd, "@"+tc.want.digest) {
			t.Errorf("docker pull %s: RepoDigests %s, want the digest %s of %s", tc.ref, rd, tc.want.digest, tc.from)
		}
		if tc.says != "" {
			if out := docker("run", "--rm", "--network", "none", tc.ref); out != tc.says {
				t.Errorf("docker run %s printed %q, want %q (the image of %s)", tc.ref, out, tc.says, tc.from)
			}
		}
	}
	up.settle()
	for _, p := range []string{"/v2/library/app/manifests/latest", "/v2/myorg/app/manifests/1.0"} {
		if n := up.countSince(mark, "GET", p) + up.countSince(mark, "HEAD", p); n != 0 {
			t.Errorf("the upstream was asked %d times for %s, which was pushed to shadowreg (local content must win without asking)", n, p)
		}
	}
	checkNoWritesUpstream(t, up, mark)
}
