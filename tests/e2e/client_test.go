package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// regClient is a minimal distribution-API client over plain net/http, for
// checks that need exact control of the requests (crash and concurrency
// tests) and for verifying what the real clients pushed.
type regClient struct {
	t    testing.TB
	base string
	hc   *http.Client
}

func newRegClient(t testing.TB, s *Server) *regClient {
	return &regClient{t: t, base: s.URL, hc: &http.Client{
		Timeout:   2 * time.Minute,
		Transport: &http.Transport{MaxIdleConnsPerHost: 32, DisableCompression: true},
	}}
}

type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) String() string {
	body := string(r.Body)
	if len(body) > 2048 {
		body = body[:2048] + "…"
	}
	return fmt.Sprintf("%d %s", r.Status, body)
}

// resolve turns a path ("/v2/…") or a Location header into a URL.
func (c *regClient) resolve(loc string) string {
	u, err := url.Parse(loc)
	if err != nil {
		c.t.Fatalf("bad location %q: %v", loc, err)
	}
	b, _ := url.Parse(c.base)
	return b.ResolveReference(u).String()
}

// do sends one request; transport errors are returned, not fatal.
func (c *regClient) do(method, pathOrURL string, hdr map[string]string, body io.Reader) (response, error) {
	req, err := http.NewRequest(method, c.resolve(pathOrURL), body)
	if err != nil {
		return response{}, err
	}
	if b, ok := body.(*bytes.Reader); ok {
		req.ContentLength = int64(b.Len())
	}
	for k, v := range hdr {
		if k == "Content-Length" {
			n, _ := strconv.ParseInt(v, 10, 64)
			req.ContentLength = n
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// must sends one request and fails the test on a transport error.
func (c *regClient) must(method, pathOrURL string, hdr map[string]string, body []byte) response {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	resp, err := c.do(method, pathOrURL, hdr, r)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, pathOrURL, err)
	}
	return resp
}

// startUpload opens an upload session and returns its Location.
func (c *regClient) startUpload(repo string) (string, error) {
	resp, err := c.do("POST", "/v2/"+repo+"/blobs/uploads/", nil, nil)
	if err != nil {
		return "", err
	}
	if resp.Status != http.StatusAccepted || resp.Header.Get("Location") == "" {
		return "", fmt.Errorf("POST /v2/%s/blobs/uploads/: want 202 with Location, got %s", repo, resp)
	}
	return resp.Header.Get("Location"), nil
}

// withQuery adds query parameters to a Location (which may have some).
func withQuery(loc string, kv ...string) string {
	u, err := url.Parse(loc)
	if err != nil {
		return loc
	}
	q := u.Query()
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// pushBlob uploads a blob with POST + monolithic PUT and checks the answer.
func (c *regClient) pushBlob(repo string, data []byte) string {
	c.t.Helper()
	d, err := c.tryPushBlob(repo, data)
	if err != nil {
		c.t.Fatal(err)
	}
	return d
}

func (c *regClient) tryPushBlob(repo string, data []byte) (string, error) {
	dg := sha256Digest(data)
	loc, err := c.startUpload(repo)
	if err != nil {
		return "", err
	}
	resp, err := c.do("PUT", withQuery(loc, "digest", dg), map[string]string{"Content-Type": "application/octet-stream"}, bytes.NewReader(data))
	if err != nil {
		return "", fmt.Errorf("PUT upload of %s: %w", dg, err)
	}
	if resp.Status != http.StatusCreated {
		return "", fmt.Errorf("PUT upload of %s to %s: want 201, got %s", dg, repo, resp)
	}
	return dg, nil
}

// tryPushBlobChunked uploads a blob with POST, PATCHes of `chunk` bytes with
// Content-Range, and a final empty PUT.
func (c *regClient) tryPushBlobChunked(repo string, data []byte, chunk int) (string, error) {
	dg := sha256Digest(data)
	loc, err := c.startUpload(repo)
	if err != nil {
		return "", err
	}
	for off := 0; off < len(data); off += chunk {
		end := min(off+chunk, len(data))
		resp, err := c.do("PATCH", loc, map[string]string{
			"Content-Type":  "application/octet-stream",
			"Content-Range": fmt.Sprintf("%d-%d", off, end-1),
		}, bytes.NewReader(data[off:end]))
		if err != nil {
			return "", fmt.Errorf("PATCH %d-%d: %w", off, end-1, err)
		}
		if resp.Status != http.StatusAccepted {
			return "", fmt.Errorf("PATCH %d-%d to %s: want 202, got %s", off, end-1, repo, resp)
		}
		if got, want := resp.Header.Get("Range"), fmt.Sprintf("0-%d", end-1); got != want {
			return "", fmt.Errorf("PATCH %d-%d: Range %q, want %q", off, end-1, got, want)
		}
		if l := resp.Header.Get("Location"); l != "" {
			loc = l
		}
	}
	resp, err := c.do("PUT", withQuery(loc, "digest", dg), map[string]string{"Content-Length": "0"}, nil)
	if err != nil {
		return "", err
	}
	if resp.Status != http.StatusCreated {
		return "", fmt.Errorf("final PUT of %s to %s: want 201, got %s", dg, repo, resp)
	}
	return dg, nil
}

// putManifest PUTs a manifest; the caller checks the status.
func (c *regClient) putManifest(repo, ref, mediaType string, body []byte) (response, error) {
	return c.do("PUT", "/v2/"+repo+"/manifests/"+ref, map[string]string{"Content-Type": mediaType}, bytes.NewReader(body))
}

const acceptAll = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, " +
	"application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json"

func (c *regClient) getManifest(repo, ref string) response {
	c.t.Helper()
	return c.must("GET", "/v2/"+repo+"/manifests/"+ref, map[string]string{"Accept": acceptAll}, nil)
}

func (c *regClient) getBlob(repo, dg string) response {
	c.t.Helper()
	return c.must("GET", "/v2/"+repo+"/blobs/"+dg, nil, nil)
}

// expectManifest checks that repo:ref answers exactly raw.
func (c *regClient) expectManifest(repo, ref string, raw []byte) {
	c.t.Helper()
	resp := c.getManifest(repo, ref)
	if resp.Status != http.StatusOK {
		c.t.Errorf("GET /v2/%s/manifests/%s: want 200, got %s", repo, ref, resp)
		return
	}
	if !bytes.Equal(resp.Body, raw) {
		c.t.Errorf("GET /v2/%s/manifests/%s: body differs from what was pushed (got %s, want %s)", repo, ref, sha256Digest(resp.Body), sha256Digest(raw))
	}
	if got := resp.Header.Get("Docker-Content-Digest"); got != "" && got != sha256Digest(raw) {
		c.t.Errorf("GET /v2/%s/manifests/%s: Docker-Content-Digest %s, want %s", repo, ref, got, sha256Digest(raw))
	}
}

// expectContent checks that every manifest (by digest) and blob of cs is in
// repo, byte-identical.
func (c *regClient) expectContent(repo string, cs contentSet) {
	c.t.Helper()
	for d, raw := range cs.Manifests {
		c.expectManifest(repo, d, raw)
	}
	for d, size := range cs.Blobs {
		resp := c.getBlob(repo, d)
		if resp.Status != http.StatusOK {
			c.t.Errorf("GET /v2/%s/blobs/%s: want 200, got %s", repo, d, resp)
			continue
		}
		if got := sha256Digest(resp.Body); got != d || int64(len(resp.Body)) != size {
			c.t.Errorf("GET /v2/%s/blobs/%s: got %d bytes hashing to %s, want %d bytes", repo, d, len(resp.Body), got, size)
		}
	}
}

// tagList returns the tags of a repository (following Link pagination).
func (c *regClient) tagList(repo string) []string {
	c.t.Helper()
	var all []string
	next := "/v2/" + repo + "/tags/list"
	for i := 0; next != "" && i < 1000; i++ {
		resp := c.must("GET", next, nil, nil)
		if resp.Status != http.StatusOK {
			c.t.Fatalf("GET %s: want 200, got %s", next, resp)
		}
		var tl struct {
			Name string   `json:"name"`
			Tags []string `json:"tags"`
		}
		if err := json.Unmarshal(resp.Body, &tl); err != nil {
			c.t.Fatalf("GET %s: %v: %s", next, err, resp.Body)
		}
		all = append(all, tl.Tags...)
		next = ""
		if link := resp.Header.Get("Link"); link != "" {
			if i := strings.Index(link, "<"); i >= 0 {
				if j := strings.Index(link[i:], ">"); j > 0 {
					next = link[i+1 : i+j]
				}
			}
		}
	}
	return all
}

// pushContent pushes an image or index (children by digest, blobs first)
// and tags the top manifest; it returns the top manifest's digest.
func (c *regClient) pushContent(repo, tag string, v any) string {
	c.t.Helper()
	var push func(v any, ref string) string
	push = func(v any, ref string) string {
		switch x := v.(type) {
		case v1.Image:
			cfg, err := x.RawConfigFile()
			if err != nil {
				c.t.Fatal(err)
			}
			c.pushBlob(repo, cfg)
			layers, err := x.Layers()
			if err != nil {
				c.t.Fatal(err)
			}
			for _, l := range layers {
				r, err := l.Compressed()
				if err != nil {
					c.t.Fatal(err)
				}
				b, err := io.ReadAll(r)
				r.Close()
				if err != nil {
					c.t.Fatal(err)
				}
				c.pushBlob(repo, b)
			}
		case v1.ImageIndex:
			im, err := x.IndexManifest()
			if err != nil {
				c.t.Fatal(err)
			}
			for _, d := range im.Manifests {
				var child any
				if d.MediaType.IsIndex() {
					child, err = x.ImageIndex(d.Digest)
				} else {
					child, err = x.Image(d.Digest)
				}
				if err != nil {
					c.t.Fatal(err)
				}
				push(child, d.Digest.String())
			}
		default:
			c.t.Fatalf("pushContent: %T", v)
		}
		m := v.(interface {
			RawManifest() ([]byte, error)
			MediaType() (types.MediaType, error)
		})
		raw, err := m.RawManifest()
		if err != nil {
			c.t.Fatal(err)
		}
		mt, _ := m.MediaType()
		if ref == "" {
			ref = sha256Digest(raw)
		}
		resp, err := c.putManifest(repo, ref, string(mt), raw)
		if err != nil || resp.Status != http.StatusCreated {
			c.t.Fatalf("PUT manifest %s:%s: %v %v", repo, ref, err, resp)
		}
		return sha256Digest(raw)
	}
	return push(v, tag)
}
