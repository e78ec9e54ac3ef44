package upstream

import (
	"context"
	_ "crypto/sha256" // digest algorithms go-digest computes with
	_ "crypto/sha512"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Manifest media types this package asks for.
const (
	MediaTypeDockerManifest      = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerManifestList  = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaTypeDockerSchema1       = "application/vnd.docker.distribution.manifest.v1+json"
	MediaTypeDockerSchema1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws"
)

// manifestAccept asks for every manifest type in one header, as containerd
// does (some registries read only the first Accept line). Indexes come first
// so that a multi-arch tag is cached as the index, not one platform's
// manifest; schema1 last, only for ancient images.
var manifestAccept = strings.Join([]string{
	ocispec.MediaTypeImageIndex,
	MediaTypeDockerManifestList,
	ocispec.MediaTypeImageManifest,
	MediaTypeDockerManifest,
	MediaTypeDockerSchema1Signed + ";q=0.1",
}, ", ")

// Manifest is a manifest as the upstream serves it, verified.
type Manifest struct {
	Data      []byte
	MediaType string
	Digest    digest.Digest
}

// Descriptor is what ManifestHead reports; only MediaType, Digest and Size are set.
type Descriptor = ocispec.Descriptor

// Manifest fetches repo's manifest ref (a tag or a digest). The bytes are
// verified: against ref when it is a digest, else against the upstream's
// Docker-Content-Digest when sent; bad bytes are never returned.
func (c *Client) Manifest(ctx context.Context, repo, ref string) (*Manifest, error) {
	repo, want, err := c.manifestArgs(repo, ref)
	if err != nil {
		return nil, err
	}
	r := c.manifestRequest(http.MethodGet, repo, ref)
	r.limit = c.maxManifest
	resp, data, err := c.send(ctx, r)
	if err != nil {
		return nil, c.fail(r, err)
	}
	m, err := c.verifyManifest(data, resp.Header, want)
	if err != nil {
		return nil, c.fail(r, err)
	}
	return m, nil
}

// ManifestHead returns the descriptor of repo's manifest ref without its
// bytes. When the upstream's HEAD lacks the digest, a specific media type or
// the size, it falls back to a GET (which verifies the digest).
func (c *Client) ManifestHead(ctx context.Context, repo, ref string) (Descriptor, error) {
	nrepo, want, err := c.manifestArgs(repo, ref)
	if err != nil {
		return Descriptor{}, err
	}
	r := c.manifestRequest(http.MethodHead, nrepo, ref)
	resp, _, err := c.send(ctx, r)
	if err != nil {
		return Descriptor{}, c.fail(r, err)
	}
	resp.Body.Close()
	mt := specificType(resp.Header.Get("Content-Type"))
	d, _ := digest.Parse(resp.Header.Get("Docker-Content-Digest"))
	if want != "" {
		if d != "" && d != want {
			return Descriptor{}, c.fail(r, fmt.Errorf("upstream says digest %s for %s", d, want))
		}
		d = want
	}
	if mt == "" || d == "" || resp.ContentLength < 0 || resp.ContentLength > c.maxManifest {
		c.log.Debug("manifest HEAD incomplete, falling back to GET", "what", r.what)
		m, err := c.Manifest(ctx, repo, ref)
		if err != nil {
			return Descriptor{}, err
		}
		return Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: int64(len(m.Data))}, nil
	}
	return Descriptor{MediaType: mt, Digest: d, Size: resp.ContentLength}, nil
}

// manifestArgs validates the arguments; want is ref's digest, "" for a tag.
func (c *Client) manifestArgs(repo, ref string) (string, digest.Digest, error) {
	repo, err := c.repoName(repo)
	if err != nil {
		return "", "", err
	}
	want, err := c.parseRef(ref)
	return repo, want, err
}

func (c *Client) manifestRequest(method, repo, ref string) *request {
	return &request{op: "manifest", method: method, url: c.endpoint(repo, "manifests", ref),
		what: refString(repo, ref), scope: pullScope(repo), header: http.Header{"Accept": {manifestAccept}}}
}

// verifyManifest checks data against want (the digest asked for) or else
// the upstream's Docker-Content-Digest, and works out its media type.
func (c *Client) verifyManifest(data []byte, h http.Header, want digest.Digest) (*Manifest, error) {
	mt, err := manifestMediaType(h.Get("Content-Type"), data)
	if err != nil {
		return nil, err
	}
	m := &Manifest{Data: data, MediaType: mt}
	if want != "" {
		if got := want.Algorithm().FromBytes(data); got != want {
			return nil, fmt.Errorf("digest mismatch: upstream sent content with digest %s", got)
		}
		m.Digest = want
		return m, nil
	}
	m.Digest = digest.FromBytes(data) // canonical sha256
	if v := h.Get("Docker-Content-Digest"); v != "" {
		said, err := digest.Parse(v)
		if err != nil {
			// Not a digest we can compute (or garbage): our own digest stands.
			c.log.Warn("ignoring unusable Docker-Content-Digest", "value", oneLine(v, 100), "err", err)
			return m, nil
		}
		if got := said.Algorithm().FromBytes(data); got != said {
			return nil, fmt.Errorf("digest mismatch: upstream says %s, content has %s", said, got)
		}
		m.Digest = said // the name the upstream gives it, which clients pull by
	}
	return m, nil
}

// specificType returns the media type of a Content-Type header, or "" when
// it is missing or generic (it says nothing about the manifest).
func specificType(contentType string) string {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return ""
	}
	switch mt {
	case "application/json", "text/plain", "text/html", "application/octet-stream", "binary/octet-stream":
		return ""
	}
	return mt
}

// manifestMediaType takes the media type from Content-Type, else from the
// manifest itself: its mediaType field, or its shape (image-spec says a
// manifest without mediaType is OCI).
func manifestMediaType(contentType string, data []byte) (string, error) {
	if mt := specificType(contentType); mt != "" {
		return mt, nil
	}
	var probe struct {
		SchemaVersion int             `json:"schemaVersion"`
		MediaType     string          `json:"mediaType"`
		Manifests     json.RawMessage `json:"manifests"`
		Config        json.RawMessage `json:"config"`
		Layers        json.RawMessage `json:"layers"`
		Signatures    json.RawMessage `json:"signatures"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return "", fmt.Errorf("manifest is not JSON (Content-Type %q): %v", oneLine(contentType, 100), err)
	}
	switch {
	case probe.MediaType != "":
		return probe.MediaType, nil
	case probe.SchemaVersion == 1 && probe.Signatures != nil:
		return MediaTypeDockerSchema1Signed, nil
	case probe.SchemaVersion == 1:
		return MediaTypeDockerSchema1, nil
	case probe.Manifests != nil:
		return ocispec.MediaTypeImageIndex, nil
	case probe.Config != nil || probe.Layers != nil:
		return ocispec.MediaTypeImageManifest, nil
	}
	return "", fmt.Errorf("cannot tell the manifest's media type (Content-Type %q, no mediaType field)", oneLine(contentType, 100))
}
