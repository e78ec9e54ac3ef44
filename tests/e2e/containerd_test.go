package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// containerdSocket returns the socket of the containerd that a dockerd
// started by startDockerd runs for itself (under its exec-root), waiting
// for it to appear.
func containerdSocket(t *testing.T, dockerEnv []string) string {
	t.Helper()
	var dockerSock string
	for _, e := range dockerEnv {
		if v, ok := strings.CutPrefix(e, "DOCKER_HOST=unix://"); ok {
			dockerSock = v
		}
	}
	if dockerSock == "" {
		t.Fatalf("no DOCKER_HOST=unix://… in the docker environment %q", dockerEnv)
	}
	sock := filepath.Join(filepath.Dir(dockerSock), "exec", "containerd", "containerd.sock")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, err := os.Stat(sock); err == nil {
			return sock
		}
		if time.Now().After(deadline) {
			t.Fatalf("dockerd's containerd socket %s did not appear within 30s", sock)
		}
	}
}

// TestContainerdHostsToml: containerd (the docker engine's own, driven with
// its ctr client) pulls through shadowreg configured the way Zuul's
// use-buildset-registry writes certs.d: docker.io's hosts.toml with
// [host."http://REG/v2/docker.io"] and override_path = true (the namespace
// in the path), quay.io's with [host."http://REG"] and no path, so that
// only containerd's ?ns=quay.io names the namespace. The local push wins
// over the upstream's image of the same name; names only the upstream has
// come from the upstream. Checked by the digest containerd recorded.
func TestContainerdHostsToml(t *testing.T) {
	t.Parallel()
	requireTool(t, "ctr")
	f := newMirrorFixture(t, 950, func(srv *Server, repo, tag string, v any) { newRegClient(t, srv).pushContent(repo, tag, v) })
	env := startDockerd(t, f.srv)
	sock := containerdSocket(t, env)

	hosts := t.TempDir()
	for ns, body := range map[string]string{
		"docker.io": fmt.Sprintf("server = \"https://registry-1.docker.io\"\n\n[host.\"http://%s/v2/docker.io\"]\n  capabilities = [\"pull\", \"resolve\"]\n  override_path = true\n", f.srv.Addr),
		"quay.io":   fmt.Sprintf("server = \"https://quay.io\"\n\n[host.\"http://%s\"]\n  capabilities = [\"pull\", \"resolve\"]\n", f.srv.Addr),
	} {
		if err := os.MkdirAll(filepath.Join(hosts, ns), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(hosts, ns, "hosts.toml"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctr := func(args ...string) string {
		t.Helper()
		return runTool(t, clientTimeout, nil, "ctr", append([]string{"--address", sock, "--namespace", "e2e"}, args...)...)
	}
	for _, tc := range []struct {
		ref  string
		want testImage
		from string
	}{
		{"docker.io/library/app:1", f.dAppLocal, "the local push"},
		{"docker.io/library/uponly:1", f.dUpOnly, "the upstream"},
		{"quay.io/org/img:1", f.qImgLocal, "the local push"},
		{"quay.io/org/uponly:1", f.qUpOnly, "the upstream"},
	} {
		ctr("images", "pull", "--hosts-dir", hosts, "--platform", "linux/amd64", "--snapshotter", "native", tc.ref)
		got := ""
		for _, line := range strings.Split(ctr("images", "ls"), "\n") {
			if fields := strings.Fields(line); len(fields) >= 3 && fields[0] == tc.ref {
				got = fields[2]
			}
		}
		if got != tc.want.digest {
			t.Errorf("ctr images pull %s: image digest %q, want %s from %s", tc.ref, got, tc.want.digest, tc.from)
		}
	}
	f.checkLocalNotAskedUpstream(t)
}
