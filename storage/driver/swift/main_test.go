package swift

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The tests run against a real Swift that TestMain starts on 127.0.0.1
// through tools/swift.sh, in a temporary folder, and stops afterwards. A
// missing Swift fails the run: a skipped Swift test must never pass for a
// tested one.
var swiftEnv map[string]string

// swiftDir is the folder tools/swift.sh runs that Swift in (realKeystone
// adds a Keystone to it).
var swiftDir string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	root, err := repoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "shadowreg-swift-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	swiftDir = dir
	script := filepath.Join(root, "tools", "swift.sh")
	start := exec.Command(script, "start", dir, "shadowreg-test")
	start.Env = append(os.Environ(), "SWIFT_NO_INSTALL=1", fmt.Sprintf("SWIFT_WATCH_PID=%d", os.Getpid()))
	start.Stderr = os.Stderr
	// Stop even after a failed start: the script may have got servers running.
	defer func() {
		stop := exec.Command(script, "stop", dir)
		stop.Stdout, stop.Stderr = os.Stderr, os.Stderr
		if err := stop.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "tools/swift.sh stop: %v\n", err)
		}
	}()
	out, err := start.Output()
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: tools/swift.sh start (tools/install.sh swift installs Swift): %v\n", err)
		return 1
	}
	swiftEnv = parseEnv(out)
	for _, k := range []string{"SWIFT_AUTH_URL", "SWIFT_USER", "SWIFT_KEY", "SWIFT_CONTAINER", "SWIFT_STORAGE_URL"} {
		if swiftEnv[k] == "" {
			fmt.Fprintf(os.Stderr, "FAIL: tools/swift.sh start printed no %s:\n%s", k, out)
			return 1
		}
	}
	return m.Run()
}

// repoRoot is the folder of go.mod above the test's working directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for range 20 {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		dir = filepath.Dir(dir)
	}
	return "", fmt.Errorf("no go.mod above the working directory")
}

func parseEnv(b []byte) map[string]string {
	env := make(map[string]string)
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			env[k] = v
		}
	}
	return env
}

// testConfig is a configuration for the test Swift (tempauth), rooted at
// prefix, with small segments so that large-object paths run with little data.
func testConfig(prefix string) Config {
	return Config{
		AuthURL:     swiftEnv["SWIFT_AUTH_URL"],
		Username:    swiftEnv["SWIFT_USER"],
		Password:    swiftEnv["SWIFT_KEY"],
		Container:   swiftEnv["SWIFT_CONTAINER"],
		Prefix:      prefix,
		Redirect:    true,
		SegmentSize: 2 * mib,
	}
}

const mib = 1 << 20

var prefixes atomic.Int64

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

func uniquePrefix(t testing.TB) string {
	return fmt.Sprintf("t/%s-%d-%d", unsafeChars.ReplaceAllString(t.Name(), "_"),
		time.Now().UnixNano(), prefixes.Add(1))
}

// newTestDriver returns a driver on a fresh prefix, emptied at cleanup;
// extra drivers on the same prefix (other "replicas") come from openDriver.
func newTestDriver(t testing.TB) *Driver {
	t.Helper()
	d := openDriver(t, testConfig(uniquePrefix(t)))
	t.Cleanup(func() { purge(t, d) })
	return d
}

// purge removes everything below d's prefix.
func purge(t testing.TB, d *Driver) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var names []string
	root := strings.TrimSuffix(d.layout.dataRoot, "data/")
	if err := d.list(ctx, root, "", func(e entry) bool { names = append(names, e.Name); return true }); err != nil {
		t.Errorf("purge: %v", err)
		return
	}
	if err := d.removeAll(ctx, names); err != nil {
		t.Errorf("purge: %v", err)
	}
}

func openDriver(t testing.TB, c Config) *Driver {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := New(ctx, c)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return d
}
