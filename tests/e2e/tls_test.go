package e2e

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// TestTLSWithGeneratedCA makes a CA and a server certificate with
// `shadowreg cert`, serves HTTPS with them, public-url and auth on (a user whose password
// is a bcrypt hash as htpasswd writes it, and a plain-text read user), and
// checks that clients verify the certificate with that CA alone, without any
// --tls-verify=false: skopeo with --cert-dir / --dest-cert-dir /
// --src-cert-dir, crane with SSL_CERT_FILE, and the shadowreg admin CLI
// with --ca-file. Without the CA each of them fails with an x509 error.
func TestTLSWithGeneratedCA(t *testing.T) {
	t.Parallel()
	abRequireShadowreg(t)
	sk := newSkopeo(t)
	requireTool(t, "crane")

	dir := t.TempDir()
	out, certDir := filepath.Join(dir, "out"), filepath.Join(dir, "certs")
	printed := abCLI(t, nil, "cert", "--host", "localhost", "--host", "127.0.0.1", "--out", out, "--cert-dir", certDir)
	for _, f := range []string{"ca.crt", "ca.key", "server.crt", "server.key"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Fatalf("shadowreg cert did not write %s: %v\n%s", f, err, printed)
		}
	}
	caFile := filepath.Join(out, "ca.crt")
	ca, _ := os.ReadFile(caFile)
	if got, err := os.ReadFile(filepath.Join(certDir, "ca.crt")); err != nil || !bytes.Equal(got, ca) {
		t.Fatalf("--cert-dir %s: ca.crt missing or not the CA (%v)", certDir, err)
	}
	if entries, _ := os.ReadDir(certDir); len(entries) != 1 {
		t.Errorf("--cert-dir %s holds %d files, want only ca.crt (skopeo would take any other *.crt/*.key for client certificates)", certDir, len(entries))
	}

	// htpasswd -B writes $2y$ hashes; Go writes $2a$ ones: same algorithm.
	hash, err := bcrypt.GenerateFromPassword([]byte("zuul-tls-pass"), bcrypt.DefaultCost)
	if err != nil {
		t.Fatal(err)
	}
	bcryptHash := "$2y$" + strings.TrimPrefix(string(hash), "$2a$")
	// public-url names the host name (in the certificate): clients reach
	// the registry by IP and fetch their tokens by name.
	cfg := "public-url: https://localhost:{{PORT}}\n" + "tls-cert: " + filepath.Join(out, "server.crt") + "\ntls-key: " + filepath.Join(out, "server.key") + "\n" +
		abAuthYAML("none",
			abUser{Name: "zuul", Password: bcryptHash, Access: "write"},
			abUser{Name: "reader", Password: "reader-pass", Access: "read"})
	srv, _ := abStart(t, cfg, caFile)
	port := strings.TrimPrefix(srv.Addr, "127.0.0.1:")

	// The challenge sends clients to public-url's token endpoint.
	anon := abClient(t, srv.URL, "", "", caFile)
	if r := anon.must("GET", "/v2/", nil, nil); r.Status != http.StatusUnauthorized ||
		!strings.Contains(r.Header.Get("WWW-Authenticate"), `realm="https://localhost:`+port+`/auth/token"`) {
		t.Errorf("GET /v2/ without credentials: %d, WWW-Authenticate %q; want 401 with realm https://localhost:%s/auth/token",
			r.Status, r.Header.Get("WWW-Authenticate"), port)
	}

	img := newImage(t, formatOCI, 2, 48<<10, "linux/amd64", 901)
	want := collectContent(t, img)
	dg := manifestDigest(t, img)
	src := filepath.Join(t.TempDir(), "src")
	writeLayout(t, src, map[string]any{"img": img})

	// skopeo: push with the bcrypt user, verifying the server with the CA.
	sk.run("copy", "--dest-cert-dir", certDir, "--dest-creds", "zuul:zuul-tls-pass",
		"oci:"+src+":img", "docker://"+srv.Ref("tls/app:1"))
	// Read back as the read user, by IP and by host name (both in the SANs).
	for _, host := range []string{srv.Addr, "localhost:" + port} {
		raw := sk.run("inspect", "--raw", "--cert-dir", certDir, "--creds", "reader:reader-pass", "docker://"+host+"/tls/app:1")
		if got := sha256Digest([]byte(raw)); got != dg {
			t.Errorf("skopeo inspect --raw %s/tls/app:1: digest %s, want %s", host, got, dg)
		}
	}
	dst := filepath.Join(t.TempDir(), "dst")
	sk.run("copy", "--src-cert-dir", certDir, "--src-creds", "reader:reader-pass",
		"docker://"+srv.Ref("tls/app:1"), "oci:"+dst+":back")
	verifyLayoutHas(t, dst, "back", dg, want)
	abClient(t, srv.URL, "reader", "reader-pass", caFile).expectContent("tls/app", want)

	// Without the CA: an x509 error, not a silent fallback to plain HTTP.
	r := tryTool(t, skopeoTimeout, sk.env, "skopeo", append(append([]string{}, sk.global...),
		"inspect", "--raw", "--creds", "reader:reader-pass", "docker://"+srv.Ref("tls/app:1"))...)
	if r.Err == nil || !strings.Contains(r.Stderr, "x509") {
		t.Errorf("skopeo inspect without the CA: err %v, stderr %q; want a failure naming x509", r.Err, clip(r.Stderr))
	}
	// The bcrypt user with a wrong password is refused.
	r = tryTool(t, skopeoTimeout, sk.env, "skopeo", append(append([]string{}, sk.global...),
		"inspect", "--raw", "--cert-dir", certDir, "--creds", "zuul:wrong-pass", "docker://"+srv.Ref("tls/app:1"))...)
	if r.Err == nil || !strings.Contains(strings.ToLower(r.Stderr), "unauthorized") {
		t.Errorf("skopeo inspect with a wrong bcrypt password: err %v, stderr %q; want unauthorized", r.Err, clip(r.Stderr))
	}

	// crane trusts the CA through SSL_CERT_FILE (Go's crypto/x509).
	env := clientEnv(t)
	withCA := append(append([]string{}, env...), "SSL_CERT_FILE="+caFile)
	runTool(t, clientTimeout, withCA, "crane", "auth", "login", srv.Addr, "-u", "zuul", "-p", "zuul-tls-pass")
	cimg := newImage(t, formatOCI, 1, 32<<10, "linux/amd64", 902)
	clay := filepath.Join(t.TempDir(), "crane")
	writeLayout(t, clay, map[string]any{"x": cimg})
	pushed := strings.TrimSpace(runTool(t, clientTimeout, withCA, "crane", "push", clay, srv.Ref("tls/crane:1")))
	if cdg := manifestDigest(t, cimg); !strings.HasSuffix(pushed, "@"+cdg) {
		t.Errorf("crane push over TLS printed %q, want …@%s", pushed, cdg)
	}
	if got := strings.TrimSpace(runTool(t, clientTimeout, withCA, "crane", "digest", srv.Ref("tls/app:1"))); got != dg {
		t.Errorf("crane digest over TLS: %s, want %s", got, dg)
	}
	r = tryTool(t, clientTimeout, env, "crane", "digest", srv.Ref("tls/app:1"))
	if r.Err == nil || !strings.Contains(r.Stderr, "x509") {
		t.Errorf("crane without SSL_CERT_FILE: err %v, stderr %q; want an x509 error", r.Err, clip(r.Stderr))
	}

	// The admin CLI over HTTPS: --ca-file, and an x509 error without it.
	adm := newABAdmin(t, srv, "zuul", "zuul-tls-pass", "--ca-file", caFile)
	adm.create("tls-bs", "--ttl", "1h")
	if all := adm.list(); len(all) != 1 || all[0].ID != "tls-bs" {
		t.Errorf("buildset list over TLS: %+v, want tls-bs", all)
	}
	noCA := newABAdmin(t, srv, "zuul", "zuul-tls-pass")
	if r := noCA.try("buildset", "list"); r.Err == nil || !strings.Contains(r.Stderr, "x509") {
		t.Errorf("buildset list without --ca-file: err %v, stderr %q; want an x509 error", r.Err, clip(r.Stderr))
	}
}

// TestTLSInstallCADockerPodman: `shadowreg cert --install-ca 127.0.0.1:PORT`
// (signing with the CA the server's certificate came from) installs the CA
// where docker and podman look (/etc/docker/certs.d/<host:port>/ca.crt,
// /etc/containers/certs.d/<host:port>/ca.crt); then podman pulls without
// --tls-verify=false (before the install: an x509 error), and a dockerd
// without an insecure-registries entry for the registry logs in, pushes,
// pulls, and pulls through its https registry mirror. (dockerd always treats
// 127.0.0.0/8 as insecure — it still speaks HTTPS but skips verification —
// so on loopback this shows docker works over HTTPS, not that it verifies.)
// The two per-port folders are removed at the end.
func TestTLSInstallCADockerPodman(t *testing.T) {
	t.Parallel()
	abRequireShadowreg(t)
	if os.Geteuid() != 0 {
		t.Skip("--install-ca writes under /etc: needs root")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	abCLI(t, nil, "cert", "--host", "localhost", "--host", "127.0.0.1", "--out", out)
	caFile := filepath.Join(out, "ca.crt")
	cfg := "tls-cert: " + filepath.Join(out, "server.crt") + "\ntls-key: " + filepath.Join(out, "server.key") + "\n" +
		abAuthYAML("read", abUser{Name: "zuul", Password: "zuul-pass", Access: "write"})
	srv, _ := abStart(t, cfg, caFile)
	zuul := abClient(t, srv.URL, "zuul", "zuul-pass", caFile)
	for _, d := range []string{"/etc/docker/certs.d/" + srv.Addr, "/etc/containers/certs.d/" + srv.Addr} {
		if _, err := os.Stat(d); err == nil {
			t.Fatalf("%s exists already: not touching it", d)
		}
		_, parentErr := os.Stat(filepath.Dir(d))
		t.Cleanup(func() {
			os.RemoveAll(d)
			if os.IsNotExist(parentErr) {
				os.Remove(filepath.Dir(d)) // only if empty: other ports may be in use
			}
		})
	}

	bb := busyboxImage(t)
	bbDigest := zuul.pushContent("tls/busybox", "1", bb)
	app := abImg(t, 1501)
	appDigest := zuul.pushContent("docker.io/org/app", "1", app)

	// dockerd with the registry as an https mirror and no insecure entry
	// (startDockerd marks its server's Addr insecure: give it another).
	env := startDockerd(t, &Server{URL: srv.URL, Addr: "127.0.0.2:9"})
	// podman verifies: without the CA, an x509 error.
	podman := abPodman(t, clientEnv(t))
	if r := podman("pull", "--quiet", "--creds", "zuul:zuul-pass", srv.Ref("tls/busybox:1")); r.Err == nil || !strings.Contains(r.Stderr, "x509") {
		t.Errorf("podman pull before the CA is installed: err %v, %q; want an x509 error", r.Err, clip(r.Stderr))
	}

	printed := abCLI(t, nil, "cert", "--ca-cert", caFile, "--ca-key", filepath.Join(out, "ca.key"),
		"--host", "127.0.0.1", "--out", filepath.Join(dir, "again"), "--install-ca", srv.Addr)
	for _, p := range []string{"/etc/docker/certs.d/" + srv.Addr + "/ca.crt", "/etc/containers/certs.d/" + srv.Addr + "/ca.crt"} {
		if got, err := os.ReadFile(p); err != nil || !bytes.Equal(got, abMustRead(t, caFile)) {
			t.Fatalf("--install-ca %s: %s is not the CA (%v)\n%s", srv.Addr, p, err, printed)
		}
	}

	mustDocker := func(args ...string) string {
		t.Helper()
		return strings.TrimSpace(runTool(t, clientTimeout, env, "docker", args...))
	}
	mustDocker("login", srv.Addr, "-u", "zuul", "-p", "zuul-pass")
	ref := srv.Ref("tls/busybox:1")
	mustDocker("pull", ref)
	if rd := mustDocker("image", "inspect", "--format", "{{json .RepoDigests}}", ref); !strings.Contains(rd, bbDigest) {
		t.Errorf("docker pull %s over TLS: RepoDigests %s, want %s", ref, rd, bbDigest)
	}
	pushed := srv.Ref("tls/docker-pushed:1")
	mustDocker("tag", ref, pushed)
	if out := mustDocker("push", pushed); !strings.Contains(out, "digest: sha256:") {
		t.Errorf("docker push over TLS printed no digest:\n%s", out)
	}
	if r := zuul.getManifest("tls/docker-pushed", "1"); r.Status != http.StatusOK {
		t.Errorf("the image docker pushed over TLS: %s", r)
	}
	mustDocker("pull", "org/app:1") // through the https mirror
	if rd := mustDocker("image", "inspect", "--format", "{{json .RepoDigests}}", "org/app:1"); !strings.Contains(rd, appDigest) {
		t.Errorf("docker pull org/app:1 through the https mirror: RepoDigests %s, want %s", rd, appDigest)
	}

	// podman reads /etc/containers/certs.d/<host:port>/ca.crt.
	r := podman("pull", "--quiet", "--creds", "zuul:zuul-pass", srv.Ref("tls/busybox:1"))
	if r.Err != nil {
		t.Fatalf("podman pull over TLS with the installed CA: %v\n%s", r.Err, clip(r.Stderr))
	}
	if id := strings.TrimSpace(r.Stdout); id != abConfigID(t, bb) {
		t.Errorf("podman pull over TLS: image ID %s, want %s", id, abConfigID(t, bb))
	}
}

func abMustRead(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
