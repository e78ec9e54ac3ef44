package upstream

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestManifestByTagAndDigest(t *testing.T) {
	reg := newFakeRegistry()
	d := reg.addManifest("org/app", "v1", ocispec.MediaTypeImageManifest, []byte(ociManifest))
	c, _ := testClient(t, serve(t, reg).URL, Config{}, Options{})
	ctx := context.Background()

	for _, ref := range []string{"v1", d.String()} {
		m, err := c.Manifest(ctx, "org/app", ref)
		if err != nil {
			t.Fatal(err)
		}
		if m.Digest != d || m.MediaType != ocispec.MediaTypeImageManifest || string(m.Data) != ociManifest {
			t.Errorf("%s: got %s %s %q", ref, m.Digest, m.MediaType, m.Data)
		}
	}
	accept := reg.requests()[0].Header.Values("Accept")
	if len(accept) != 1 {
		t.Fatalf("Accept = %q, want one header", accept)
	}
	types := strings.Split(accept[0], ", ")
	for _, want := range []string{ocispec.MediaTypeImageIndex, ocispec.MediaTypeImageManifest,
		MediaTypeDockerManifest, MediaTypeDockerManifestList} {
		if !strings.Contains(accept[0], want) {
			t.Errorf("Accept %q lacks %s", accept[0], want)
		}
	}
	if last := types[len(types)-1]; !strings.HasPrefix(last, MediaTypeDockerSchema1Signed+";q=") {
		t.Errorf("Accept ends with %q, want signed schema1 with a low q", last)
	}
}

func TestManifestDigestVerification(t *testing.T) {
	reg := newFakeRegistry()
	real := []byte(ociManifest)
	want := digest.FromBytes(real)
	evil := []byte(strings.Replace(ociManifest, `"layers":[]`, `"layers":[ ]`, 1))
	var lie string // what the server says its Docker-Content-Digest is
	reg.hook = func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Content-Type", ocispec.MediaTypeImageManifest)
		if lie != "" {
			w.Header().Set("Docker-Content-Digest", lie)
		}
		w.Write(evil)
		return true
	}
	c, _ := testClient(t, serve(t, reg).URL, Config{}, Options{})
	ctx := context.Background()

	for _, tc := range []struct{ name, ref, lie string }{
		{"by digest, content differs", want.String(), ""},
		{"by digest, header agrees with the lie", want.String(), want.String()},
		{"by tag, header differs from content", "v1", want.String()},
		{"by tag, sha512 header differs", "v1", digest.SHA512.FromBytes(real).String()},
	} {
		lie = tc.lie
		m, err := c.Manifest(ctx, "org/app", tc.ref)
		if err == nil || m != nil {
			t.Errorf("%s: got %v, %v; want an error", tc.name, m, err)
			continue
		}
		if !strings.Contains(err.Error(), "digest mismatch") || !IsUnavailable(err) || errors.Is(err, ErrNotFound) {
			t.Errorf("%s: err = %v", tc.name, err)
		}
	}

	// By tag without a header, the digest is computed; a matching sha512
	// header is the name the upstream uses.
	lie = ""
	m, err := c.Manifest(ctx, "org/app", "v1")
	if err != nil || m.Digest != digest.FromBytes(evil) {
		t.Fatalf("no header: %v %v", m, err)
	}
	lie = digest.SHA512.FromBytes(evil).String()
	if m, err = c.Manifest(ctx, "org/app", "v1"); err != nil || m.Digest.String() != lie {
		t.Fatalf("sha512 header: %v %v", m, err)
	}
	lie = "garbage"
	if m, err = c.Manifest(ctx, "org/app", "v1"); err != nil || m.Digest != digest.FromBytes(evil) {
		t.Fatalf("unusable header: %v %v", m, err)
	}
}

func TestManifestMediaType(t *testing.T) {
	for _, tc := range []struct {
		name, contentType, data, want string
	}{
		{"content type", ocispec.MediaTypeImageIndex, `{}`, ocispec.MediaTypeImageIndex},
		{"content type with params", MediaTypeDockerManifest + "; charset=utf-8", `{}`, MediaTypeDockerManifest},
		{"missing, mediaType field", "", `{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[]}`, MediaTypeDockerManifestList},
		{"generic, mediaType field", "application/json", `{"mediaType":"application/vnd.oci.image.manifest.v1+json"}`, ocispec.MediaTypeImageManifest},
		{"octet-stream, OCI index shape", "application/octet-stream", `{"schemaVersion":2,"manifests":[]}`, ocispec.MediaTypeImageIndex},
		{"text/plain, OCI manifest shape", "text/plain", `{"schemaVersion":2,"config":{},"layers":[]}`, ocispec.MediaTypeImageManifest},
		{"schema1 signed", "", `{"schemaVersion":1,"fsLayers":[],"signatures":[]}`, MediaTypeDockerSchema1Signed},
		{"schema1", "", `{"schemaVersion":1,"fsLayers":[]}`, MediaTypeDockerSchema1},
		{"html error page", "text/html", `<html>bad gateway</html>`, ""},
		{"unknown shape", "application/json", `{"hello":1}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := manifestMediaType(tc.contentType, []byte(tc.data))
			if got != tc.want || (err != nil) != (tc.want == "") {
				t.Errorf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}

	// Through the client: no Content-Type at all.
	reg := newFakeRegistry()
	reg.addManifest("org/app", "v1", "", []byte(ociManifest))
	reg.hook = func(w http.ResponseWriter, r *http.Request) bool {
		w.Header()["Content-Type"] = nil // keep net/http from sniffing one
		return false
	}
	c, _ := testClient(t, serve(t, reg).URL, Config{}, Options{})
	m, err := c.Manifest(context.Background(), "org/app", "v1")
	if err != nil || m.MediaType != ocispec.MediaTypeImageManifest {
		t.Fatalf("got %v, %v", m, err)
	}
}

func TestManifestTooLarge(t *testing.T) {
	big := `{"mediaType":"application/vnd.oci.image.manifest.v1+json","x":"` + strings.Repeat("a", 5<<20) + `"}`
	for _, chunked := range []bool{false, true} {
		reg := newFakeRegistry()
		reg.hook = func(w http.ResponseWriter, r *http.Request) bool {
			if chunked {
				w.Write([]byte(big[:10]))
				w.(http.Flusher).Flush() // no Content-Length: only reading tells
				w.Write([]byte(big[10:]))
			} else {
				w.Write([]byte(big))
			}
			return true
		}
		c, _ := testClient(t, serve(t, reg).URL, Config{}, Options{})
		m, err := c.Manifest(context.Background(), "org/app", "v1")
		var tl *tooLargeError
		if m != nil || !errors.As(err, &tl) || !IsUnavailable(err) {
			t.Errorf("chunked=%v: got %v, %v", chunked, m, err)
		}
		if n := len(reg.requests()); n != 1 {
			t.Errorf("chunked=%v: %d requests, an oversized manifest is not retried", chunked, n)
		}
	}
}

func TestManifestNotFound(t *testing.T) {
	reg := newFakeRegistry()
	reg.addManifest("org/app", "v1", "", []byte(ociManifest))
	c, sl := testClient(t, serve(t, reg).URL, Config{}, Options{})
	ctx := context.Background()
	_, err := c.Manifest(ctx, "org/app", "nope")
	if !errors.Is(err, ErrNotFound) || IsUnavailable(err) {
		t.Fatalf("err = %v", err)
	}
	want := "upstream test.io (" + c.base + "): GET manifest org/app:nope: 404 Not Found: MANIFEST_UNKNOWN: manifest unknown"
	if err.Error() != want {
		t.Errorf("err = %q\nwant  %q", err, want)
	}
	if _, err := c.ManifestHead(ctx, "org/app", "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("HEAD: err = %v", err)
	}
	if len(sl.all()) != 0 {
		t.Errorf("a 404 was retried: %v", sl.all())
	}
}

func TestManifestHead(t *testing.T) {
	reg := newFakeRegistry()
	d := reg.addManifest("org/app", "v1", MediaTypeDockerManifest, []byte(ociManifest))
	c, _ := testClient(t, serve(t, reg).URL, Config{}, Options{})
	ctx := context.Background()
	want := Descriptor{MediaType: MediaTypeDockerManifest, Digest: d, Size: int64(len(ociManifest))}

	got, err := c.ManifestHead(ctx, "org/app", "v1")
	if err != nil || got.MediaType != want.MediaType || got.Digest != want.Digest || got.Size != want.Size {
		t.Fatalf("got %+v, %v", got, err)
	}
	if reg.count("GET") != 0 || reg.requests()[0].Header.Get("Accept") != manifestAccept {
		t.Errorf("HEAD fell back to GET or lacked Accept")
	}

	// A HEAD without Docker-Content-Digest: a GET tells (and verifies).
	reg.hook = func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodHead {
			w.Header().Set("Content-Type", MediaTypeDockerManifest)
			w.Header().Set("Content-Length", "3")
			return true
		}
		return false
	}
	got, err = c.ManifestHead(ctx, "org/app", "v1")
	if err != nil || got.Digest != want.Digest || got.Size != want.Size {
		t.Fatalf("fallback: got %+v, %v", got, err)
	}
	if reg.count("GET") != 1 {
		t.Errorf("GETs = %d, want 1", reg.count("GET"))
	}
}

func TestDockerHubLibrary(t *testing.T) {
	reg := newFakeRegistry()
	reg.addManifest("library/alpine", "latest", "", []byte(ociManifest))
	c, err := New("docker.io", Config{URL: serve(t, reg).URL}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Manifest(context.Background(), "alpine", "latest"); err != nil {
		t.Fatal(err)
	}
	if p := reg.requests()[0].URL.Path; p != "/v2/library/alpine/manifests/latest" {
		t.Errorf("path = %s", p)
	}
	if !strings.HasPrefix(c.Name(), "docker.io (http://127.0.0.1:") {
		t.Errorf("Name() = %q", c.Name())
	}
	// Other namespaces keep single-component names.
	other, _ := testClient(t, serve(t, reg).URL, Config{}, Options{})
	if _, err := other.Manifest(context.Background(), "alpine", "latest"); !errors.Is(err, ErrNotFound) {
		t.Errorf("test.io/alpine: err = %v", err)
	}
}

func TestInvalidArguments(t *testing.T) {
	reg := newFakeRegistry()
	c, _ := testClient(t, serve(t, reg).URL, Config{}, Options{})
	ctx := context.Background()
	for _, tc := range []struct{ repo, ref string }{
		{"../etc", "v1"}, {"Org/App", "v1"}, {"org/app?x=1", "v1"}, {"", "v1"},
		{"org/app", "v1/../x"}, {"org/app", "sha256:abc"}, {"org/app", "md5:d41d8cd98f00b204e9800998ecf8427e"},
		{"org/app", ""}, {"org/app", ".hidden"},
	} {
		_, err := c.Manifest(ctx, tc.repo, tc.ref)
		if err == nil || IsUnavailable(err) || errors.Is(err, ErrNotFound) {
			t.Errorf("Manifest(%q, %q): err = %v", tc.repo, tc.ref, err)
		}
	}
	if _, _, err := c.Blob(ctx, "org/app", "sha256:short", 0); err == nil {
		t.Error("Blob accepted a bad digest")
	}
	if _, _, err := c.Blob(ctx, "org/app", digest.FromString("x"), -1); err == nil {
		t.Error("Blob accepted a negative offset")
	}
	if n := len(reg.requests()); n != 0 {
		t.Errorf("%d requests sent for invalid arguments", n)
	}
}
