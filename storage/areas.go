package storage

import (
	"context"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	"github.com/shadowreg/shadowreg/storage/driver"
)

// areaRepos is the folder holding an area's repositories.
func areaRepos(area string) string { return path.Join(areasRoot, area, "repos") }

// Promote makes what area from names visible in area to as well: every link
// (blobs, manifests, referrers, tags) is copied; the content itself is not,
// since links name shared bytes. Within each repository the walk reaches
// _blobs, _manifests and _referrers before _tags, so a tag never names a
// manifest the target does not hold yet.
//
// check, when not nil, is given every repository the promotion will write
// in to (sorted, by name) before anything is written; an error from it
// ends the promotion with nothing written: the caller decides there
// whether the promotion may change those repositories.
func (s *Store) Promote(ctx context.Context, from, to string, check func(repos []string) error) (int, error) {
	if !ValidArea(from) || !ValidArea(to) {
		return 0, ErrAreaInvalid
	}
	release := s.guard.hold()
	defer release()
	src, dst := areaRepos(from)+"/", areaRepos(to)+"/"
	var links, tags []driver.FileInfo
	var digests []digest.Digest
	err := s.d.Walk(ctx, areaRepos(from), func(fi driver.FileInfo) error {
		if strings.Contains(fi.Path, "/_tags/") {
			tags = append(tags, fi) // last, across all repositories
			return nil
		}
		if d, ok := linkedDigest(fi.Path); ok {
			digests = append(digests, d)
		}
		links = append(links, fi)
		return nil
	})
	if err != nil {
		return 0, err
	}
	if check != nil {
		repos := map[string]bool{}
		for _, fi := range append(slices.Clone(links), tags...) {
			if name, ok := repoOfLink(from, fi.Path); ok {
				repos[name] = true
			}
		}
		if err := check(slices.Sorted(maps.Keys(repos))); err != nil {
			return 0, err
		}
	}
	if err := s.guard.note(ctx, digests...); err != nil {
		return 0, err
	}
	// Other replicas' collectors see these references once they are
	// written; until then the claim keeps them from deleting the content
	// (should the source area be dropped meanwhile).
	if err := s.claim(ctx, digests...); err != nil {
		return 0, err
	}
	n := 0
	copyLink := func(fi driver.FileInfo) error {
		b, err := s.d.GetContent(ctx, fi.Path)
		if isNotFound(err) {
			return nil // deleted while we walked
		}
		if err != nil {
			return err
		}
		n++
		return s.d.PutContent(ctx, dst+strings.TrimPrefix(fi.Path, src), b)
	}
	for _, fi := range append(links, tags...) {
		if err := copyLink(fi); err != nil {
			return n, err
		}
	}
	return n, nil
}

// DeleteArea removes an area and everything it names. The content it alone
// referenced goes at the next garbage collection.
func (s *Store) DeleteArea(ctx context.Context, area string) error {
	if !ValidArea(area) {
		return ErrAreaInvalid
	}
	s.usage.forget(area)
	err := s.d.Delete(ctx, areaPath(area))
	if isNotFound(err) {
		return nil
	}
	return err
}

// AreaUsage is the size of the distinct content an area names: its blobs and
// manifests, each counted once however many repositories hold it.
func (s *Store) AreaUsage(ctx context.Context, area string) (int64, error) {
	if !ValidArea(area) {
		return 0, ErrAreaInvalid
	}
	seen := map[string]bool{}
	var total int64
	err := s.d.Walk(ctx, areaRepos(area), func(fi driver.FileInfo) error {
		d, ok := linkedDigest(fi.Path)
		if !ok || seen[d.String()] {
			return nil
		}
		seen[d.String()] = true
		st, err := s.statFile(ctx, blobPath(d))
		if isNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		total += st.Size
		return nil
	})
	return total, err
}
