package storage

import (
	"context"
	"errors"
	"path"
	"slices"

	"github.com/shadowreg/shadowreg/storage/driver"
)

// Repositories lists the repositories that hold at least one manifest in
// area, sorted. It walks the area, so it costs time in proportion to what
// the area holds; the catalog endpoint is rarely used by clients.
func (s *Store) Repositories(ctx context.Context, area string) ([]string, error) {
	if !ValidArea(area) {
		return nil, ErrAreaInvalid
	}
	seen := map[string]bool{}
	root := path.Join(areasRoot, area, "repos")
	err := s.d.Walk(ctx, root, func(fi driver.FileInfo) error {
		if name, ok := repoFromManifestLink(area, fi.Path); ok {
			seen[name] = true
		}
		return nil
	})
	if err != nil && !errors.Is(err, driver.ErrNotFound) {
		return nil, err
	}
	return sortedKeys(seen), nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func baseName(p string) string { return path.Base(p) }
