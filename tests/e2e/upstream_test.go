package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/crypto/bcrypt"
)

// upstreamRegistry is the reference registry (distribution v3,
// $SHADOWREG_TOOLS/registry) run on 127.0.0.1 as a stand-in for an upstream
// such as docker.io or quay.io, optionally behind htpasswd Basic auth. Its
// access log (one line per request) tells what shadowreg asked of it.
type upstreamRegistry struct {
	t        testing.TB
	Addr     string // 127.0.0.1:PORT
	URL      string // http://127.0.0.1:PORT
	DataDir  string
	User     string // with Password: htpasswd Basic auth; "" = open
	Password string
	cfgPath  string
	logs     *syncBuffer // stdout: the access log
	errLogs  *syncBuffer // stderr: the registry's own log

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
	stopped bool
}

// upstreamOptions configures startUpstream.
type upstreamOptions struct {
	// User and Password put the registry behind htpasswd Basic auth.
	User, Password string
}

// startUpstream starts the reference registry on a free port with its own
// storage, and stops it at cleanup (its log is printed when the test fails).
func startUpstream(t testing.TB, opts upstreamOptions) *upstreamRegistry {
	t.Helper()
	bin := filepath.Join(toolsDir, "registry")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("reference registry not found at %s: install it with `tools/install.sh registry` (or set SHADOWREG_TOOLS)", bin)
	}
	dir := t.TempDir()
	u := &upstreamRegistry{t: t, DataDir: filepath.Join(dir, "storage"), User: opts.User, Password: opts.Password,
		cfgPath: filepath.Join(dir, "config.yml"), logs: &syncBuffer{}, errLogs: &syncBuffer{}}
	authCfg := ""
	if opts.User != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(opts.Password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		htpasswd := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(htpasswd, []byte(opts.User+":"+string(hash)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		authCfg = fmt.Sprintf("auth:\n  htpasswd:\n    realm: e2e-upstream\n    path: %s\n", htpasswd)
	}
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		port, perr := freePort()
		if perr != nil {
			t.Fatal(perr)
		}
		u.Addr = fmt.Sprintf("127.0.0.1:%d", port)
		u.URL = "http://" + u.Addr
		cfg := fmt.Sprintf(`version: 0.1
log:
  level: warn
  formatter: text
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %s
  secret: e2e-upstream-secret
  draintimeout: 2s
%s`, u.DataDir, u.Addr, authCfg)
		if err := os.WriteFile(u.cfgPath, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		if err = u.start(bin); err == nil {
			break
		}
		if !strings.Contains(u.errLogs.String(), "address already in use") {
			break
		}
	}
	if err != nil {
		t.Fatalf("starting the reference registry: %v\n%s", err, clip(u.errLogs.String()))
	}
	t.Cleanup(func() {
		u.Stop()
		if t.Failed() {
			t.Logf("upstream %s (reference registry) access log:\n%s\nits log:\n%s", u.URL, clip(u.logs.String()), clip(u.errLogs.String()))
		}
	})
	return u
}

func (u *upstreamRegistry) start(bin string) error {
	cmd := exec.Command(bin, "serve", u.cfgPath)
	cmd.Env = append(os.Environ(), "OTEL_TRACES_EXPORTER=none")
	cmd.Stdout, cmd.Stderr = u.logs, u.errLogs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	u.mu.Lock()
	u.cmd, u.done, u.stopped = cmd, done, false
	u.mu.Unlock()
	go func() { cmd.Wait(); close(done) }()
	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(readyTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return fmt.Errorf("the reference registry exited before it was ready")
		default:
		}
		if resp, err := hc.Get(u.URL + "/v2/"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return nil
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	<-done
	return fmt.Errorf("GET /v2/ did not answer within %v", readyTimeout)
}

// Stop ends the registry (SIGTERM, SIGKILL after 10s) and waits for it: the
// upstream is down from then on.
func (u *upstreamRegistry) Stop() { u.signal(syscall.SIGTERM) }

// Kill ends the registry with SIGKILL.
func (u *upstreamRegistry) Kill() { u.signal(syscall.SIGKILL) }

func (u *upstreamRegistry) signal(sig syscall.Signal) {
	u.mu.Lock()
	cmd, done := u.cmd, u.done
	u.stopped = true
	u.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// accessEntry is one line of the access log.
type accessEntry struct {
	Method string
	Path   string // with the query, as requested
	Status int
}

// combined log format: 127.0.0.1 - - [date] "GET /v2/ HTTP/1.1" 200 2 "" "ua"
var accessLineRE = regexp.MustCompile(`(?m)^\S+ \S+ \S+ \[[^\]]*\] "([A-Z]+) (\S+) HTTP/[0-9.]+" ([0-9]{3}) `)

// Requests returns every request the registry logged so far. A line is
// logged when its response ends: call settle first to count a finished
// exchange.
func (u *upstreamRegistry) Requests() []accessEntry {
	var out []accessEntry
	for _, m := range accessLineRE.FindAllStringSubmatch(u.logs.String(), -1) {
		st, _ := strconv.Atoi(m[3])
		out = append(out, accessEntry{Method: m[1], Path: m[2], Status: st})
	}
	return out
}

// settle waits until the access log has not grown for 300ms (at most 5s),
// so that the lines of requests that just ended are in.
func (u *upstreamRegistry) settle() {
	last, stable := -1, time.Now()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		n := len(u.Requests())
		if n != last {
			last, stable = n, time.Now()
			continue
		}
		if time.Since(stable) >= 300*time.Millisecond {
			return
		}
	}
}

// count counts the requests with method whose path (without the query) is
// path, leaving out the 401 challenges of Basic auth.
func (u *upstreamRegistry) count(method, path string) int { return u.countSince(0, method, path) }

// countSince is count over the requests logged after the first mark.
func (u *upstreamRegistry) countSince(mark int, method, path string) int {
	n := 0
	for _, e := range u.requestsSince(mark) {
		p, _, _ := strings.Cut(e.Path, "?")
		if e.Method == method && p == path && e.Status != http.StatusUnauthorized {
			n++
		}
	}
	return n
}

// requestsSince returns the requests logged after the first n.
func (u *upstreamRegistry) requestsSince(n int) []accessEntry {
	all := u.Requests()
	if n > len(all) {
		return nil
	}
	return all[n:]
}

// remoteOptions are go-containerregistry options to talk to the registry
// as its user.
func (u *upstreamRegistry) remoteOptions() []remote.Option {
	if u.User == "" {
		return []remote.Option{remote.WithAuth(authn.Anonymous)}
	}
	return []remote.Option{remote.WithAuth(&authn.Basic{Username: u.User, Password: u.Password})}
}

// push writes an image or index into the registry as repo:tag (blobs, then
// manifests, byte for byte) and returns the top manifest's digest.
func (u *upstreamRegistry) push(repo, tag string, v any) string {
	u.t.Helper()
	ref, err := name.NewTag(u.Addr+"/"+repo+":"+tag, name.Insecure)
	if err != nil {
		u.t.Fatal(err)
	}
	switch x := v.(type) {
	case v1.Image:
		err = remote.Write(ref, x, u.remoteOptions()...)
	case v1.ImageIndex:
		err = remote.WriteIndex(ref, x, u.remoteOptions()...)
	default:
		u.t.Fatalf("upstreamRegistry.push: %T", v)
	}
	if err != nil {
		u.t.Fatalf("pushing %s into the upstream: %v", ref, err)
	}
	return manifestDigest(u.t, v.(interface{ RawManifest() ([]byte, error) }))
}
