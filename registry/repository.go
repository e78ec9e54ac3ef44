package registry

import (
	"context"
	"io"
	"net/http"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/shadowreg/shadowreg/storage"
)

// Repository is one repository as the handlers see it. *storage.Repo is the
// plain local one; a shadowing repository puts local content over an
// upstream registry behind the same methods. Writes always go to Local().
type Repository interface {
	Local() *storage.Repo
	BlobStat(ctx context.Context, d digest.Digest) (ocispec.Descriptor, error)
	BlobReader(ctx context.Context, d digest.Digest, offset int64) (io.ReadCloser, error)
	ManifestStat(ctx context.Context, ref string) (ocispec.Descriptor, error)
	Manifest(ctx context.Context, ref string) (*storage.Manifest, error)
	Tags(ctx context.Context) ([]string, error)
	Referrers(ctx context.Context, subject digest.Digest) ([]ocispec.Descriptor, error)
}

// Resolver finds the repository a request names: it maps names to
// namespaces, buildsets to areas, and namespaces to upstreams.
type Resolver interface {
	// Repository resolves name (as written in the URL) for request r.
	// Errors are *Error values (NAME_INVALID) or storage errors.
	Repository(r *http.Request, name string) (Repository, error)
	// Catalog lists the repositories for GET /v2/_catalog, sorted, as
	// clients name them.
	Catalog(ctx context.Context, r *http.Request) ([]string, error)
}

// LocalResolver resolves every name to local content in one area: the
// registry without upstreams or buildsets.
type LocalResolver struct {
	Store *storage.Store
	Area  string // "" means storage.SharedArea
}

// Repository implements Resolver.
func (l *LocalResolver) Repository(r *http.Request, name string) (Repository, error) {
	n, ok := ParseName(name, r.URL.Query().Get("ns"))
	if !ok {
		return nil, errorf("NAME_INVALID", "invalid repository name %q", name)
	}
	return l.Store.Repo(n.String(), l.area())
}

// Catalog implements Resolver.
func (l *LocalResolver) Catalog(ctx context.Context, r *http.Request) ([]string, error) {
	names, err := l.Store.Repositories(ctx, l.area())
	if err != nil {
		return nil, err
	}
	return displayNames(names), nil
}

func (l *LocalResolver) area() string {
	if l.Area == "" {
		return storage.SharedArea
	}
	return l.Area
}

// displayNames turns canonical store names into client names, sorted.
func displayNames(canonical []string) []string {
	out := make([]string, 0, len(canonical))
	for _, c := range canonical {
		out = append(out, ParseCanonical(c).Display())
	}
	sortStrings(out)
	return out
}
