package storage

import (
	"context"
	"encoding/json"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Referrers lists the manifests whose subject is subject, across the
// repository's areas (the first area wins for a manifest found in several),
// sorted by digest so the answer is stable.
func (r *Repo) Referrers(ctx context.Context, subject digest.Digest) ([]ocispec.Descriptor, error) {
	if err := subject.Validate(); err != nil {
		return nil, ErrDigestInvalid
	}
	seen := map[digest.Digest]bool{}
	var out []ocispec.Descriptor
	for _, a := range r.areas {
		paths, err := r.s.d.List(ctx, referrersDir(a, r.name, subject))
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, p := range paths {
			b, err := r.s.d.GetContent(ctx, p)
			if isNotFound(err) {
				continue // deleted while we listed
			}
			if err != nil {
				return nil, err
			}
			var desc ocispec.Descriptor
			if err := json.Unmarshal(b, &desc); err != nil || seen[desc.Digest] {
				continue
			}
			seen[desc.Digest] = true
			out = append(out, desc)
		}
	}
	slices.SortFunc(out, func(a, b ocispec.Descriptor) int { return strings.Compare(string(a.Digest), string(b.Digest)) })
	return out, nil
}
