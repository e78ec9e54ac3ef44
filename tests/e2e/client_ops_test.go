package e2e

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func exitCodeOf(r toolResult) int {
	if r.Err == nil {
		return 0
	}
	if ee, ok := r.Err.(interface{ ExitCode() int }); ok {
		return ee.ExitCode()
	}
	return -1
}

// TestClientCopyLsTagRm: copy between two registries (--all: the index
// whole; else one platform) and into a buildset, digests preserved; ls by
// prefix and tags (a buildset's repositories are in the catalog only for
// its own credentials); tag; rm of a tag and of a manifest by digest.
func TestClientCopyLsTagRm(t *testing.T) {
	t.Parallel()
	if isReference() {
		t.Skip("buildsets are shadowreg's")
	}
	a, b := startServer(t), startServer(t)
	ra, rb := newRegClient(t, a), newRegClient(t, b)
	sr := newSRCLI(t, b)
	idx := newIndex(t, formatOCI, 2, 32<<10, 81, "linux/amd64", "linux/arm64/v8")
	want := ra.pushContent("e2e/idx", "1", idx)
	arm, _ := childOf(t, idx, "arm64").Digest()

	if out := sr.run("copy", "e2e/idx:1", "e2e/idx:1", "--from-server", a.URL, "--all"); !strings.Contains(out, want) {
		t.Errorf("copy --all printed %q, want the index digest %s", out, want)
	}
	rb.expectManifest("e2e/idx", "1", rawManifest(t, idx))
	sr.run("buildset", "create", "cp1", "--server", b.URL)
	sr.run("copy", "e2e/idx:1", "e2e/arm:1", "--from-server", a.URL, "--platform", "linux/arm64/v8", "--buildset", "cp1")
	if d := sr.digestOf("e2e/arm:1", "--buildset", "cp1"); d != arm.String() {
		t.Errorf("copy --platform linux/arm64/v8: %s, want the arm64 image %s", d, arm)
	}
	// Within one registry, from the shared area into the buildset.
	sr.run("copy", "e2e/idx:1", "e2e/idx:gate", "--from-buildset", "", "--buildset", "cp1", "--all")
	if d := sr.digestOf("e2e/idx:gate", "--buildset", "cp1"); d != want {
		t.Errorf("copy into the buildset: %s, want %s", d, want)
	}
	if r := sr.try("inspect", "e2e/idx:gate"); exitCodeOf(r) != 3 {
		t.Errorf("e2e/idx:gate outside the buildset: exit %d (%s), want 3 (not found)", exitCodeOf(r), r.Stderr)
	}

	if got := strings.Fields(sr.run("ls", "e2e/")); strings.Join(got, " ") != "e2e/idx" {
		t.Errorf("ls e2e/ = %v, want [e2e/idx]", got)
	}
	sr.run("tag", "e2e/idx:1", "release")
	if got := strings.Fields(sr.run("ls", "--tags", "e2e/idx")); strings.Join(got, " ") != "1 release" {
		t.Errorf("tags after tag = %v", got)
	}
	if d := sr.digestOf("e2e/idx:release"); d != want {
		t.Errorf("tag release points at %s, want %s", d, want)
	}
	sr.run("rm", "e2e/idx:release")
	if got := strings.Fields(sr.run("ls", "--tags", "e2e/idx")); strings.Join(got, " ") != "1" {
		t.Errorf("tags after rm of release = %v", got)
	}
	sr.run("rm", "e2e/idx@"+want)
	if r := sr.try("inspect", "e2e/idx@"+want); exitCodeOf(r) != 3 {
		t.Errorf("inspect after rm by digest: exit %d (%s), want 3", exitCodeOf(r), r.Stderr)
	}
	if r := sr.try("pull", "a", "b", "c"); exitCodeOf(r) != 2 {
		t.Errorf("pull with 3 arguments: exit %d, want 2 (usage)", exitCodeOf(r))
	}
}

// TestClientLoginTLSAuth: a registry with TLS (shadowreg cert) and the
// token flow. Without credentials the client is refused (exit 4); login
// checks the password and stores it in ~/.docker/config.json; push and
// pull then work with --ca-file (or --insecure), crane reads the same
// file; containers' auth.json (REGISTRY_AUTH_FILE) is read too, and a
// credential helper; logout removes the credentials. Without the CA, the TLS failure exits 6.
func TestClientLoginTLSAuth(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	abCLI(t, nil, "cert", "--host", "localhost", "--host", "127.0.0.1", "--out", out)
	caFile := filepath.Join(out, "ca.crt")
	cfg := "public-url: https://127.0.0.1:{{PORT}}\n" + "tls-cert: " + filepath.Join(out, "server.crt") + "\ntls-key: " + filepath.Join(out, "server.key") + "\n" +
		abAuthYAML("none",
			abUser{Name: "zuul", Password: "zuul-pass", Access: "write"},
			abUser{Name: "reader", Password: "reader-pass", Access: "read"})
	srv, _ := abStart(t, cfg, caFile)
	server := "https://" + srv.Addr
	env := append(clientEnv(t), "SHADOWREG_SERVER="+server)
	home := abEnvValue(env, "HOME")
	cli := func(extra []string, args ...string) toolResult {
		t.Helper()
		return tryTool(t, cliTransferTimeout, append(append([]string{}, env...), extra...), serverBin, args...)
	}
	file := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(file, []byte("notes\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	if r := cli(nil, "push", file, "ci/notes:1"); exitCodeOf(r) != 6 {
		t.Errorf("push without the CA: exit %d (%s), want 6 (TLS)", exitCodeOf(r), r.Stderr)
	}
	if r := cli(nil, "push", file, "ci/notes:1", "--ca-file", caFile); exitCodeOf(r) != 4 {
		t.Errorf("push without credentials: exit %d (%s), want 4", exitCodeOf(r), r.Stderr)
	}
	if r := cli([]string{"SHADOWREG_PASSWORD=wrong"}, "login", "--username", "zuul", "--ca-file", caFile); exitCodeOf(r) != 4 {
		t.Errorf("login with a wrong password: exit %d (%s), want 4", exitCodeOf(r), r.Stderr)
	}
	if r := cli([]string{"SHADOWREG_PASSWORD=zuul-pass"}, "login", "--username", "zuul", "--ca-file", caFile); r.Err != nil {
		t.Fatalf("login: %v %s", r.Err, r.Stderr)
	}
	var dc struct {
		Auths map[string]struct{ Auth string } `json:"auths"`
	}
	b, err := os.ReadFile(filepath.Join(home, ".docker", "config.json"))
	if err == nil {
		err = json.Unmarshal(b, &dc)
	}
	if err != nil || dc.Auths[srv.Addr].Auth != base64.StdEncoding.EncodeToString([]byte("zuul:zuul-pass")) {
		t.Fatalf("~/.docker/config.json after login: %s, %v", b, err)
	}
	if r := cli(nil, "push", file, "ci/notes:1", "--ca-file", caFile); r.Err != nil {
		t.Fatalf("push after login: %v %s", r.Err, r.Stderr)
	}
	if r := cli(nil, "pull", "ci/notes:1", "--unpack", filepath.Join(dir, "got"), "--insecure"); r.Err != nil {
		t.Fatalf("pull --insecure after login: %v %s", r.Err, r.Stderr)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "got", "notes.txt")); err != nil || string(b) != "notes\n" {
		t.Errorf("pulled notes.txt: %q, %v", b, err)
	}
	crane := runTool(t, clientTimeout, append(append([]string{}, env...), "SSL_CERT_FILE="+caFile), "crane", "ls", srv.Addr+"/ci/notes")
	if strings.TrimSpace(crane) != "1" {
		t.Errorf("crane ls with shadowreg login's credentials: %q", crane)
	}
	if r := cli(nil, "logout"); r.Err != nil {
		t.Fatalf("logout: %v %s", r.Err, r.Stderr)
	}
	if r := cli(nil, "inspect", "ci/notes:1", "--ca-file", caFile); exitCodeOf(r) != 4 {
		t.Errorf("inspect after logout: exit %d (%s), want 4", exitCodeOf(r), r.Stderr)
	}
	// containers' auth.json, as podman login writes it: read, not written.
	authFile := filepath.Join(dir, "auth.json")
	abWriteAuths(t, authFile, map[string][2]string{srv.Addr: {"reader", "reader-pass"}})
	if r := cli([]string{"REGISTRY_AUTH_FILE=" + authFile}, "ls", "--tags", "ci/notes", "--ca-file", caFile); r.Err != nil || strings.TrimSpace(r.Stdout) != "1" {
		t.Errorf("ls with REGISTRY_AUTH_FILE: %v %q %s", r.Err, r.Stdout, r.Stderr)
	}
	if r := cli([]string{"REGISTRY_AUTH_FILE=" + authFile}, "push", file, "ci/notes:2", "--ca-file", caFile); exitCodeOf(r) != 4 {
		t.Errorf("push as the read-only user: exit %d (%s), want 4", exitCodeOf(r), r.Stderr)
	}

	// A credential helper named in credHelpers, as docker runs it: the
	// client asks docker-credential-e2e for the registry's secret.
	helperDir := t.TempDir()
	helper := "#!/bin/sh\ncase \"$1\" in get) read server; printf '{\"ServerURL\":\"%s\",\"Username\":\"zuul\",\"Secret\":\"zuul-pass\"}' \"$server\" ;; *) cat >/dev/null ;; esac\n"
	if err := os.WriteFile(filepath.Join(helperDir, "docker-credential-e2e"), []byte(helper), 0o755); err != nil {
		t.Fatal(err)
	}
	dockerConfig := t.TempDir()
	if err := os.WriteFile(filepath.Join(dockerConfig, "config.json"), []byte(`{"credHelpers":{"`+srv.Addr+`":"e2e"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	helperEnv := []string{"DOCKER_CONFIG=" + dockerConfig, "PATH=" + helperDir + ":" + os.Getenv("PATH")}
	if r := cli(helperEnv, "push", file, "ci/notes:helper", "--ca-file", caFile); r.Err != nil {
		t.Errorf("push with the credential helper's secret: %v %s", r.Err, r.Stderr)
	}
	if r := cli(helperEnv, "ls", "--tags", "ci/notes", "--ca-file", caFile); !strings.Contains(r.Stdout, "helper") {
		t.Errorf("ls after the helper's push: %v %q %s", r.Err, r.Stdout, r.Stderr)
	}
}
