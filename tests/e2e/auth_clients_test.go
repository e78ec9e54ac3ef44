package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	crand "crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// abFailed reports whether a tool run failed with one of the words in its
// output (case-insensitive), and logs the client's last error line.
func abFailed(t testing.TB, r toolResult, words ...string) bool {
	t.Helper()
	if r.Err == nil {
		return false
	}
	out := strings.ToLower(r.Stdout + r.Stderr)
	for _, w := range words {
		if strings.Contains(out, strings.ToLower(w)) {
			t.Logf("  refused as expected: %s", abLastLine(r))
			return true
		}
	}
	return false
}

// abLastLine is the last non-empty line of a client's output: its error.
func abLastLine(r toolResult) string {
	lines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// abSkopeoTry runs skopeo with the isolated configuration of sk and returns
// the result.
func abSkopeoTry(t *testing.T, sk *skopeo, args ...string) toolResult {
	t.Helper()
	return tryTool(t, skopeoTimeout, sk.env, "skopeo", append(append([]string{}, sk.global...), args...)...)
}

// TestAuthSkopeo drives the Docker token flow with skopeo against a
// registry without anonymous access: a write user pushes (--dest-creds) and
// pulls (--creds, --src-creds); a read user pulls but its push is denied and
// leaves nothing behind; a user limited to a prefix pushes under it only; a
// wrong password and anonymous clients are refused.
func TestAuthSkopeo(t *testing.T) {
	t.Parallel()
	abRequireShadowreg(t)
	sk := newSkopeo(t)
	srv, _ := abStart(t, abAuthYAML("none",
		abUser{Name: "zuul", Password: "zuul-pass", Access: "write"},
		abUser{Name: "reader", Password: "reader-pass", Access: "read"},
		abUser{Name: "team", Password: "team-pass", Access: "write", Prefixes: []string{"team"}},
	), "")
	admin := abClient(t, srv.URL, "zuul", "zuul-pass", "")

	img := newImage(t, formatOCI, 2, 40<<10, "linux/amd64", 911)
	want := collectContent(t, img)
	dg := manifestDigest(t, img)
	src := filepath.Join(t.TempDir(), "src")
	writeLayout(t, src, map[string]any{"img": img})
	from := "oci:" + src + ":img"

	// The write user pushes through the token flow, and pulls back.
	sk.run("copy", "--dest-tls-verify=false", "--dest-creds", "zuul:zuul-pass", from, "docker://"+srv.Ref("auth/app:1"))
	admin.expectContent("auth/app", want)
	if raw := sk.run("inspect", "--raw", "--tls-verify=false", "--creds", "zuul:zuul-pass", "docker://"+srv.Ref("auth/app:1")); sha256Digest([]byte(raw)) != dg {
		t.Errorf("skopeo inspect as zuul: digest %s, want %s", sha256Digest([]byte(raw)), dg)
	}

	// The read user pulls.
	dst := filepath.Join(t.TempDir(), "dst")
	sk.run("copy", "--src-tls-verify=false", "--src-creds", "reader:reader-pass", "docker://"+srv.Ref("auth/app:1"), "oci:"+dst+":back")
	verifyLayoutHas(t, dst, "back", dg, want)

	// … and may not push.
	r := abSkopeoTry(t, sk, "copy", "--dest-tls-verify=false", "--dest-creds", "reader:reader-pass", from, "docker://"+srv.Ref("auth/by-reader:1"))
	if !abFailed(t, r, "denied", "unauthorized") {
		t.Errorf("skopeo push as the read user: err %v, stderr %q; want denied or unauthorized", r.Err, clip(r.Stderr))
	}
	if resp := admin.getManifest("auth/by-reader", "1"); resp.Status != http.StatusNotFound {
		t.Errorf("after the read user's refused push, GET auth/by-reader:1: %s, want 404", resp)
	}

	// A prefix-limited user: under team/ yes, elsewhere no.
	sk.run("copy", "--dest-tls-verify=false", "--dest-creds", "team:team-pass", from, "docker://"+srv.Ref("team/app:1"))
	admin.expectManifest("team/app", "1", rawManifest(t, img))
	r = abSkopeoTry(t, sk, "copy", "--dest-tls-verify=false", "--dest-creds", "team:team-pass", from, "docker://"+srv.Ref("teamx/app:1"))
	if !abFailed(t, r, "denied", "unauthorized") {
		t.Errorf("skopeo push outside the user's prefix: err %v, stderr %q; want denied or unauthorized", r.Err, clip(r.Stderr))
	}

	// Wrong password, and no credentials at all (anonymous: none).
	for _, creds := range []string{"zuul:wrong", "reader:wrong", ""} {
		args := []string{"inspect", "--raw", "--tls-verify=false"}
		if creds != "" {
			args = append(args, "--creds", creds)
		}
		r := abSkopeoTry(t, sk, append(args, "docker://"+srv.Ref("auth/app:1"))...)
		if !abFailed(t, r, "unauthorized", "authentication required") {
			t.Errorf("skopeo inspect with creds %q: err %v, stderr %q; want unauthorized", creds, r.Err, clip(r.Stderr))
		}
	}
	if resp := abClient(t, srv.URL, "", "", "").getManifest("auth/app", "1"); resp.Status != http.StatusUnauthorized {
		t.Errorf("anonymous GET manifest with anonymous: none: %s, want 401", resp)
	}
}

// TestAuthAnonymousRead (tokens signed with an ECDSA key-file): with
// anonymous: read, skopeo pulls without
// credentials, and with credentials unknown to the registry (docker's
// Docker Hub login sent to a mirror); anonymous pushes are refused, and so is
// a known user with a wrong password.
func TestAuthAnonymousRead(t *testing.T) {
	t.Parallel()
	abRequireShadowreg(t)
	sk := newSkopeo(t)
	// Tokens signed with an ECDSA key (key-file) instead of a secret.
	key, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "token.key")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(abAuthYAML("read", abUser{Name: "zuul", Password: "zuul-pass", Access: "write"}),
		"  secret: e2e-secret-that-is-long-enough\n", "  key-file: "+keyFile+"\n", 1)
	srv, _ := abStart(t, cfg, "")
	tok := abClient(t, srv.URL, "zuul", "zuul-pass", "").must("GET", "/auth/token?service=shadowreg&scope=repository:anon/app:pull", nil, nil)
	var tr struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(tok.Body, &tr); err != nil || tok.Status != http.StatusOK {
		t.Fatalf("token request: %s (%v)", tok, err)
	}
	hdr, _ := base64.RawURLEncoding.DecodeString(strings.Split(tr.Token, ".")[0])
	if !strings.Contains(string(hdr), `"alg":"ES256"`) {
		t.Errorf("token header %s: want alg ES256 (signed with the key-file)", hdr)
	}

	img := newImage(t, formatOCI, 2, 32<<10, "linux/amd64", 921)
	want := collectContent(t, img)
	dg := manifestDigest(t, img)
	src := filepath.Join(t.TempDir(), "src")
	writeLayout(t, src, map[string]any{"img": img})
	sk.run("copy", "--dest-tls-verify=false", "--dest-creds", "zuul:zuul-pass", "oci:"+src+":img", "docker://"+srv.Ref("anon/app:1"))

	dst := filepath.Join(t.TempDir(), "dst")
	sk.copyOut(srv.Ref("anon/app:1"), "oci:"+dst+":back")
	verifyLayoutHas(t, dst, "back", dg, want)
	if raw := sk.run("inspect", "--raw", "--tls-verify=false", "--creds", "someone-from-docker-hub:hub-token", "docker://"+srv.Ref("anon/app:1")); sha256Digest([]byte(raw)) != dg {
		t.Errorf("skopeo inspect with unknown credentials: digest %s, want %s", sha256Digest([]byte(raw)), dg)
	}
	abClient(t, srv.URL, "", "", "").expectContent("anon/app", want)

	r := abSkopeoTry(t, sk, "copy", "--dest-tls-verify=false", "oci:"+src+":img", "docker://"+srv.Ref("anon/pushed:1"))
	if !abFailed(t, r, "unauthorized", "denied", "authentication required") {
		t.Errorf("anonymous skopeo push: err %v, stderr %q; want unauthorized", r.Err, clip(r.Stderr))
	}
	r = abSkopeoTry(t, sk, "inspect", "--raw", "--tls-verify=false", "--creds", "zuul:wrong", "docker://"+srv.Ref("anon/app:1"))
	if !abFailed(t, r, "unauthorized") {
		t.Errorf("skopeo inspect as a known user with a wrong password: err %v, stderr %q; want unauthorized", r.Err, clip(r.Stderr))
	}
}

// TestAuthCraneRegctl logs crane (`crane auth login`, into a temporary
// DOCKER_CONFIG) and regctl (`regctl registry login`, into a temporary
// HOME/REGCTL_CONFIG) in, then pushes and pulls with each; before the login
// both are refused.
func TestAuthCraneRegctl(t *testing.T) {
	t.Parallel()
	abRequireShadowreg(t)
	requireTool(t, "crane")
	requireTool(t, "regctl")
	srv, _ := abStart(t, abAuthYAML("none",
		abUser{Name: "zuul", Password: "zuul-pass", Access: "write"},
		abUser{Name: "reader", Password: "reader-pass", Access: "read"}), "")
	admin := abClient(t, srv.URL, "zuul", "zuul-pass", "")

	img := newImage(t, formatOCI, 2, 32<<10, "linux/amd64", 931)
	want := collectContent(t, img)
	dg := manifestDigest(t, img)
	lay := filepath.Join(t.TempDir(), "layout")
	writeLayout(t, lay, map[string]any{"img": img})

	t.Run("crane", func(t *testing.T) {
		env := clientEnv(t)
		crane := func(args ...string) toolResult {
			t.Helper()
			return tryTool(t, clientTimeout, env, "crane", append([]string{"--insecure"}, args...)...)
		}
		if r := crane("push", lay, srv.Ref("crane/app:1")); !abFailed(t, r, "unauthorized", "authentication required") {
			t.Errorf("crane push before login: err %v, stderr %q; want unauthorized", r.Err, clip(r.Stderr))
		}
		runTool(t, clientTimeout, env, "crane", "auth", "login", srv.Addr, "-u", "zuul", "-p", "zuul-pass")
		cfg, err := os.ReadFile(filepath.Join(abEnvValue(env, "DOCKER_CONFIG"), "config.json"))
		if err != nil || !strings.Contains(string(cfg), srv.Addr) {
			t.Fatalf("crane auth login wrote no entry for %s into $DOCKER_CONFIG/config.json: %v %s", srv.Addr, err, cfg)
		}
		if r := crane("push", lay, srv.Ref("crane/app:1")); r.Err != nil || !strings.HasSuffix(strings.TrimSpace(r.Stdout), "@"+dg) {
			t.Fatalf("crane push after login: %v, printed %q (want …@%s)\n%s", r.Err, r.Stdout, dg, clip(r.Stderr))
		}
		admin.expectContent("crane/app", want)
		tarball := filepath.Join(t.TempDir(), "app.tar")
		if r := crane("pull", "--format", "oci", srv.Ref("crane/app:1"), tarball); r.Err != nil {
			t.Fatalf("crane pull after login: %v\n%s", r.Err, clip(r.Stderr))
		}
		verifyLayoutHas(t, tarball, "", dg, want)
		if r := crane("digest", srv.Ref("crane/app:1")); strings.TrimSpace(r.Stdout) != dg {
			t.Errorf("crane digest after login: %q (%v), want %s", r.Stdout, r.Err, dg)
		}
	})

	t.Run("regctl", func(t *testing.T) {
		env := clientEnv(t)
		regctl := func(args ...string) toolResult {
			t.Helper()
			return tryTool(t, clientTimeout, env, "regctl", args...)
		}
		// set pings the registry, which answers 401 before the login: the
		// setting is saved anyway ("configuration still updated").
		if r := regctl("registry", "set", srv.Addr, "--tls", "disabled"); r.Err != nil && !strings.Contains(r.Stderr, "configuration still updated") {
			t.Fatalf("regctl registry set %s --tls disabled: %v\n%s", srv.Addr, r.Err, r.Stderr)
		}
		if r := regctl("image", "copy", "ocidir://"+lay+":img", srv.Ref("regctl/app:1")); !abFailed(t, r, "unauthorized", "authentication required", "401") {
			t.Errorf("regctl image copy before login: err %v, stderr %q; want unauthorized", r.Err, clip(r.Stderr))
		}
		if r := regctl("registry", "login", srv.Addr, "-u", "zuul", "-p", "wrong-pass"); r.Err == nil {
			t.Errorf("regctl registry login with a wrong password succeeded:\n%s%s", r.Stdout, r.Stderr)
		}
		runTool(t, clientTimeout, env, "regctl", "registry", "login", srv.Addr, "-u", "zuul", "-p", "zuul-pass")
		cfg, err := os.ReadFile(abEnvValue(env, "REGCTL_CONFIG"))
		if err != nil || !strings.Contains(string(cfg), srv.Addr) {
			t.Errorf("regctl registry login wrote no entry for %s into $REGCTL_CONFIG: %v %s", srv.Addr, err, cfg)
		}
		if r := regctl("image", "copy", "ocidir://"+lay+":img", srv.Ref("regctl/app:1")); r.Err != nil {
			t.Fatalf("regctl image copy after login: %v\n%s", r.Err, clip(r.Stderr))
		}
		admin.expectContent("regctl/app", want)
		if r := regctl("image", "digest", srv.Ref("regctl/app:1")); strings.TrimSpace(r.Stdout) != dg {
			t.Errorf("regctl image digest after login: %q (%v), want %s", r.Stdout, r.Err, dg)
		}
		out := filepath.Join(t.TempDir(), "out")
		if r := regctl("image", "copy", srv.Ref("regctl/app:1"), "ocidir://"+out+":back"); r.Err != nil {
			t.Fatalf("regctl pull after login: %v\n%s", r.Err, clip(r.Stderr))
		}
		verifyLayoutHas(t, out, "back", dg, want)
	})
}

// TestAuthDocker runs a private dockerd with the registry (anonymous: read)
// as its docker.io mirror and as an insecure registry: `docker login` with a
// wrong password fails and with the right one succeeds (the token request
// without scope checks the password), then docker pushes and pulls under
// the login. Then docker's Docker Hub credentials (config.json,
// "https://index.docker.io/v1/"), which it sends to its mirrors: a known
// user's wrong password is refused (the pull fails); FAKE credentials
// unknown here get the anonymous grant, and `docker pull` through
// registry-mirrors succeeds.
func TestAuthDocker(t *testing.T) {
	t.Parallel()
	abRequireShadowreg(t)
	srv, _ := abStart(t, abAuthYAML("read",
		abUser{Name: "zuul", Password: "zuul-pass", Access: "write"},
		abUser{Name: "reader", Password: "reader-pass", Access: "read"}), "")
	admin := abClient(t, srv.URL, "zuul", "zuul-pass", "")
	env := startDockerd(t, srv)
	docker := func(args ...string) toolResult {
		t.Helper()
		return tryTool(t, clientTimeout, env, "docker", args...)
	}
	mustDocker := func(args ...string) string {
		t.Helper()
		return strings.TrimSpace(runTool(t, clientTimeout, env, "docker", args...))
	}

	bb := busyboxImage(t)
	bbDigest := admin.pushContent("e2e/busybox", "1", bb)
	bbID := "sha256:" + abConfigID(t, bb)

	if r := docker("login", srv.Addr, "-u", "zuul", "-p", "wrong-pass"); r.Err == nil {
		t.Errorf("docker login with a wrong password succeeded:\n%s%s", r.Stdout, r.Stderr)
	}
	if r := docker("login", srv.Addr, "-u", "nobody-here", "-p", "whatever"); r.Err == nil {
		// By design (README, Auth and TLS): with anonymous: read, unknown
		// credentials get the anonymous grant, so this login "succeeds"
		// although it can only pull. Noted, not failed.
		t.Logf("note: with anonymous: read, docker login as an unknown user succeeds (anonymous grant): %s", strings.TrimSpace(r.Stdout))
	}
	out := mustDocker("login", srv.Addr, "-u", "zuul", "-p", "zuul-pass")
	if !strings.Contains(out, "Login Succeeded") {
		t.Errorf("docker login printed %q", out)
	}

	// Pull by the registry's address (under the login), then push back.
	ref := srv.Ref("e2e/busybox:1")
	mustDocker("pull", ref)
	if id := mustDocker("image", "inspect", "--format", "{{.Id}}", ref); id != bbID {
		t.Errorf("docker pull %s: image ID %s, want %s", ref, id, bbID)
	}
	if rd := mustDocker("image", "inspect", "--format", "{{json .RepoDigests}}", ref); !strings.Contains(rd, bbDigest) {
		t.Errorf("docker pull %s: RepoDigests %s, want %s", ref, rd, bbDigest)
	}
	pushed := srv.Ref("e2e/docker-login-push:1")
	mustDocker("tag", ref, pushed)
	out = mustDocker("push", pushed)
	i := strings.Index(out, "digest: sha256:")
	if i < 0 {
		t.Fatalf("docker push printed no digest:\n%s", out)
	}
	pushedDigest := strings.Fields(out[i+len("digest: "):])[0]
	if resp := admin.getManifest("e2e/docker-login-push", "1"); resp.Status != http.StatusOK || sha256Digest(resp.Body) != pushedDigest {
		t.Errorf("GET the manifest docker pushed: %s (digest %s), want 200 %s", resp, sha256Digest(resp.Body), pushedDigest)
	}
	mustDocker("logout", srv.Addr)
	mustDocker("rmi", pushed)
	if r := docker("push", pushed); r.Err == nil {
		t.Errorf("docker push after logout succeeded (anonymous: read must not allow pushes):\n%s", r.Stdout)
	}

	// The mirror path with FAKE Docker Hub credentials in config.json.
	app := newImage(t, formatDocker, 1, 32<<10, "linux/amd64", 941)
	appDigest := admin.pushContent("docker.io/org/app", "1", app)
	cfgPath := filepath.Join(abEnvValue(env, "DOCKER_CONFIG"), "config.json")
	// First, to show that docker does send its Hub login to the mirror: a
	// known user name with a wrong password is refused, and the pull fails.
	abWriteAuths(t, cfgPath, map[string][2]string{"https://index.docker.io/v1/": {"zuul", "not-the-password"}})
	logStart := len(srv.Logs())
	if r := docker("pull", "org/app:1"); r.Err == nil {
		t.Errorf("docker pull with Hub credentials naming user zuul with a wrong password succeeded")
	}
	if !regexp.MustCompile(`auth: wrong credentials".*user=zuul`).MatchString(srv.Logs()[logStart:]) {
		t.Errorf("the server log shows no refused login of zuul: docker did not send its Hub credentials to the mirror?")
	}
	abWriteAuths(t, cfgPath, map[string][2]string{"https://index.docker.io/v1/": {"hub-user", "fake-hub-token"}})
	mustDocker("pull", "org/app:1")
	if id := mustDocker("image", "inspect", "--format", "{{.Id}}", "org/app:1"); id != "sha256:"+abConfigID(t, app) {
		t.Errorf("docker pull org/app:1 through the mirror: image ID %s, want sha256:%s", id, abConfigID(t, app))
	}
	if rd := mustDocker("image", "inspect", "--format", "{{json .RepoDigests}}", "org/app:1"); !strings.Contains(rd, appDigest) {
		t.Errorf("docker pull org/app:1 through the mirror: RepoDigests %s, want %s", rd, appDigest)
	}
}

// TestAuthPrefixes: a user limited to the prefix team sees only team/… in
// the catalog (crane catalog after crane auth login); it may not read a
// blob of another repository (403), nor mount it with ?from= (403); and a
// mount WITHOUT from must not hand it over either — it should open an
// ordinary upload session (202), as the OCI spec allows — otherwise the
// blob can then be read from team/…, outside the user's prefixes.
func TestAuthPrefixes(t *testing.T) {
	t.Parallel()
	abRequireShadowreg(t)
	srv, _ := abStart(t, abAuthYAML("none",
		abUser{Name: "zuul", Password: "zuul-pass", Access: "write"},
		abUser{Name: "team", Password: "team-pass", Access: "write", Prefixes: []string{"team"}}), "")
	zuul := abClient(t, srv.URL, "zuul", "zuul-pass", "")
	team := abClient(t, srv.URL, "team", "team-pass", "")
	secret := []byte("a layer of secret/app that user team must not read\n")
	d := zuul.pushBlob("secret/app", secret)
	zuul.pushContent("secret/app", "1", abImg(t, 951))
	zuul.pushContent("team/app", "1", abImg(t, 952))

	env := clientEnv(t)
	runTool(t, clientTimeout, env, "crane", "auth", "login", srv.Addr, "-u", "team", "-p", "team-pass")
	if got := strings.Fields(runTool(t, clientTimeout, env, "crane", "catalog", "--insecure", srv.Addr)); !slices.Equal(got, []string{"team/app"}) {
		t.Errorf("crane catalog as team: %v, want [team/app]", got)
	}

	if r := team.getBlob("secret/app", d); r.Status != http.StatusForbidden {
		t.Errorf("team: GET /v2/secret/app/blobs/%s = %s, want 403", d, r)
	}
	if r := team.must("POST", "/v2/team/x/blobs/uploads/?mount="+d+"&from=secret/app", nil, nil); r.Status != http.StatusForbidden {
		t.Errorf("team: mount from secret/app = %s, want 403", r)
	}
	r := team.must("POST", "/v2/team/x/blobs/uploads/?mount="+d, nil, nil)
	if r.Status == http.StatusCreated {
		t.Errorf("team: POST /v2/team/x/blobs/uploads/?mount=%s (no from) = 201 Created: the blob of secret/app was mounted into team/x; want 202 (an upload session) or 403", d)
	}
	if g := team.getBlob("team/x", d); g.Status == http.StatusOK {
		t.Errorf("team: GET /v2/team/x/blobs/%s = 200 %q: user team read a blob outside its prefixes", d, g.Body)
	}
}
