package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

const (
	maxReferrerPages    = 100     // Link pages followed before giving up
	maxReferrerPageSize = 4 << 20 // bytes of one page (an index of descriptors)
)

// Referrers lists the manifests in repo whose subject is subject: through
// the upstream's referrers API, or, where the upstream does not have that API
// (a 404, as distribution v3 answers), through the referrers tag schema that
// OCI clients fall back to (the index tagged "<alg>-<hex>"). shadowreg
// answers the referrers API itself, so clients asking it never fall back to
// that tag on their own: the fallback has to happen here for artifacts
// attached upstream (signatures, SBOMs) to stay visible.
//
// An upstream that knows no referrers gives an empty list, not an error.
func (c *Client) Referrers(ctx context.Context, repo string, subject digest.Digest) ([]ocispec.Descriptor, error) {
	repo, err := c.repoName(repo)
	if err != nil {
		return nil, err
	}
	if err := c.checkDigest(subject); err != nil {
		return nil, err
	}
	var descs []ocispec.Descriptor
	fallback := false
	first := &request{op: "referrers", method: http.MethodGet, url: c.endpoint(repo, "referrers", subject.String()),
		what: repo + "@" + subject.String(), scope: pullScope(repo), limit: maxReferrerPageSize,
		header: http.Header{"Accept": {ocispec.MediaTypeImageIndex}}}
	err = c.pages(ctx, first, maxReferrerPages, func(page int, data []byte, err error) error {
		if page == 0 && errors.Is(err, ErrNotFound) {
			fallback = true
			return errStop
		}
		if err != nil {
			return err
		}
		var idx ocispec.Index
		if err := json.Unmarshal(data, &idx); err != nil {
			return fmt.Errorf("invalid referrers index: %v", err)
		}
		descs = append(descs, idx.Manifests...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if fallback {
		return c.referrersTag(ctx, repo, subject)
	}
	return validReferrers(descs), nil
}

// referrersTag reads the referrers tag schema's index: tag
// "<alg>-<encoded>", cut to the 128 characters a tag may have.
func (c *Client) referrersTag(ctx context.Context, repo string, subject digest.Digest) ([]ocispec.Descriptor, error) {
	tag := subject.Algorithm().String() + "-" + subject.Encoded()
	if len(tag) > 128 {
		tag = tag[:128]
	}
	// HEAD first: most subjects have no such tag, and Docker Hub counts
	// manifest GETs, not HEADs, against its pull limits.
	desc, err := c.ManifestHead(ctx, repo, tag)
	if errors.Is(err, ErrNotFound) {
		return []ocispec.Descriptor{}, nil
	}
	if err != nil {
		return nil, err
	}
	if desc.MediaType != ocispec.MediaTypeImageIndex {
		return []ocispec.Descriptor{}, nil // a tag of that name that is not a referrers index
	}
	m, err := c.Manifest(ctx, repo, desc.Digest.String())
	if err != nil {
		return nil, err
	}
	if m.MediaType != ocispec.MediaTypeImageIndex {
		return []ocispec.Descriptor{}, nil // a tag of that name that is not a referrers index
	}
	var idx ocispec.Index
	if err := json.Unmarshal(m.Data, &idx); err != nil {
		return nil, &Error{Upstream: c.name, Op: "GET manifest " + refString(repo, tag), Err: fmt.Errorf("invalid referrers index: %v", err)}
	}
	return validReferrers(idx.Manifests), nil
}

// validReferrers keeps the descriptors a client can use: a valid digest and
// size. An upstream's junk must not reach clients as if it were ours.
func validReferrers(descs []ocispec.Descriptor) []ocispec.Descriptor {
	kept := make([]ocispec.Descriptor, 0, len(descs))
	for _, d := range descs {
		if d.Digest.Validate() == nil && d.Size > 0 && d.MediaType != "" {
			kept = append(kept, d)
		}
	}
	return kept
}
