package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// shadowUpstream is one entry of shadowreg's upstreams: section.
type shadowUpstream struct {
	NS       string            // namespace: docker.io, quay.io, …
	Up       *upstreamRegistry // its URL and credentials, unless URL is set
	URL      string            // overrides Up.URL (a fault-injecting proxy in front of Up)
	TagTTL   string            // tag-ttl, e.g. "1s"; "" = default
	OnMiss   string            // on-miss; "" = default (fetch)
	Timeout  string            // timeout; "" = default
	NoCreds  bool              // do not configure Up's credentials
	Username string            // explicit credentials (when Up is nil)
	Password string
}

// startShadow starts shadowreg with a configuration file whose upstreams
// are ups (listen address and data directory come from startServer's flags).
func startShadow(t *testing.T, ups ...shadowUpstream) *Server {
	t.Helper()
	if isReference() {
		t.Skip("shadowing upstreams is a shadowreg feature: the reference registry has no namespaced upstreams to test")
	}
	var b strings.Builder
	b.WriteString("log:\n  level: debug\ngc:\n  interval: 0s\nupstreams:\n")
	for _, u := range ups {
		url, user, pass := u.URL, u.Username, u.Password
		if u.Up != nil {
			if url == "" {
				url = u.Up.URL
			}
			if !u.NoCreds && user == "" {
				user, pass = u.Up.User, u.Up.Password
			}
		}
		fmt.Fprintf(&b, "  %s:\n", u.NS)
		if url != "" {
			fmt.Fprintf(&b, "    url: %q\n", url)
		}
		if user != "" {
			fmt.Fprintf(&b, "    username: %q\n    password: %q\n", user, pass)
		}
		if u.TagTTL != "" {
			fmt.Fprintf(&b, "    tag-ttl: %s\n", u.TagTTL)
		}
		if u.OnMiss != "" {
			fmt.Fprintf(&b, "    on-miss: %s\n", u.OnMiss)
		}
		if u.Timeout != "" {
			fmt.Fprintf(&b, "    timeout: %s\n", u.Timeout)
		}
	}
	cfg := filepath.Join(t.TempDir(), "shadowreg.yaml")
	if err := os.WriteFile(cfg, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Logf("shadowreg config:\n%s", b.String())
	return startServer(t, "--config", cfg)
}

// ociError returns the first code and message of an OCI error body.
func ociError(body []byte) (code, message string) {
	var e struct {
		Errors []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &e) != nil || len(e.Errors) == 0 {
		return "", ""
	}
	return e.Errors[0].Code, e.Errors[0].Message
}

// blobFile is where shadowreg's filesystem storage keeps a blob.
func blobFile(dataDir, digest string) string {
	alg, hex, _ := strings.Cut(digest, ":")
	return filepath.Join(dataDir, "blobs", alg, hex[:2], hex)
}

// blobStored reports whether shadowreg's data directory holds the blob.
func blobStored(t testing.TB, dataDir, digest string) bool {
	t.Helper()
	_, err := os.Stat(blobFile(dataDir, digest))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return err == nil
}

// waitBlobStored waits, bounded, for a fetched blob to be cached: clients
// get their last byte once it is verified, and the cache takes it over just
// after (fsync, rename).
func waitBlobStored(t testing.TB, dataDir, digest string, timeout time.Duration) bool {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if blobStored(t, dataDir, digest) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// spoolFiles lists the temporary files under shadowreg's data directory
// (".tmp-*", where fetches spool) and its fetch spools elsewhere.
func spoolFiles(t testing.TB, dataDir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dataDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".tmp-") || strings.HasPrefix(d.Name(), "shadowreg-fetch-") {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// waitNoSpoolFiles waits (at most limit) until no temporary file is left in
// the data directory, and returns what is left then.
func waitNoSpoolFiles(t testing.TB, dataDir string, limit time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		left := spoolFiles(t, dataDir)
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// pullImage reads ref (an image, or the linux/amd64 image of an index) from
// shadowreg the way crane does, with go-containerregistry: the manifest(s),
// the config and every layer to the end (each verified against its digest).
// It returns the manifest digest of the image read.
func pullImage(ctx context.Context, hc *http.Client, ref string) (string, error) {
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		return "", err
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithPlatform(v1.Platform{OS: "linux", Architecture: "amd64"})}
	if hc != nil {
		opts = append(opts, remote.WithTransport(hc.Transport))
	}
	img, err := remote.Image(r, opts...)
	if err != nil {
		return "", err
	}
	if _, err := img.RawConfigFile(); err != nil {
		return "", fmt.Errorf("config: %w", err)
	}
	layers, err := img.Layers()
	if err != nil {
		return "", err
	}
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			return "", err
		}
		_, err = io.Copy(io.Discard, rc)
		if cerr := rc.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			d, _ := l.Digest()
			return "", fmt.Errorf("layer %s: %w", d, err)
		}
	}
	d, err := img.Digest()
	if err != nil {
		return "", err
	}
	return d.String(), nil
}

// layerDigests lists an image's config and layer digests.
func blobDigests(t testing.TB, img v1.Image) []string {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	out := []string{m.Config.Digest.String()}
	for _, l := range m.Layers {
		out = append(out, l.Digest.String())
	}
	return out
}

// writeRegistriesConf writes a registries.conf with a mirror for each
// namespace (prefix -> mirror location) and returns its path.
func writeRegistriesConf(t testing.TB, mirrors map[string]string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("unqualified-search-registries = [\"docker.io\"]\nshort-name-mode = \"permissive\"\n")
	for prefix, loc := range mirrors {
		fmt.Fprintf(&b, "\n[[registry]]\nprefix = %q\nlocation = %q\n[[registry.mirror]]\nlocation = %q\ninsecure = true\n", prefix, prefix, loc)
	}
	p := filepath.Join(t.TempDir(), "registries.conf")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
