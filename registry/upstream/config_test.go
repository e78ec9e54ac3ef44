package upstream

import (
	"context"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	yaml "gopkg.in/yaml.v3"
)

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	os.WriteFile(notPEM, []byte("hello"), 0o600)
	good := filepath.Join(dir, "ca.pem")
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	srv.Close()
	os.WriteFile(good, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600)

	for _, tc := range []struct {
		cfg  Config
		want string // "" = valid
	}{
		{Config{URL: "https://registry-1.docker.io"}, ""},
		{Config{URL: "http://127.0.0.1:5000/", Username: "u", Password: "p", Timeout: Duration(time.Minute)}, ""},
		{Config{URL: "https://quay.io", CAFile: good}, ""},
		{Config{}, "upstreams.quay.io.url: required"},
		{Config{URL: "quay.io"}, "upstreams.quay.io.url: must be an http(s) URL such as https://registry-1.docker.io"},
		{Config{URL: "ftp://quay.io"}, "upstreams.quay.io.url: must be an http(s) URL such as https://registry-1.docker.io"},
		{Config{URL: "https://u:secret@quay.io"}, "upstreams.quay.io.url: must not contain credentials (set username and password)"},
		{Config{URL: "https://quay.io/v2/"}, `upstreams.quay.io.url: must be scheme://host[:port] without a path, got "https://quay.io/v2/"`},
		{Config{URL: "https://quay.io?x=1"}, `upstreams.quay.io.url: must be scheme://host[:port] without a path, got "https://quay.io?x=1"`},
		{Config{URL: "https://quay.io", Username: "u"}, "upstreams.quay.io.password: required when username is set"},
		{Config{URL: "https://quay.io", Password: "p"}, "upstreams.quay.io.username: required when password is set"},
		{Config{URL: "https://quay.io", Timeout: -1}, "upstreams.quay.io.timeout: must not be negative"},
		{Config{URL: "https://quay.io", CAFile: good, Insecure: true}, "upstreams.quay.io.insecure: cannot be combined with ca-file (insecure skips verification)"},
		{Config{URL: "https://quay.io", CAFile: notPEM}, "upstreams.quay.io.ca-file: no PEM certificate in " + notPEM},
		{Config{URL: "https://quay.io", CAFile: filepath.Join(dir, "missing")}, "upstreams.quay.io.ca-file: open " + filepath.Join(dir, "missing") + ": no such file or directory"},
	} {
		err := tc.cfg.Validate("upstreams.quay.io")
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("Validate(%+v)\n got %q\nwant %q", tc.cfg, got, tc.want)
		}
		if strings.Contains(got, "secret") || strings.Contains(got, "\n") {
			t.Errorf("error leaks the password or spans lines: %q", got)
		}
	}
	if _, err := New("quay.io", Config{URL: "quay.io"}, Options{}); err == nil || !strings.HasPrefix(err.Error(), "upstreams.quay.io.url:") {
		t.Errorf("New: err = %v", err)
	}
}

func TestConfigYAML(t *testing.T) {
	var doc struct {
		Upstreams map[string]Config `yaml:"upstreams"`
	}
	src := `
upstreams:
  quay.io:
    url: https://quay.io
    username: u
    password: p
    ca-file: /etc/ca.pem
    insecure: true
    timeout: 1m30s
  docker.io:
    url: https://registry-1.docker.io
    timeout: 45
`
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	q := doc.Upstreams["quay.io"]
	want := Config{URL: "https://quay.io", Username: "u", Password: "p", CAFile: "/etc/ca.pem", Insecure: true, Timeout: Duration(90 * time.Second)}
	if q != want {
		t.Errorf("quay.io = %+v", q)
	}
	if d := doc.Upstreams["docker.io"].Timeout; d != Duration(45*time.Second) {
		t.Errorf("bare number timeout = %v", time.Duration(d))
	}
	if err := yaml.Unmarshal([]byte("timeout: soon"), &struct {
		Timeout Duration `yaml:"timeout"`
	}{}); err == nil || !strings.Contains(err.Error(), "invalid duration") {
		t.Errorf("bad duration: err = %v", err)
	}
	out, err := yaml.Marshal(want)
	if err != nil || !strings.Contains(string(out), "timeout: 1m30s") || !strings.Contains(string(out), "ca-file: /etc/ca.pem") {
		t.Errorf("marshal: %s %v", out, err)
	}
}

func writeCA(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestTLS(t *testing.T) {
	reg := newFakeRegistry()
	reg.addManifest("org/app", "v1", "", []byte(ociManifest))
	var protos []int
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		protos = append(protos, r.ProtoMajor)
		reg.ServeHTTP(w, r)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	ctx := context.Background()

	for name, cfg := range map[string]Config{
		"ca-file":  {CAFile: writeCA(t, srv)},
		"insecure": {Insecure: true},
	} {
		// testClient would replace the sleep; the transport is what is tested here.
		cfg.URL = srv.URL
		c, err := New("test.io", cfg, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Manifest(ctx, "org/app", "v1"); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, p := range protos {
		if p != 2 {
			t.Errorf("protocol HTTP/%d, want HTTP/2 where the server offers it", p)
		}
	}

	c, sl := testClient(t, srv.URL, Config{}, Options{})
	_, err := c.Manifest(ctx, "org/app", "v1")
	if err == nil || !strings.Contains(err.Error(), "certificate") || !IsUnavailable(err) {
		t.Errorf("unknown CA: err = %v", err)
	}
	if len(sl.all()) != 0 {
		t.Errorf("a certificate error was retried")
	}
}

func TestHTTPClientOption(t *testing.T) {
	// A caller's client keeps its transport, but not its redirect policy.
	reg := newFakeRegistry()
	reg.addManifest("org/app", "v1", "", []byte(ociManifest))
	var used bool
	hc := &http.Client{
		Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			used = true
			return http.DefaultTransport.RoundTrip(r)
		}),
		CheckRedirect: func(*http.Request, []*http.Request) error { return errors.New("no") },
	}
	c, _ := testClient(t, serve(t, reg).URL, Config{}, Options{HTTPClient: hc})
	if _, err := c.Manifest(context.Background(), "org/app", "v1"); err != nil || !used {
		t.Fatalf("err %v, used %v", err, used)
	}
	if hc.CheckRedirect == nil || c.http == hc {
		t.Errorf("the caller's client was modified")
	}
	if r := reg.requests()[0]; r.Header.Get("Accept-Encoding") != "identity" || r.Header.Get("User-Agent") != DefaultUserAgent {
		t.Errorf("headers: %v", r.Header)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
