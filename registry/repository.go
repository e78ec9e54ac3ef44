package registry

import (
	"context"
	"errors"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/shadowreg/shadowreg/internal/ref"
	"github.com/shadowreg/shadowreg/registry/buildset"
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
	// PutManifest stores a pushed manifest in Local(), refusing it
	// (storage.ManifestBlobUnknownError) when the repository cannot serve
	// what it references.
	PutManifest(ctx context.Context, m *storage.Manifest, p *storage.Parsed, tags ...string) error
}

var (
	_ Repository = (*storage.Repo)(nil)
	_ Repository = (*shadow.Repo)(nil)
)

// Resolver opens the repository a request's canonical target names: it
// maps buildsets to their areas and namespaces to their upstreams.
type Resolver interface {
	// Repository opens target. write says the request writes to it (a
	// buildset may then be created implicitly). Errors are *Error values
	// (NAME_UNKNOWN for a buildset that does not exist) or storage errors.
	Repository(ctx context.Context, target ref.Target, write bool) (Repository, error)
	// Catalog lists the repositories for GET /v2/_catalog: those with
	// manifests in the shared area, or for a caller bound to buildset
	// bound, in that buildset's areas (as targets in it).
	Catalog(ctx context.Context, bound string) ([]ref.Target, error)
}

// Router is the Resolver of a shadowreg. Reads of a target in a buildset go
// through the buildset's areas (its own, its parents', the shared one),
// then the namespace's cache and upstream; writes go to the first.
type Router struct {
	store      *storage.Store
	namespaces map[string]*shadow.Namespace
	opts       RouterOptions
}

// RouterOptions configure a Router.
type RouterOptions struct {
	// Local tunes namespaces without an upstream.
	Local shadow.Options
	// Buildsets, when set, enables buildsets.
	Buildsets *buildset.Manager
	// Implicit creates a buildset on the first push into it.
	Implicit bool
}

// NewRouter returns a router over store. namespaces holds the namespaces
// that have an upstream, by name; every other namespace is local only.
func NewRouter(store *storage.Store, namespaces map[string]*shadow.Namespace, opts RouterOptions) *Router {
	return &Router{store: store, namespaces: namespaces, opts: opts}
}

// Repository implements Resolver.
func (rt *Router) Repository(ctx context.Context, t ref.Target, write bool) (Repository, error) {
	areas, err := rt.areas(ctx, t.Buildset, write)
	if err != nil {
		return nil, err
	}
	local, err := rt.store.Repo(t.Repository(), areas...)
	if err != nil {
		return nil, err
	}
	ns := rt.namespaces[t.Namespace]
	if ns == nil {
		// Cheap to make: a namespace without an upstream holds no state.
		ns = shadow.NewNamespace(t.Namespace, rt.store, nil, rt.opts.Local)
	}
	return ns.Repo(local, t.Path)
}

// areas is the order reads of buildset id ("" for the shared area) go
// through; writes go to the first.
func (rt *Router) areas(ctx context.Context, id string, write bool) ([]string, error) {
	if id == "" {
		return []string{storage.SharedArea}, nil
	}
	mgr := rt.opts.Buildsets
	if mgr == nil {
		return nil, errorf("NAME_UNKNOWN", "buildset %s does not exist: this registry has no buildsets", id)
	}
	b, err := mgr.Get(ctx, id)
	if errors.Is(err, buildset.ErrNotFound) && write && rt.opts.Implicit {
		b, _, err = mgr.Create(ctx, buildset.Spec{ID: id})
		if errors.Is(err, buildset.ErrExists) { // created by a concurrent push
			b, err = mgr.Get(ctx, id)
		}
	}
	if errors.Is(err, buildset.ErrNotFound) {
		return nil, errorf("NAME_UNKNOWN", "buildset %s does not exist: %v", id, err)
	}
	if err != nil {
		return nil, err
	}
	return mgr.Areas(ctx, b)
}

// Catalog implements Resolver.
func (rt *Router) Catalog(ctx context.Context, bound string) ([]ref.Target, error) {
	areas := []string{storage.SharedArea}
	if bound != "" {
		var err error
		if areas, err = rt.areas(ctx, bound, false); err != nil {
			return nil, err
		}
	}
	seen := map[ref.Target]bool{}
	var out []ref.Target
	for _, a := range areas {
		names, err := rt.store.Repositories(ctx, a)
		if err != nil {
			return nil, err
		}
		for _, c := range names {
			t, ok := ref.ParseCanonical(c)
			if !ok {
				continue // not a repository shadowreg could have written
			}
			t.Buildset = bound // as the caller names it: in its buildset
			if !seen[t] {
				seen[t] = true
				out = append(out, t)
			}
		}
	}
	return out, nil
}
