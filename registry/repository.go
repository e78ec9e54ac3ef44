package registry

import (
	"context"
	"net/http"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/shadowreg/shadowreg/registry/shadow"
	"github.com/shadowreg/shadowreg/storage"
)

// Repository is one repository as the handlers see it: local content over
// the namespace's upstream (shadow.Repo), or plain local content
// (*storage.Repo). Writes always go to Local().
type Repository interface {
	Local() *storage.Repo
	BlobStat(ctx context.Context, d digest.Digest) (ocispec.Descriptor, error)
	// BlobOpen opens a blob for reading: a GET. For a blob only upstream
	// has, this starts (or joins) the one fetch of it.
	BlobOpen(ctx context.Context, d digest.Digest) (storage.Blob, error)
	ManifestStat(ctx context.Context, ref string) (ocispec.Descriptor, error)
	Manifest(ctx context.Context, ref string) (*storage.Manifest, error)
	Tags(ctx context.Context) ([]string, error)
	Referrers(ctx context.Context, subject digest.Digest) ([]ocispec.Descriptor, error)
}

var (
	_ Repository = (*storage.Repo)(nil)
	_ Repository = (*shadow.Repo)(nil)
)

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

// Router is the Resolver of a shadowreg: a name's namespace picks its
// upstream (if one is configured), and its content is read from local areas
// first.
type Router struct {
	store      *storage.Store
	namespaces map[string]*shadow.Namespace
	local      shadow.Options // for namespaces without an upstream
}

// NewRouter returns a router over store. namespaces holds the namespaces
// that have an upstream, by name; every other namespace is local only.
func NewRouter(store *storage.Store, namespaces map[string]*shadow.Namespace, local shadow.Options) *Router {
	return &Router{store: store, namespaces: namespaces, local: local}
}

// Repository implements Resolver. containerd names the registry it means
// with ?ns=<host> when the path does not.
func (rt *Router) Repository(r *http.Request, name string) (Repository, error) {
	n, ok := ParseName(name, r.URL.Query().Get("ns"))
	if !ok {
		return nil, errorf("NAME_INVALID", "invalid repository name %q", name)
	}
	local, err := rt.store.Repo(n.String(), storage.SharedArea)
	if err != nil {
		return nil, err
	}
	ns := rt.namespaces[n.Namespace]
	if ns == nil {
		// Cheap to make: a namespace without an upstream holds no state.
		ns = shadow.NewNamespace(n.Namespace, rt.store, nil, rt.local)
	}
	return ns.Repo(local, n.Path)
}

// Catalog implements Resolver: the repositories with local manifests.
func (rt *Router) Catalog(ctx context.Context, _ *http.Request) ([]string, error) {
	names, err := rt.store.Repositories(ctx, storage.SharedArea)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(names))
	for _, c := range names {
		out = append(out, ParseCanonical(c).Display())
	}
	sortStrings(out)
	return out, nil
}
