package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startBuildkitd runs BuildKit's daemon (root, native snapshotter, host
// network: nothing needs pulling for the Dockerfile's offline stages) and
// returns its address. It is stopped at cleanup.
func startBuildkitd(t *testing.T) string {
	t.Helper()
	bin := requireTool(t, "buildkitd")
	requireTool(t, "runc")
	buildctl := requireTool(t, "buildctl")
	dir := abShortTempDir(t, "e2ebk")
	addr := "unix://" + filepath.Join(dir, "bk.sock")
	cfg := filepath.Join(dir, "buildkitd.toml")
	if err := os.WriteFile(cfg, []byte("[worker.containerd]\n  enabled = false\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config", cfg, "--root", filepath.Join(dir, "root"), "--addr", addr,
		"--oci-worker-snapshotter", "native", "--oci-worker-net", "host")
	startDaemon(t, "buildkitd", cmd, func() bool {
		return exec.Command(buildctl, "--addr", addr, "debug", "workers").Run() == nil
	})
	return addr
}

// TestImageBuildKitDocker builds the repository's Dockerfile with
// BuildKit (its offline stage: the static binary built here), loads the
// image into a real docker engine and runs it with no network: version,
// and serve answering the shadowreg client inside the container, as the
// non-root user, writing to /data.
func TestImageBuildKitDocker(t *testing.T) {
	t.Parallel()
	abRequireShadowreg(t)
	addr := startBuildkitd(t)
	ctxDir := t.TempDir()
	for _, f := range []string{"Dockerfile", "config.example.yaml"} {
		b, err := os.ReadFile(filepath.Join(repoRoot, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(ctxDir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dist := filepath.Join(ctxDir, "dist")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-trimpath",
		"-ldflags", "-X github.com/shadowreg/shadowreg/cmd/shadowreg/cli.version=e2e-image",
		"-o", filepath.Join(dist, "shadowreg"), "./cmd/shadowreg")
	build.Dir = repoRoot
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("static build: %v\n%s", err, out)
	}
	ca, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err != nil {
		t.Fatalf("the host's CA bundle (Debian ca-certificates): %v", err)
	}
	if err := os.WriteFile(filepath.Join(dist, "ca-certificates.crt"), ca, 0o644); err != nil {
		t.Fatal(err)
	}
	imgTar := filepath.Join(t.TempDir(), "image.tar")
	runTool(t, 5*time.Minute, nil, "buildctl", "--addr", addr, "build", "--frontend", "dockerfile.v0",
		"--local", "context="+ctxDir, "--local", "dockerfile="+ctxDir,
		"--opt", "build-arg:BIN_FROM=prebuilt",
		"--output", "type=docker,name=shadowreg:e2e,dest="+imgTar)

	srv := startServer(t)
	env := startDockerd(t, srv)
	docker := func(args ...string) string {
		t.Helper()
		return strings.TrimSpace(runTool(t, clientTimeout, env, "docker", args...))
	}
	docker("load", "-i", imgTar)
	if user := docker("image", "inspect", "--format", "{{.Config.User}}", "shadowreg:e2e"); user != "65532:65532" {
		t.Errorf("image user %q, want the non-root 65532:65532", user)
	}
	if out := docker("run", "--rm", "--network", "none", "shadowreg:e2e", "version"); !strings.HasPrefix(out, "shadowreg e2e-image ") {
		t.Errorf("docker run shadowreg:e2e version printed %q", out)
	}
	// The default command serves on :5000 and /data; the client inside
	// the container pushes a file to it and lists it.
	id := docker("run", "-d", "--network", "none", "shadowreg:e2e")
	t.Cleanup(func() { tryTool(t, clientTimeout, env, "docker", "rm", "-f", id) })
	var last toolResult
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		last = tryTool(t, clientTimeout, env, "docker", "exec", id, "shadowreg", "push", "/etc/ssl/certs/ca-certificates.crt",
			"ci/certs:1", "--server", "http://127.0.0.1:5000", "-q")
		if last.Err == nil {
			break
		}
	}
	if last.Err != nil {
		t.Fatalf("push to serve inside the container: %v\n%s\n%s\nlogs:\n%s", last.Err, last.Stdout, last.Stderr,
			tryTool(t, clientTimeout, env, "docker", "logs", id).Stderr)
	}
	if out := docker("exec", id, "shadowreg", "ls", "--server", "http://127.0.0.1:5000"); out != "ci/certs" {
		t.Errorf("ls inside the container: %q, want ci/certs", out)
	}
}
