package e2e

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// startDockerd starts a private docker daemon (vfs storage, no networking
// set-up) whose registry mirror is srv, and returns the environment for the
// docker client. It is stopped at cleanup.
func startDockerd(t *testing.T, srv *Server) []string {
	t.Helper()
	// Unix socket paths are limited to 108 bytes: keep it short.
	dir, err := os.MkdirTemp("", "e2edk")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "docker.sock")
	cfg := map[string]any{
		"registry-mirrors":    []string{srv.URL},
		"insecure-registries": []string{srv.Addr},
		"storage-driver":      "vfs",
		"iptables":            false,
		"ip-forward":          false,
		"ip-masq":             false,
		"bridge":              "none",
		"data-root":           filepath.Join(dir, "root"),
		"exec-root":           filepath.Join(dir, "exec"),
		"pidfile":             filepath.Join(dir, "docker.pid"),
		"hosts":               []string{"unix://" + sock},
	}
	b, _ := json.Marshal(cfg)
	cfgPath := filepath.Join(dir, "daemon.json")
	if err := os.WriteFile(cfgPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) }) // after dockerd stopped: cleanups run last first
	return runDockerd(t, cfgPath, sock)
}

// runDockerd runs dockerd with daemonJSON, whose API listens on sock, until
// the docker client gets an answer from it, and returns the client's
// environment. It is stopped at cleanup (its log printed if the test
// failed).
func runDockerd(t *testing.T, daemonJSON, sock string) []string {
	t.Helper()
	dockerd := requireTool(t, "dockerd")
	docker := requireTool(t, "docker")
	env := append(clientEnv(t), "DOCKER_HOST=unix://"+sock)
	var version []byte
	startDaemon(t, "dockerd", exec.Command(dockerd, "--config-file", daemonJSON), func() bool {
		c := exec.Command(docker, "version", "--format", "{{.Server.Version}}")
		c.Env = append(os.Environ(), env...)
		out, err := c.Output()
		version = out
		return err == nil
	})
	t.Logf("dockerd %s ready", strings.TrimSpace(string(version)))
	return env
}

// startDaemon starts a daemon (its own process group, killed with the
// test process), waits up to 60 s until ready says it answers, and stops
// it with SIGTERM at cleanup (SIGKILL to the group after 20 s), printing
// its log if the test failed.
func startDaemon(t *testing.T, what string, cmd *exec.Cmd, ready func() bool) {
	t.Helper()
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", what, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if t.Failed() {
			t.Logf("%s log:\n%s", what, clip(logs.String()))
		}
	})
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		select {
		case err := <-exited:
			t.Fatalf("%s exited: %v\n%s", what, err, clip(logs.String()))
		default:
		}
		if ready() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after 60s\n%s", what, clip(logs.String()))
		}
	}
}

// busyboxImage is a runnable image: Debian's static busybox as /bin/sh.
func busyboxImage(t *testing.T) v1.Image {
	t.Helper()
	bb, err := os.ReadFile(requireTool(t, "busybox"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range []*tar.Header{
		{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(bb))},
		{Name: "bin/sh", Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777},
		{Name: "bin/echo", Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Name == "bin/busybox" {
			if _, err := tw.Write(bb); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Cmd = []string{"/bin/sh", "-c", "echo hello from shadowreg"}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// TestDockerMirrorAndPush runs a real docker engine with the registry as its
// docker.io mirror (as Zuul's use-buildset-registry configures it): docker
// pulls short names through it, runs a pulled image, and pushes to it
// (POST, streamed PATCH, PUT).
func TestDockerMirrorAndPush(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	rc := newRegClient(t, srv)
	env := startDockerd(t, srv)
	docker := func(args ...string) string {
		t.Helper()
		return strings.TrimSpace(runTool(t, clientTimeout, env, "docker", args...))
	}

	idx := newIndex(t, formatOCI, 2, 64<<10, 61, "linux/amd64", "linux/arm64/v8")
	bb := busyboxImage(t)
	repos := []string{"docker.io/library/app", "docker.io/myorg/runnable"}
	if isReference() {
		repos = []string{"library/app", "myorg/runnable"} // no docker.io mapping there
	}
	idxDigest := rc.pushContent(repos[0], "1", idx)
	bbDigest := rc.pushContent(repos[1], "1.0", bb)
	amd64Config, _ := childOf(t, idx, "amd64").ConfigName()
	bbConfig, _ := bb.ConfigName()

	// Through the mirror: docker asks for library/app and myorg/runnable.
	docker("pull", "app:1")
	if id := docker("image", "inspect", "--format", "{{.Id}}", "app:1"); id != amd64Config.String() {
		t.Errorf("docker pull app:1: image ID %s, want %s (the amd64 config)", id, amd64Config)
	}
	if rd := docker("image", "inspect", "--format", "{{json .RepoDigests}}", "app:1"); !strings.Contains(rd, idxDigest) {
		t.Errorf("docker pull app:1: RepoDigests %s, want the index digest %s", rd, idxDigest)
	}
	docker("pull", "myorg/runnable:1.0")
	if id := docker("image", "inspect", "--format", "{{.Id}}", "myorg/runnable:1.0"); id != bbConfig.String() {
		t.Errorf("docker pull myorg/runnable:1.0: image ID %s, want %s", id, bbConfig)
	}
	if rd := docker("image", "inspect", "--format", "{{json .RepoDigests}}", "myorg/runnable:1.0"); !strings.Contains(rd, bbDigest) {
		t.Errorf("docker pull myorg/runnable:1.0: RepoDigests %s, want %s", rd, bbDigest)
	}
	if out := docker("run", "--rm", "--network", "none", "myorg/runnable:1.0"); out != "hello from shadowreg" {
		t.Errorf("docker run of the pulled image printed %q", out)
	}

	// Push: docker streams the layers itself.
	pushed := srv.Ref("e2e/docker-pushed:1")
	docker("tag", "myorg/runnable:1.0", pushed)
	out := docker("push", pushed)
	i := strings.Index(out, "digest: sha256:")
	if i < 0 {
		t.Fatalf("docker push printed no digest:\n%s", out)
	}
	pushedDigest := strings.Fields(out[i+len("digest: "):])[0]
	resp := rc.getManifest("e2e/docker-pushed", "1")
	if resp.Status != http.StatusOK || sha256Digest(resp.Body) != pushedDigest {
		t.Fatalf("GET the manifest docker pushed: %d, digest %s, want 200 %s", resp.Status, sha256Digest(resp.Body), pushedDigest)
	}
	var m v1.Manifest
	if err := json.Unmarshal(resp.Body, &m); err != nil {
		t.Fatal(err)
	}
	if m.Config.Digest != bbConfig {
		t.Errorf("pushed config %s, want %s", m.Config.Digest, bbConfig)
	}
	for _, d := range append([]v1.Descriptor{m.Config}, m.Layers...) {
		r := rc.getBlob("e2e/docker-pushed", d.Digest.String())
		if r.Status != http.StatusOK || sha256Digest(r.Body) != d.Digest.String() || int64(len(r.Body)) != d.Size {
			t.Errorf("blob %s that docker pushed: %d, %d bytes hashing to %s, want %d bytes", d.Digest, r.Status, len(r.Body), sha256Digest(r.Body), d.Size)
		}
	}
	// And back, by digest, after forgetting it.
	docker("rmi", pushed, "myorg/runnable:1.0")
	byDigest := srv.Ref("e2e/docker-pushed@" + pushedDigest)
	docker("pull", byDigest)
	if out := docker("run", "--rm", "--network", "none", byDigest, "echo", "again"); out != "again" {
		t.Errorf("docker run after pulling by digest printed %q", out)
	}
}
