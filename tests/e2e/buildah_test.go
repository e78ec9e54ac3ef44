package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// buildahRunner runs buildah on storage of its own (vfs, in temporary
// folders) with the given registries.conf.
func buildahRunner(t *testing.T, registriesConf string) func(args ...string) string {
	t.Helper()
	requireTool(t, "buildah")
	dir := t.TempDir()
	short, err := os.MkdirTemp("", "e2ebah") // a short run root, as for podman
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(short) })
	env := append(clientEnv(t), "CONTAINERS_REGISTRIES_CONF="+registriesConf, "TMPDIR="+filepath.Join(dir, "tmp"))
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	return func(args ...string) string {
		t.Helper()
		global := []string{"--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(short, "run"), "--storage-driver", "vfs"}
		return strings.TrimSpace(runTool(t, clientTimeout, env, "buildah", append(global, args...)...))
	}
}

// TestShadowBuildah is a CI job building with buildah, as Zuul runs it:
// the base image comes through shadowreg's registries.conf mirror from
// the upstream; the job pushes its speculative image into the docker.io
// namespace; a later job, on a fresh node, builds FROM that name with no
// edits to its Containerfile and gets the speculative image, although the
// upstream has no such image; nothing is written upstream.
func TestShadowBuildah(t *testing.T) {
	t.Parallel()
	requireTool(t, "buildah")
	up := startUpstream(t, upstreamOptions{})
	srv := startShadow(t, shadowUpstream{NS: "docker.io", Up: up})
	base := mkTestImage(t, busyboxSaying(t, "base"))
	up.push("library/base", "1", base.v)
	up.settle()
	mark := len(up.Requests())
	conf := writeRegistriesConf(t, map[string]string{"docker.io": srv.Addr})

	job1 := buildahRunner(t, conf)
	ctr := job1("from", "--pull", "--quiet", "docker.io/library/base:1")
	if id := job1("inspect", "--type", "image", "--format", "{{.FromImageID}}", "docker.io/library/base:1"); "sha256:"+id != base.configID {
		t.Errorf("buildah pulled base with image ID %s, want %s (the upstream's, through the mirror)", id, base.configID)
	}
	// A RUN step (chroot isolation: no OCI runtime needed) and a label.
	job1("run", "--isolation", "chroot", ctr, "--", "/bin/sh", "-c", "echo speculative-change-1 > /change")
	job1("config", "--label", "zuul.change=1", ctr)
	job1("commit", "--quiet", ctr, "localhost/app:change_1_latest")
	job1("push", "--tls-verify=false", "localhost/app:change_1_latest", "docker://"+srv.Ref("docker.io/org/app:latest"))

	job2 := buildahRunner(t, conf)
	ctr2 := job2("from", "--pull", "--quiet", "docker.io/org/app:latest")
	if label := job2("inspect", "--format", `{{index .OCIv1.Config.Labels "zuul.change"}}`, ctr2); label != "1" {
		t.Errorf("FROM docker.io/org/app:latest on the next node: label zuul.change = %q, want 1 (the speculative image)", label)
	}
	if out := job2("run", "--isolation", "chroot", ctr2, "--", "/bin/busybox", "cat", "/change"); out != "speculative-change-1" {
		t.Errorf("RUN cat /change in the next job's build printed %q, want what job 1's RUN wrote", out)
	}
	checkNoWritesUpstream(t, up, mark)
}
