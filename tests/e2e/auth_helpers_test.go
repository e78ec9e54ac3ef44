package e2e

// Helpers of the auth, TLS, buildset and prune tests (auth_*_test.go,
// tls_test.go, buildset_*_test.go, prune_test.go). Every name here starts
// with "ab" so that it cannot collide with helpers other test files add.

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// abCLITimeout bounds one run of the shadowreg command line.
const abCLITimeout = 60 * time.Second

// abRequireShadowreg skips tests of shadowreg's own features (auth, TLS,
// buildsets, prune) when the suite runs against the reference registry.
func abRequireShadowreg(t *testing.T) {
	t.Helper()
	if isReference() {
		t.Skip("shadowreg's own feature: not applicable to the reference registry")
	}
	if setupErr != nil {
		t.Fatalf("cannot start the server: %v", setupErr)
	}
}

// abStart starts shadowreg on a free 127.0.0.1 port with a fresh data
// directory and the configuration yamlBody (listen and data-dir are added).
// It is ready when GET /healthz answers 200: with auth, GET /v2/ answers
// 401, which startServer would wait on forever. With caFile the server
// speaks HTTPS (yamlBody names tls-cert and tls-key) and Server.URL is
// https://…. "{{PORT}}" in yamlBody is replaced by the port. Like startServer's, the server is stopped with SIGTERM at
// cleanup and its log printed when the test failed. (Restart would wait
// for GET /v2/ over HTTP: do not use it on these servers.)
func abStart(t *testing.T, yamlBody, caFile string) (*Server, string) {
	t.Helper()
	abRequireShadowreg(t)
	s := &Server{t: t, DataDir: t.TempDir(), logs: &syncBuffer{}}
	cfgPath := filepath.Join(t.TempDir(), "shadowreg.yaml")
	hc := &http.Client{Timeout: 2 * time.Second}
	scheme := "http"
	if caFile != "" {
		scheme = "https"
		hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: abCertPool(t, caFile)}}
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("free port: %v", err)
		}
		s.Addr = fmt.Sprintf("127.0.0.1:%d", port)
		s.URL = scheme + "://" + s.Addr
		body := strings.ReplaceAll(yamlBody, "{{PORT}}", fmt.Sprint(port))
		cfg := fmt.Sprintf("listen: %s\ndata-dir: %s\n%s\n", s.Addr, s.DataDir, body)
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		s.args = []string{"--config", cfgPath}
		if lastErr = abStartProcess(s, hc); lastErr == nil {
			break
		}
		if !strings.Contains(s.logs.String(), "address already in use") {
			break
		}
	}
	if lastErr != nil {
		s.dumpLogs()
		t.Fatalf("starting shadowreg: %v", lastErr)
	}
	t.Cleanup(s.cleanup)
	return s, cfgPath
}

// abStartProcess is Server.start with readiness on /healthz.
func abStartProcess(s *Server, hc *http.Client) error {
	done, err := s.spawn()
	if err != nil {
		return err
	}
	deadline := time.Now().Add(readyTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return fmt.Errorf("server exited before it was ready: %v", s.exitErr())
		default:
		}
		if resp, err := hc.Get(s.URL + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	s.signal(syscall.SIGKILL)
	return fmt.Errorf("GET /healthz did not answer 200 within %v", readyTimeout)
}

func abCertPool(t testing.TB, caFile string) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("%s holds no PEM certificate", caFile)
	}
	return pool
}

// abUser is one entry of auth.users.
type abUser struct {
	Name, Password, Access string
	Prefixes               []string
}

// abAuthYAML is an auth section: anonymous "none" or "read".
func abAuthYAML(anonymous string, users ...abUser) string {
	var b strings.Builder
	fmt.Fprintf(&b, "auth:\n  secret: e2e-secret-that-is-long-enough\n  anonymous: %s\n  users:\n", anonymous)
	for _, u := range users {
		key := "plain-password" // shadowreg takes a password in clear only when told so
		if strings.HasPrefix(u.Password, "$2") {
			key = "password"
		}
		fmt.Fprintf(&b, "    - {name: %q, %s: %q, access: %s", u.Name, key, u.Password, u.Access)
		if len(u.Prefixes) > 0 {
			q := make([]string, len(u.Prefixes))
			for i, p := range u.Prefixes {
				q[i] = fmt.Sprintf("%q", p)
			}
			fmt.Fprintf(&b, ", prefixes: [%s]", strings.Join(q, ", "))
		}
		b.WriteString("}\n")
	}
	return b.String()
}

// abBasic is an http.RoundTripper that sends Basic credentials with every
// request (shadowreg accepts them straight on /v2/).
type abBasic struct {
	user, pass string
	next       http.RoundTripper
}

func (b abBasic) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.SetBasicAuth(b.user, b.pass)
	return b.next.RoundTrip(r)
}

// abClient is a regClient for base (a registry's URL) that sends Basic
// credentials when user is not empty and trusts caFile when given.
func abClient(t testing.TB, base, user, pass, caFile string) *regClient {
	tr := &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true}
	if caFile != "" {
		tr.TLSClientConfig = &tls.Config{RootCAs: abCertPool(t, caFile)}
	}
	var rt http.RoundTripper = tr
	if user != "" {
		rt = abBasic{user: user, pass: pass, next: tr}
	}
	return &regClient{t: t, base: base, hc: &http.Client{Timeout: 2 * time.Minute, Transport: rt}}
}

// abCLI runs the shadowreg command line and fails the test when it fails.
func abCLI(t testing.TB, env []string, args ...string) string {
	t.Helper()
	return runTool(t, abCLITimeout, env, serverBin, args...)
}

// abTryCLI runs the shadowreg command line and returns its result.
func abTryCLI(t testing.TB, env []string, args ...string) toolResult {
	t.Helper()
	return tryTool(t, abCLITimeout, env, serverBin, args...)
}

// abAdmin holds how the buildset and prune commands reach a server.
type abAdmin struct {
	t    *testing.T
	args []string // --server … --username …
	env  []string // SHADOWREG_PASSWORD=…
}

func newABAdmin(t *testing.T, srv *Server, user, pass string, extra ...string) *abAdmin {
	a := &abAdmin{t: t, args: append([]string{"--server", srv.URL}, extra...), env: clientEnv(t)}
	if user != "" {
		a.args = append(a.args, "--username", user)
		a.env = append(a.env, "SHADOWREG_PASSWORD="+pass)
	}
	return a
}

// run runs `shadowreg <cmd…> <server flags>`.
func (a *abAdmin) run(args ...string) string {
	a.t.Helper()
	return abCLI(a.t, a.env, append(args, a.args...)...)
}

func (a *abAdmin) try(args ...string) toolResult {
	a.t.Helper()
	return abTryCLI(a.t, a.env, append(args, a.args...)...)
}

// abBuildset is what `buildset create/list/show -o json` print.
type abBuildset struct {
	ID       string     `json:"id"`
	Parents  []string   `json:"parents"`
	Created  time.Time  `json:"created"`
	Expires  *time.Time `json:"expires"`
	Expired  bool       `json:"expired"`
	Promoted *time.Time `json:"promoted"`
	Quota    int64      `json:"quota"`
	Size     int64      `json:"size"`
	AgeSecs  int64      `json:"ageSeconds"`
	Areas    []string   `json:"areas"`
	Username string     `json:"username"`
	Password string     `json:"password"`
}

// create runs `buildset create ID extra… -o json` and returns the buildset
// with its credentials.
func (a *abAdmin) create(id string, extra ...string) abBuildset {
	a.t.Helper()
	out := a.run(append(append([]string{"buildset", "create", id}, extra...), "-o", "json")...)
	var b abBuildset
	if err := json.Unmarshal([]byte(out), &b); err != nil {
		a.t.Fatalf("buildset create %s -o json: %v\n%s", id, err, out)
	}
	if b.ID != id || b.Username != "buildset-"+id || b.Password == "" {
		a.t.Fatalf("buildset create %s printed id %q, username %q, password set %v; want %s, buildset-%s and a password", id, b.ID, b.Username, b.Password != "", id, id)
	}
	return b
}

func (a *abAdmin) list() []abBuildset {
	a.t.Helper()
	out := a.run("buildset", "list", "-o", "json")
	var all []abBuildset
	if err := json.Unmarshal([]byte(out), &all); err != nil {
		a.t.Fatalf("buildset list -o json: %v\n%s", err, out)
	}
	return all
}

// abPruneReport is what `prune -o json` prints.
type abPruneReport struct {
	DryRun      bool     `json:"dryRun"`
	Areas       []string `json:"areas"`
	Uploads     int      `json:"uploads"`
	UploadBytes int64    `json:"uploadBytes"`
	CacheLinks  int      `json:"cacheLinks"`
	Blobs       int      `json:"blobs"`
	BlobBytes   int64    `json:"blobBytes"`
	TempFiles   int      `json:"tempFiles"`
	FreedBytes  int64    `json:"freedBytes"`
}

func abParsePrune(t testing.TB, out string) abPruneReport {
	t.Helper()
	var r abPruneReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("prune -o json: %v\n%s", err, out)
	}
	return r
}

// abDirStats counts the regular files under dir and their bytes (0, 0 when
// dir does not exist).
func abDirStats(t testing.TB, dir string) (files int, bytes int64) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				if os.IsNotExist(err) {
					return nil
				}
				return err
			}
			files++
			bytes += fi.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files, bytes
}

// abAuth is the "auth" value of a docker config.json or containers
// auth.json entry.
func abAuth(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
}

// abWriteAuths writes {"auths": {server: {"auth": …}}} to path.
func abWriteAuths(t testing.TB, path string, creds map[string][2]string) {
	t.Helper()
	auths := map[string]map[string]string{}
	for server, up := range creds {
		auths[server] = map[string]string{"auth": abAuth(up[0], up[1])}
	}
	b, _ := json.MarshalIndent(map[string]any{"auths": auths}, "", "  ")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// abEnvValue returns the value of key in env (the last one wins).
func abEnvValue(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val
		}
	}
	return v
}

// abUpstream runs go-containerregistry's in-memory registry on 127.0.0.1
// in the test process: an upstream (docker.io) that shadowreg falls
// through to. It returns its URL and a client for it.
func abUpstream(t *testing.T) (string, *regClient) {
	t.Helper()
	up := abUpstreamServer(t)
	return up.URL, &regClient{t: t, base: up.URL, hc: &http.Client{Timeout: time.Minute}}
}

// abUpstreamServer is abUpstream's server, for tests that stop it.
func abUpstreamServer(t *testing.T) *httptest.Server {
	t.Helper()
	up := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(up.Close)
	return up
}

// abConfigID returns the hex of an image's config digest: the image ID
// podman prints, and docker's without "sha256:".
func abConfigID(t testing.TB, img v1.Image) string {
	t.Helper()
	h, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	return h.Hex
}

// abShortTempDir is a temp dir with a short path (unix socket and podman
// run root limits), removed at cleanup.
func abShortTempDir(t *testing.T, prefix string) string {
	t.Helper()
	d, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// abPodman returns a function running podman with isolated storage (pull
// only, see tools.md) in env.
func abPodman(t *testing.T, env []string) func(args ...string) toolResult {
	t.Helper()
	requireTool(t, "podman")
	dir := t.TempDir()
	short := abShortTempDir(t, "e2epd")
	return func(args ...string) toolResult {
		t.Helper()
		global := []string{
			"--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(short, "run"),
			"--storage-driver", "vfs", "--cgroup-manager=cgroupfs", "--events-backend=file",
			"--tmpdir", filepath.Join(short, "tmp"),
		}
		return tryTool(t, clientTimeout, env, "podman", append(global, args...)...)
	}
}
