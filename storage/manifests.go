package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/shadowreg/shadowreg/internal/ref"
)

// manifestLink records that a repository holds a manifest, with the media
// type it was pushed as (the bytes are in blobs/).
type manifestLink struct {
	MediaType string `json:"mediaType"`
	Size      int64  `json:"size"`
}

// tagLink is a tag: the manifest it names, with enough to answer a HEAD
// without reading the manifest.
type tagLink struct {
	Digest    digest.Digest `json:"digest"`
	MediaType string        `json:"mediaType"`
	Size      int64         `json:"size"`
	Updated   time.Time     `json:"updated"` // when the tag was last set (or revalidated, in a cache)
}

// ValidTag reports whether tag matches the OCI tag grammar (ref.ValidTag).
func ValidTag(tag string) bool { return ref.ValidTag(tag) }

// ManifestStat resolves ref (a tag or a digest) to the manifest's
// descriptor, without reading the manifest.
func (r *Repo) ManifestStat(ctx context.Context, ref string) (ocispec.Descriptor, error) {
	if d, err := digest.Parse(ref); err == nil {
		for _, a := range r.areas {
			link, err := r.manifestLink(ctx, a, d)
			if isNotFound(err) {
				continue
			}
			if err != nil {
				return ocispec.Descriptor{}, err
			}
			return ocispec.Descriptor{MediaType: link.MediaType, Digest: d, Size: link.Size}, nil
		}
		return ocispec.Descriptor{}, ErrManifestUnknown
	}
	t, err := r.tag(ctx, ref)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	return ocispec.Descriptor{MediaType: t.MediaType, Digest: t.Digest, Size: t.Size}, nil
}

// Manifest returns manifest ref, a tag or a digest.
func (r *Repo) Manifest(ctx context.Context, ref string) (*Manifest, error) {
	desc, err := r.ManifestStat(ctx, ref)
	if err != nil {
		return nil, err
	}
	data, err := r.s.manifestContent(ctx, desc.Digest)
	if err != nil {
		return nil, err
	}
	return &Manifest{Digest: desc.Digest, MediaType: desc.MediaType, Data: data}, nil
}

func (r *Repo) manifestLink(ctx context.Context, area string, d digest.Digest) (manifestLink, error) {
	var link manifestLink
	b, err := r.s.d.GetContent(ctx, manifestLinkPath(area, r.name, d))
	if err != nil {
		return link, err
	}
	return link, json.Unmarshal(b, &link)
}

// tag finds tag in the first area that has it.
func (r *Repo) tag(ctx context.Context, tag string) (tagLink, error) {
	var t tagLink
	if !ValidTag(tag) {
		return t, ErrManifestUnknown
	}
	for _, a := range r.areas {
		b, err := r.s.d.GetContent(ctx, tagPath(a, r.name, tag))
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return t, err
		}
		return t, json.Unmarshal(b, &t)
	}
	return t, ErrManifestUnknown
}

// manifestContent reads manifest bytes, verifying them against their digest
// on the way in from storage so that rotten bytes are never served.
func (s *Store) manifestContent(ctx context.Context, d digest.Digest) ([]byte, error) {
	if b, ok := s.cache.get(d); ok {
		return b, nil
	}
	b, err := s.d.GetContent(ctx, blobPath(d))
	if isNotFound(err) {
		return nil, ErrManifestUnknown
	}
	if err != nil {
		return nil, err
	}
	if d.Algorithm().FromBytes(b) != d {
		return nil, fmt.Errorf("manifest %s: %w", d, errManifestCorrupt)
	}
	s.cache.put(d, b)
	return b, nil
}

// errManifestCorrupt: stored manifest bytes that do not match their digest.
var errManifestCorrupt = errors.New("stored bytes do not match the digest")

// PutManifest stores m in the repository's write area and points tags at it.
// p is m parsed (ParseManifest). It checks, once and under the collection
// guard, that the repository's areas hold what m references (or, for a
// repository that falls through to an upstream, that the caller found it
// there): ManifestBlobUnknownError otherwise. Each step is an atomic write,
// ordered so that nothing ever names what is not there yet: bytes, then the
// link, then the referrers entry, then the tags.
func (r *Repo) PutManifest(ctx context.Context, m *Manifest, p *Parsed, tags ...string) error {
	for _, t := range tags {
		if !ValidTag(t) {
			return fmt.Errorf("invalid tag %q", t)
		}
	}
	if err := r.s.admit(ctx, r.writeArea(), r.name, m.Digest, int64(len(m.Data))); err != nil {
		return err
	}
	release := r.s.guard.hold()
	defer release()
	refs := []digest.Digest{m.Digest}
	for _, b := range p.RequiredBlobs() {
		refs = append(refs, b.Digest)
	}
	for _, c := range p.Manifests {
		refs = append(refs, c.Digest)
	}
	if err := r.s.guard.note(ctx, refs...); err != nil {
		return err
	}
	if err := r.s.claim(ctx, refs...); err != nil {
		return err
	}
	if err := r.linkReferences(ctx, p); err != nil {
		return err
	}
	// Always written, even when present: it refreshes the bytes for the
	// garbage collector's grace period, and manifests are small.
	if err := r.s.d.PutContent(ctx, blobPath(m.Digest), m.Data); err != nil {
		return err
	}
	size := int64(len(m.Data))
	link, _ := json.Marshal(manifestLink{MediaType: m.MediaType, Size: size})
	if err := r.s.d.PutContent(ctx, manifestLinkPath(r.writeArea(), r.name, m.Digest), link); err != nil {
		return err
	}
	if p.Subject != nil {
		desc := ocispec.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: size,
			ArtifactType: p.ArtifactType, Annotations: p.Annotations}
		b, _ := json.Marshal(desc)
		if err := r.s.d.PutContent(ctx, referrerPath(r.writeArea(), r.name, p.Subject.Digest, m.Digest), b); err != nil {
			return err
		}
	}
	t, _ := json.Marshal(tagLink{Digest: m.Digest, MediaType: m.MediaType, Size: size, Updated: r.s.now().UTC()})
	for _, tag := range tags {
		if err := r.s.d.PutContent(ctx, tagPath(r.writeArea(), r.name, tag), t); err != nil {
			return err
		}
	}
	r.s.cache.put(m.Digest, m.Data)
	return nil
}

// linkReferences makes the write area name what a manifest references and
// the store holds: blobs, and an index's child manifests. A blob must be
// linked in one of the repository's areas (what it may serve), perhaps
// from a parent buildset; linking it in the write area too keeps the
// manifest whole when that parent goes, and tells the collector it is in
// use.
//
// It runs under the collection guard, and checks that the content is
// there: a blob deleted from the repository may have been swept. Content
// missing refuses the manifest, unless the repository falls through to an
// upstream that can serve it (the caller checked).
func (r *Repo) linkReferences(ctx context.Context, p *Parsed) error {
	area := r.writeArea()
	for _, b := range p.RequiredBlobs() {
		unknown := &ManifestBlobUnknownError{Digest: b.Digest, MediaType: b.MediaType}
		in, err := r.blobLinkArea(ctx, b.Digest)
		if err != nil {
			return err
		}
		if in < 0 && !r.upstream {
			return unknown
		}
		ok, err := r.s.BlobExists(ctx, b.Digest)
		if err != nil {
			return err
		}
		if !ok {
			if r.upstream {
				continue // only upstream has it: reads fall through for it
			}
			return unknown
		}
		if in == 0 {
			continue
		}
		if err := r.linkBlob(ctx, b.Digest); err != nil {
			return err
		}
	}
	for _, c := range p.Manifests {
		if _, err := r.s.statFile(ctx, manifestLinkPath(area, r.name, c.Digest)); err == nil {
			continue
		}
		desc, err := r.ManifestStat(ctx, c.Digest.String())
		if err == nil {
			_, err = r.s.manifestContent(ctx, c.Digest)
		}
		if err != nil {
			if errors.Is(err, ErrManifestUnknown) && r.upstream {
				continue // served from the cache or upstream
			}
			if errors.Is(err, ErrManifestUnknown) {
				return &ManifestBlobUnknownError{Digest: c.Digest, MediaType: c.MediaType}
			}
			return err
		}
		link, _ := json.Marshal(manifestLink{MediaType: desc.MediaType, Size: desc.Size})
		if err := r.s.d.PutContent(ctx, manifestLinkPath(area, r.name, c.Digest), link); err != nil {
			return err
		}
	}
	return nil
}

// TagStat describes the manifest tag points at and when the tag was set,
// from the first area that has it.
func (r *Repo) TagStat(ctx context.Context, tag string) (ocispec.Descriptor, time.Time, error) {
	t, err := r.tag(ctx, tag)
	if err != nil {
		return ocispec.Descriptor{}, time.Time{}, err
	}
	return ocispec.Descriptor{MediaType: t.MediaType, Digest: t.Digest, Size: t.Size}, t.Updated, nil
}

// Tag points tag, in the write area, at manifest desc, which the repository
// must hold (ErrManifestUnknown otherwise).
func (r *Repo) Tag(ctx context.Context, tag string, desc ocispec.Descriptor) error {
	if !ValidTag(tag) {
		return fmt.Errorf("invalid tag %q", tag)
	}
	if _, err := r.ManifestStat(ctx, desc.Digest.String()); err != nil {
		return err
	}
	b, _ := json.Marshal(tagLink{Digest: desc.Digest, MediaType: desc.MediaType, Size: desc.Size, Updated: r.s.now().UTC()})
	return r.s.d.PutContent(ctx, tagPath(r.writeArea(), r.name, tag), b)
}

// DeleteManifest removes manifest d from the repository's write area, with
// the tags there that point at it and its referrers entry.
func (r *Repo) DeleteManifest(ctx context.Context, d digest.Digest) error {
	area := r.writeArea()
	if _, err := r.manifestLink(ctx, area, d); err != nil {
		if isNotFound(err) {
			return ErrManifestUnknown
		}
		return err
	}
	tags, err := r.listTags(ctx, area)
	if err != nil {
		return err
	}
	for _, tag := range tags {
		b, err := r.s.d.GetContent(ctx, tagPath(area, r.name, tag))
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return err
		}
		var t tagLink
		if json.Unmarshal(b, &t) == nil && t.Digest == d {
			if err := r.s.d.Delete(ctx, tagPath(area, r.name, tag)); err != nil && !isNotFound(err) {
				return err
			}
		}
	}
	if data, err := r.s.manifestContent(ctx, d); err == nil {
		if p, err := ParseManifest("", data); err == nil && p.Subject != nil {
			err := r.s.d.Delete(ctx, referrerPath(area, r.name, p.Subject.Digest, d))
			if err != nil && !isNotFound(err) {
				return err
			}
		}
	}
	err = r.s.d.Delete(ctx, manifestLinkPath(area, r.name, d))
	if err != nil && !isNotFound(err) {
		return err
	}
	return nil
}

// DeleteTag removes tag from the repository's write area.
func (r *Repo) DeleteTag(ctx context.Context, tag string) error {
	if !ValidTag(tag) {
		return ErrManifestUnknown
	}
	err := r.s.d.Delete(ctx, tagPath(r.writeArea(), r.name, tag))
	if isNotFound(err) {
		return ErrManifestUnknown
	}
	return err
}

// Tags lists the repository's tags across its areas, sorted and unique.
// ErrNameUnknown when no area has the repository at all.
func (r *Repo) Tags(ctx context.Context) ([]string, error) {
	seen := map[string]bool{}
	known := false
	for _, a := range r.areas {
		// A repository is known by content of its own: the folder of a
		// parent name (quay.io/org of quay.io/org/img) does not count.
		for _, dir := range []string{tagDir(a, r.name), manifestLinkDir(a, r.name), path.Join(repoPath(a, r.name), "_blobs")} {
			if _, err := r.s.d.Stat(ctx, dir); err == nil {
				known = true
			} else if !isNotFound(err) {
				return nil, err
			}
		}
		tags, err := r.listTags(ctx, a)
		if err != nil {
			return nil, err
		}
		for _, t := range tags {
			seen[t] = true
		}
	}
	if !known {
		return nil, ErrNameUnknown
	}
	return sortedKeys(seen), nil
}

func (r *Repo) listTags(ctx context.Context, area string) ([]string, error) {
	paths, err := r.s.d.List(ctx, tagDir(area, r.name))
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	tags := make([]string, 0, len(paths))
	for _, p := range paths {
		tags = append(tags, baseName(p))
	}
	return tags, nil
}
