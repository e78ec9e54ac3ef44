package upstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/opencontainers/go-digest"
	"golang.org/x/crypto/bcrypt"
)

// TestReferenceRegistry reads an image through the client from the real
// reference registry (distribution), with htpasswd auth, which challenges
// with Basic. The binary is built by tools/install.sh registry.
func TestReferenceRegistry(t *testing.T) {
	bin := registryBinary(t)
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	htpasswd := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(htpasswd, []byte("ci:"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	config := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(config, []byte(fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
http:
  addr: %s
  secret: test-secret
auth:
  htpasswd:
    realm: shadowreg-test
    path: %s
`, filepath.Join(dir, "storage"), addr, htpasswd)), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var logs bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "serve", config)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("registry output:\n%s", logs.String())
		}
	})
	base := "http://" + addr
	waitReady(t, base)

	img, err := random.Image(300<<10, 2)
	if err != nil {
		t.Fatal(err)
	}
	p := &pusher{base: base, user: "ci", pass: "s3cret"}
	p.image(t, "team/app", img, "v1", "v2")

	ctx = context.Background()
	c, err := New("localhost", Config{URL: base, Username: "ci", Password: "s3cret"}, Options{Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	wantDigest, _ := img.Digest()
	wantType, _ := img.MediaType()
	rawManifest, _ := img.RawManifest()

	m, err := c.Manifest(ctx, "team/app", "v1")
	if err != nil {
		t.Fatal(err)
	}
	if m.Digest.String() != wantDigest.String() || m.MediaType != string(wantType) || !bytes.Equal(m.Data, rawManifest) {
		t.Errorf("manifest: %s %s, want %s %s", m.Digest, m.MediaType, wantDigest, wantType)
	}
	if m2, err := c.Manifest(ctx, "team/app", wantDigest.String()); err != nil || m2.Digest != m.Digest {
		t.Errorf("by digest: %v %v", m2, err)
	}
	desc, err := c.ManifestHead(ctx, "team/app", "v2")
	if err != nil || desc.Digest != m.Digest || desc.MediaType != m.MediaType || desc.Size != int64(len(rawManifest)) {
		t.Errorf("head: %+v %v", desc, err)
	}

	layers, _ := img.Layers()
	for _, l := range layers {
		ld, _ := l.Digest()
		size, _ := l.Size()
		d := digest.Digest(ld.String())
		rc, total, err := c.Blob(ctx, "team/app", d, 0)
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || total != size || digest.FromBytes(data) != d {
			t.Errorf("blob %s: %d bytes of %d, err %v", d, len(data), total, err)
		}
		rc, total, err = c.Blob(ctx, "team/app", d, 1000)
		if err != nil {
			t.Fatal(err)
		}
		tail, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || total != size || !bytes.Equal(tail, data[1000:]) {
			t.Errorf("blob %s from 1000: %d bytes, total %d, err %v", d, len(tail), total, err)
		}
		if n, err := c.BlobHead(ctx, "team/app", d); err != nil || n != size {
			t.Errorf("blob head %s: %d %v", d, n, err)
		}
	}

	tags, err := c.Tags(ctx, "team/app")
	sort.Strings(tags)
	if err != nil || !reflect.DeepEqual(tags, []string{"v1", "v2"}) {
		t.Errorf("tags: %q %v", tags, err)
	}

	// Misses are ErrNotFound, and not the upstream's fault.
	for name, err := range map[string]error{
		"tag":  func() error { _, err := c.Manifest(ctx, "team/app", "nope"); return err }(),
		"repo": func() error { _, err := c.Tags(ctx, "team/none"); return err }(),
		"blob": func() error { _, err := c.BlobHead(ctx, "team/app", digest.FromString("none")); return err }(),
		"get":  func() error { _, _, err := c.Blob(ctx, "team/app", digest.FromString("none"), 0); return err }(),
	} {
		if !errors.Is(err, ErrNotFound) || IsUnavailable(err) {
			t.Errorf("missing %s: err = %v", name, err)
		}
	}

	// Without (or with wrong) credentials: refused, which is not a miss.
	for name, cfg := range map[string]Config{
		"anonymous":      {URL: base},
		"wrong password": {URL: base, Username: "ci", Password: "nope"},
	} {
		anon, err := New("localhost", cfg, Options{Backoff: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		_, err = anon.Manifest(ctx, "team/app", "v1")
		if err == nil || errors.Is(err, ErrNotFound) || !errors.Is(err, ErrUnauthorized) || !IsUnavailable(err) {
			t.Errorf("%s: err = %v", name, err)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "upstream localhost ("+base+"): GET manifest team/app:v1: 401") {
			t.Errorf("%s: err = %v", name, err)
		}
		if _, err := anon.Tags(ctx, "team/app"); err == nil || errors.Is(err, ErrNotFound) {
			t.Errorf("%s tags: err = %v", name, err)
		}
	}
}

// registryBinary finds the reference registry built by tools/install.sh.
func registryBinary(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("SHADOWREG_TOOLS")
	if dir == "" {
		root, err := filepath.Abs(".")
		if err != nil {
			t.Fatal(err)
		}
		for ; ; root = filepath.Dir(root) {
			if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
				break
			}
			if filepath.Dir(root) == root {
				t.Fatal("go.mod not found above the test directory")
			}
		}
		dir = filepath.Join(root, ".cache", "bin")
	}
	bin := filepath.Join(dir, "registry")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("reference registry not found at %s: run tools/install.sh registry", bin)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitReady(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("registry at %s not ready after 30s", base)
}

// pusher uploads an image with the plain distribution API (monolithic blob
// uploads, then the manifest), as docker and skopeo do.
type pusher struct {
	base, user, pass string
}

func (p *pusher) do(t *testing.T, method, url, contentType string, body []byte, want int) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(p.user, p.pass)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %s: %s", method, url, resp.Status, msg)
	}
	return resp
}

func (p *pusher) blob(t *testing.T, repo string, data []byte) {
	t.Helper()
	resp := p.do(t, http.MethodPost, p.base+"/v2/"+repo+"/blobs/uploads/", "", nil, http.StatusAccepted)
	loc, err := resp.Location()
	if err != nil {
		t.Fatal(err)
	}
	q := loc.Query()
	q.Set("digest", digest.FromBytes(data).String())
	loc.RawQuery = q.Encode()
	p.do(t, http.MethodPut, loc.String(), "application/octet-stream", data, http.StatusCreated)
}

func (p *pusher) image(t *testing.T, repo string, img v1.Image, tags ...string) {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		p.blob(t, repo, data)
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	p.blob(t, repo, cfg)
	manifest, _ := img.RawManifest()
	mt, _ := img.MediaType()
	for _, tag := range tags {
		p.do(t, http.MethodPut, p.base+"/v2/"+repo+"/manifests/"+tag, string(mt), manifest, http.StatusCreated)
	}
}
