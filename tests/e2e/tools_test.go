package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// installName maps a tool to the argument of tools/install.sh that provides it.
var installName = map[string]string{
	"skopeo":          "apt",
	"podman":          "apt",
	"buildah":         "apt",
	"docker":          "apt",
	"dockerd":         "apt",
	"busybox":         "apt",
	"crane":           "crane",
	"regctl":          "regctl",
	"oras":            "oras",
	"oci-conformance": "conformance",
	"registry":        "registry",
	"minio":           "minio",
	"script":          "apt",
	"buildkitd":       "buildkit",
	"buildctl":        "buildkit",
}

// requireTool returns the path of a real client tool, looked up in
// SHADOWREG_TOOLS first and then in PATH. A missing tool fails the test: the
// e2e suite is only meaningful with the real clients.
func requireTool(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(toolsDir, name)
	if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
		return p
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	arg := installName[name]
	if arg == "" {
		arg = "all"
	}
	t.Fatalf("required tool %q not found in %s nor in PATH: install it with `tools/install.sh %s` (or set SHADOWREG_TOOLS)", name, toolsDir, arg)
	return ""
}

// toolResult is the outcome of one tool run.
type toolResult struct {
	Stdout, Stderr string
	Err            error
}

// runTool runs a tool with a timeout and returns its output; a non-zero
// exit fails the test with the command line and both outputs.
func runTool(t testing.TB, timeout time.Duration, env []string, name string, args ...string) string {
	t.Helper()
	r := tryTool(t, timeout, env, name, args...)
	if r.Err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), r.Err, clip(r.Stdout), clip(r.Stderr))
	}
	return r.Stdout
}

// tryTool runs a tool and returns its result without failing the test.
func tryTool(t testing.TB, timeout time.Duration, env []string, name string, args ...string) toolResult {
	t.Helper()
	return tryToolIn(t, "", timeout, env, name, args...)
}

// tryToolIn is tryTool in a working directory.
func tryToolIn(t testing.TB, dir string, timeout time.Duration, env []string, name string, args ...string) toolResult {
	t.Helper()
	bin := requireTool(t, name)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %v: %w", timeout, err)
	}
	t.Logf("$ %s %s  (%.1fs)", name, strings.Join(args, " "), time.Since(start).Seconds())
	return toolResult{Stdout: stdout.String(), Stderr: stderr.String(), Err: err}
}

func clip(s string) string {
	const max = 8 << 10
	if len(s) > max {
		return s[:max/2] + "\n[…]\n" + s[len(s)-max/2:]
	}
	return s
}

// clientEnv returns an environment that isolates a client's configuration
// (HOME, XDG dirs, docker config) in a temp dir, so that tests never read or
// write the user's files and can run in parallel.
func clientEnv(t testing.TB) []string {
	t.Helper()
	home := t.TempDir()
	for _, d := range []string{".config", ".cache", "run", ".docker"} {
		if err := os.MkdirAll(filepath.Join(home, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(home, "auth.json"), []byte(`{"auths":{}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{
		"HOME=" + home,
		"XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"XDG_CACHE_HOME=" + filepath.Join(home, ".cache"),
		"XDG_RUNTIME_DIR=" + filepath.Join(home, "run"),
		"DOCKER_CONFIG=" + filepath.Join(home, ".docker"),
		"REGCTL_CONFIG=" + filepath.Join(home, "regctl.json"),
		"REGISTRY_AUTH_FILE=" + filepath.Join(home, "auth.json"),
	}
}
