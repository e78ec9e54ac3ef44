package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// capture runs f with os.Stdout and os.Stderr redirected, and returns what
// it wrote to each. Tests that use it swap process-wide files and must not
// run in parallel (parallel tests wait until the serial ones are done).
func capture(t *testing.T, f func()) (stdout, stderr string) {
	t.Helper()
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	oldOut, oldErr := os.Stdout, os.Stderr
	os.Stdout, os.Stderr = outW, errW
	outC, errC := make(chan string), make(chan string)
	go func() { b, _ := io.ReadAll(outR); outC <- string(b) }()
	go func() { b, _ := io.ReadAll(errR); errC <- string(b) }()
	defer func() {
		os.Stdout, os.Stderr = oldOut, oldErr
	}()
	f()
	outW.Close()
	errW.Close()
	return <-outC, <-errC
}

func TestVersion(t *testing.T) {
	var code int
	stdout, stderr := capture(t, func() { code = Execute([]string{"version"}) })
	if code != 0 || stderr != "" {
		t.Errorf("version: exit %d, stderr %q", code, stderr)
	}
	want := regexp.MustCompile(`^shadowreg \S+ \(go\S+, ` + runtime.GOOS + `/` + runtime.GOARCH + `\)\n$`)
	if !want.MatchString(stdout) {
		t.Errorf("version printed %q", stdout)
	}
	if v := Version(); v == "" || !strings.Contains(stdout, v) {
		t.Errorf("Version() = %q, printed %q", v, stdout)
	}
}

func TestVersionStamped(t *testing.T) {
	old := version
	version = "v1.2.3"
	defer func() { version = old }()
	if Version() != "v1.2.3" {
		t.Errorf("Version() = %q with v1.2.3 stamped", Version())
	}
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"version"})
	if err := root.Execute(); err != nil || !strings.HasPrefix(out.String(), "shadowreg v1.2.3 (") {
		t.Errorf("version = %q, %v", out.String(), err)
	}
}

// A command line that cannot run prints one line, "shadowreg: …", naming
// what is wrong, and exits 1, without usage text.
func TestCommandLineErrors(t *testing.T) {
	dir := t.TempDir()
	badConfig := filepath.Join(dir, "bad.yaml")
	os.WriteFile(badConfig, []byte("log:\n  levle: debug\n"), 0o644)
	badValue := filepath.Join(dir, "badvalue.yaml")
	os.WriteFile(badValue, []byte("log:\n  level: loud\n"), 0o644)
	aFile := filepath.Join(dir, "file")
	os.WriteFile(aFile, []byte("x"), 0o644)
	busy := listenBusy(t)

	tests := []struct {
		name  string
		args  []string
		words []string
		logs  bool // the server started logging before it failed
	}{
		{"bad --listen", []string{"serve", "--listen", "nonsense"}, []string{"listen", "nonsense"}, false},
		{"bad --data-dir", []string{"serve", "--listen", "127.0.0.1:0", "--data-dir", aFile}, []string{"data-dir"}, false},
		{"missing --config", []string{"serve", "--config", filepath.Join(dir, "missing.yaml")}, []string{"missing.yaml"}, false},
		{"unknown key in --config", []string{"serve", "--config", badConfig}, []string{"log.levle"}, false},
		{"bad value in --config", []string{"serve", "--config", badValue}, []string{"log.level", "loud"}, false},
		{"bad --upstream", []string{"serve", "--upstream", "quay.io"}, []string{"--upstream", "NAMESPACE=URL"}, false},
		{"bad --upstream url", []string{"serve", "--upstream", "quay.io=ftp://quay.io"}, []string{"upstreams.quay.io.url"}, false},
		{"unknown flag", []string{"serve", "--bogus"}, []string{"--bogus"}, false},
		{"flag without its value", []string{"serve", "--listen"}, []string{"listen"}, false},
		{"arguments", []string{"serve", "extra"}, []string{"extra"}, false},
		{"unknown command", []string{"servee"}, []string{"servee"}, false},
		{"address in use", []string{"serve", "--listen", busy, "--data-dir", filepath.Join(dir, "data")}, []string{"listen", busy}, true},
		{"version with arguments", []string{"version", "x"}, []string{"x"}, false},
	}
	for _, tt := range tests {
		var code int
		stdout, stderr := capture(t, func() { code = Execute(tt.args) })
		if code != 1 {
			t.Errorf("%s: %q exited %d, want 1", tt.name, tt.args, code)
		}
		lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
		if tt.logs { // log lines, then the error
			for len(lines) > 1 && strings.HasPrefix(lines[0], "time=") {
				lines = lines[1:]
			}
			stderr = strings.Join(lines, "\n") + "\n"
		}
		if len(lines) != 1 || !strings.HasPrefix(stderr, "shadowreg: ") || !strings.HasSuffix(stderr, "\n") {
			t.Errorf("%s: stderr is not one \"shadowreg: \" line:\n%s", tt.name, stderr)
		}
		for _, w := range tt.words {
			if !strings.Contains(stderr, w) {
				t.Errorf("%s: %q does not mention %q", tt.name, stderr, w)
			}
		}
		if stdout != "" {
			t.Errorf("%s: wrote to stdout: %q", tt.name, stdout)
		}
	}
}

// listenBusy returns an address something is already listening on.
func listenBusy(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

// The options' config(): the file, then the flags over it.
func TestServeConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "c.yaml")
	os.WriteFile(file, []byte("listen: 127.0.0.1:6000\ndata-dir: /from/file\nlog:\n  format: json\n"), 0o644)

	c, err := (&serveOptions{}).config()
	if err != nil || c.Listen != "127.0.0.1:5000" || c.DataDir != "./shadowreg-data" {
		t.Errorf("no flags: %+v, %v", c, err)
	}
	c, err = (&serveOptions{configFile: file}).config()
	if err != nil || c.Listen != "127.0.0.1:6000" || c.DataDir != "/from/file" || c.Log.Format != "json" {
		t.Errorf("--config: %+v, %v", c, err)
	}
	c, err = (&serveOptions{configFile: file, listen: ":7000", dataDir: "/from/flag", upstreams: []string{"quay.io=https://quay.io"}}).config()
	if err != nil || c.Listen != ":7000" || c.DataDir != "/from/flag" || c.Log.Format != "json" || c.Upstreams["quay.io"].URL != "https://quay.io" {
		t.Errorf("--config and flags: %+v, %v", c, err)
	}
	for _, o := range []*serveOptions{
		{listen: "nowhere"},
		{configFile: filepath.Join(dir, "missing.yaml")},
		{upstreams: []string{"=x"}},
		{upstreams: []string{"quay.io=https://quay.io/v2/"}},
	} {
		c, err := o.config()
		if err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("%+v: config() = %+v, %v; want a one-line error", o, c, err)
		}
	}
}

// serve starts on the address and folder given, answers /v2/, and stops
// cleanly when its context ends.
func TestServeRuns(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "c.yaml")
	os.WriteFile(cfg, []byte("log:\n  format: json\n  level: info\n"), 0o644)

	// newLogger writes to os.Stderr as it is when serve starts: read the
	// address the server chose from its log.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	oldErr := os.Stderr
	os.Stderr = w
	restored := false
	restore := func() {
		if !restored {
			os.Stderr, restored = oldErr, true
		}
	}
	defer restore()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	root := newRootCmd()
	root.SetArgs([]string{"serve", "--config", cfg, "--listen", "127.0.0.1:0", "--data-dir", data})
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()

	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			var line struct {
				Msg     string `json:"msg"`
				Address string `json:"address"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "shadowreg serving" {
				addr <- line.Address
			}
		}
	}()
	var base string
	select {
	case base = <-addr:
	case err := <-done:
		restore()
		t.Fatalf("serve returned before serving: %v", err)
	case <-time.After(20 * time.Second):
		restore()
		t.Fatal("serve did not log its address")
	}
	restore()
	if !strings.HasPrefix(base, "http://127.0.0.1:") || strings.HasSuffix(base, ":0") {
		t.Fatalf("serving at %q", base)
	}

	resp, err := http.Get(base + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Docker-Distribution-API-Version") != "registry/2.0" || string(body) != "{}" {
		t.Errorf("GET /v2/ = %d %q %q", resp.StatusCode, resp.Header.Get("Docker-Distribution-API-Version"), body)
	}
	// A push lands in --data-dir.
	resp, err = http.Post(base+"/v2/x/y/blobs/uploads/?digest=sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", "application/octet-stream", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("monolithic push: %d", resp.StatusCode)
	}
	if _, err := os.Stat(filepath.Join(data, "blobs", "sha256", "2c", "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")); err != nil {
		t.Errorf("the pushed blob is not under --data-dir: %v", err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve returned %v after its context ended", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop when its context ended")
	}
	if _, err := http.Get(base + "/v2/"); err == nil {
		t.Error("the server still answers after stopping")
	}
	w.Close()
}
