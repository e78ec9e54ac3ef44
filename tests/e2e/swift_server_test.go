package e2e

// Helpers of the Swift end-to-end tests (swift_*_test.go): a real OpenStack
// Swift started through tools/swift.sh, shadowreg configured with
// storage.driver: swift on it, and a look straight into the container.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	swiftContainer    = "shadowreg-e2e"
	swiftStartTimeout = 90 * time.Second // tools/swift.sh waits up to 30 s for the proxy
	swiftStopTimeout  = 60 * time.Second
	// swiftSegment is the segment size of the e2e servers: small, so that
	// large objects (segments plus a manifest) are exercised with little data.
	swiftSegment = 8 << 20
)

// swiftServer is one Swift (four servers and memcached) run by tools/swift.sh
// in its own folder.
type swiftServer struct {
	Dir        string
	AuthURL    string
	User, Key  string
	Container  string
	StorageURL string
}

// swiftScript runs tools/swift.sh with a bounded time; Swift stops by itself
// when this test process ends (SWIFT_WATCH_PID). A missing Swift fails it.
func swiftScript(timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(repoRoot, "tools", "swift.sh"), args...)
	cmd.Env = append(os.Environ(), "SWIFT_NO_INSTALL=1", "SWIFT_WATCH_PID="+strconv.Itoa(os.Getpid()))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %v: %w", timeout, err)
	}
	if err != nil {
		return stdout.String(), fmt.Errorf("tools/swift.sh %s (tools/install.sh swift installs Swift): %v\n%s%s",
			strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

func launchSwift(dir string) (*swiftServer, error) {
	out, err := swiftScript(swiftStartTimeout, "start", dir, swiftContainer)
	if err != nil {
		return nil, err
	}
	env := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			env[k] = v
		}
	}
	for _, k := range []string{"SWIFT_AUTH_URL", "SWIFT_USER", "SWIFT_KEY", "SWIFT_CONTAINER", "SWIFT_STORAGE_URL"} {
		if env[k] == "" {
			return nil, fmt.Errorf("tools/swift.sh start printed no %s:\n%s", k, out)
		}
	}
	return &swiftServer{Dir: dir, AuthURL: env["SWIFT_AUTH_URL"], User: env["SWIFT_USER"], Key: env["SWIFT_KEY"],
		Container: env["SWIFT_CONTAINER"], StorageURL: env["SWIFT_STORAGE_URL"]}, nil
}

// newSwift starts a Swift of the test's own (for tests that stop it).
func newSwift(t testing.TB) *swiftServer {
	t.Helper()
	dir := t.TempDir()
	s, err := launchSwift(dir)
	t.Cleanup(func() {
		if _, err := swiftScript(swiftStopTimeout, "stop", dir); err != nil {
			t.Errorf("stopping Swift: %v", err)
		}
	})
	if err != nil {
		t.Fatalf("starting Swift: %v", err)
	}
	return s
}

// KillProxy stops the proxy server (the storage servers keep running):
// Swift is unreachable. Revive starts it again.
func (s *swiftServer) KillProxy(t testing.TB) {
	t.Helper()
	if _, err := swiftScript(swiftStopTimeout, "kill", s.Dir); err != nil {
		t.Fatal(err)
	}
}

func (s *swiftServer) Revive(t testing.TB) {
	t.Helper()
	if _, err := swiftScript(swiftStartTimeout, "revive", s.Dir); err != nil {
		t.Fatal(err)
	}
}

var sharedSwiftState struct {
	mu   sync.Mutex
	refs int
	s    *swiftServer
}

// sharedSwift returns the Swift of the tests that never stop it, started by
// the first of them and stopped when the last one ends. Each test keeps its
// data under a prefix of its own.
func sharedSwift(t testing.TB) *swiftServer {
	t.Helper()
	sharedSwiftState.mu.Lock()
	defer sharedSwiftState.mu.Unlock()
	if sharedSwiftState.refs == 0 {
		dir, err := os.MkdirTemp("", "shadowreg-e2e-swift-")
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		s, err := launchSwift(dir)
		if err != nil {
			_, _ = swiftScript(swiftStopTimeout, "stop", dir)
			os.RemoveAll(dir)
			t.Fatalf("starting Swift: %v", err)
		}
		t.Logf("Swift started at %s in %.1fs (%s)", s.AuthURL, time.Since(start).Seconds(), dir)
		sharedSwiftState.s = s
	}
	sharedSwiftState.refs++
	s := sharedSwiftState.s
	t.Cleanup(func() {
		sharedSwiftState.mu.Lock()
		defer sharedSwiftState.mu.Unlock()
		sharedSwiftState.refs--
		if sharedSwiftState.refs > 0 {
			return
		}
		if _, err := swiftScript(swiftStopTimeout, "stop", s.Dir); err != nil {
			t.Errorf("stopping Swift: %v", err)
		}
		os.RemoveAll(s.Dir)
		sharedSwiftState.s = nil
	})
	return s
}

type swiftOptions struct {
	Prefix   string
	Redirect bool
	GC       string // the gc: section's lines, "" for off
}

// swiftStorage is the storage: section of a configuration on s.
func swiftStorage(s *swiftServer, o swiftOptions) string {
	var b strings.Builder
	fmt.Fprintf(&b, "storage:\n  driver: swift\n  swift:\n")
	fmt.Fprintf(&b, "    auth-url: %q\n    username: %q\n    password: %q\n", s.AuthURL, s.User, s.Key)
	// One replica on loopback updates listings within the PUT; a short lag
	// keeps the collector's wait (TestCollectorWaitsForListingLag tests it)
	// from dominating the collection-heavy tests.
	fmt.Fprintf(&b, "    container: %q\n    prefix: %q\n    redirect: %v\n    segment-size: %d\n    listing-lag: 300ms\n",
		s.Container, o.Prefix, o.Redirect, swiftSegment)
	return b.String()
}

func startSwiftServer(t testing.TB, s *swiftServer, o swiftOptions) *Server {
	t.Helper()
	gc := o.GC
	if gc == "" {
		gc = "gc:\n  interval: 0\n"
	}
	conf := "log:\n  level: info\n" + gc + swiftStorage(s, o)
	p := filepath.Join(t.TempDir(), "shadowreg-swift.yaml")
	if err := os.WriteFile(p, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return startServer(t, "--config", p)
}

// requireSwiftTarget skips the Swift tests against the reference registry.
func requireSwiftTarget(t testing.TB) {
	t.Helper()
	if isReference() {
		t.Skip("the Swift tests run against shadowreg only (SHADOWREG_E2E_TARGET=reference configures the filesystem)")
	}
}

// token authenticates with tempauth.
func (s *swiftServer) token(t testing.TB) string {
	t.Helper()
	req, _ := http.NewRequest("GET", s.AuthURL, nil)
	req.Header.Set("X-Storage-User", s.User)
	req.Header.Set("X-Storage-Pass", s.Key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("tempauth: %s", resp.Status)
	}
	return resp.Header.Get("X-Auth-Token")
}

// listNames lists every object name below prefix in the container.
func (s *swiftServer) listNames(t testing.TB, prefix string) []string {
	t.Helper()
	tok := s.token(t)
	var names []string
	marker := ""
	for range 100 {
		q := url.Values{"format": {"json"}, "prefix": {prefix}, "marker": {marker}}
		req, _ := http.NewRequest("GET", s.StorageURL+"/"+s.Container+"?"+q.Encode(), nil)
		req.Header.Set("X-Auth-Token", tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var page []struct {
			Name string `json:"name"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("listing %s: %s: %v", prefix, resp.Status, err)
		}
		for _, e := range page {
			names = append(names, e.Name)
		}
		if len(page) < 10000 {
			break
		}
		marker = page[len(page)-1].Name
	}
	return names
}
