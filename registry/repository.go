package registry

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
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

// Router is the Resolver of a shadowreg. A name may start with a buildset
// prefix (buildsets/<id>/…); a request authorized with a buildset's
// credentials is in that buildset too (docker's registry-mirrors cannot
// carry a path). The rest of the name picks a namespace and its upstream.
// Reads go through the buildset's areas (its own, its parents', the shared
// one), then the namespace's cache and upstream; writes go to the first.
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
	// Prefix is the first name component that addresses a buildset:
	// "buildsets" makes buildsets/<id>/library/alpine.
	Prefix string
	// Implicit creates a buildset on the first push into it.
	Implicit bool
}

// NewRouter returns a router over store. namespaces holds the namespaces
// that have an upstream, by name; every other namespace is local only.
func NewRouter(store *storage.Store, namespaces map[string]*shadow.Namespace, opts RouterOptions) *Router {
	if opts.Prefix == "" {
		opts.Prefix = "buildsets"
	}
	return &Router{store: store, namespaces: namespaces, opts: opts}
}

// Repository implements Resolver. containerd names the registry it means
// with ?ns=<host> when the path does not.
func (rt *Router) Repository(r *http.Request, name string) (Repository, error) {
	areas, rest, err := rt.areas(r, name)
	if err != nil {
		return nil, err
	}
	n, ok := ParseName(rest, r.URL.Query().Get("ns"))
	if !ok {
		return nil, errorf("NAME_INVALID", "invalid repository name %q", name)
	}
	local, err := rt.store.Repo(n.String(), areas...)
	if err != nil {
		return nil, err
	}
	ns := rt.namespaces[n.Namespace]
	if ns == nil {
		// Cheap to make: a namespace without an upstream holds no state.
		ns = shadow.NewNamespace(n.Namespace, rt.store, nil, rt.opts.Local)
	}
	return ns.Repo(local, n.Path)
}

// areas finds the areas a request reads from, and the name without its
// buildset prefix.
func (rt *Router) areas(r *http.Request, name string) ([]string, string, error) {
	mgr := rt.opts.Buildsets
	if mgr == nil {
		return []string{storage.SharedArea}, name, nil
	}
	id, rest := "", name
	if after, ok := strings.CutPrefix(name, rt.opts.Prefix+"/"); ok {
		var found bool
		if id, rest, found = strings.Cut(after, "/"); !found {
			return nil, "", errorf("NAME_INVALID", "%q names a buildset but no repository in it", name)
		}
	}
	write := r.Method != http.MethodGet && r.Method != http.MethodHead
	if who := IdentityFrom(r.Context()); who != nil && who.Buildset != "" {
		if id == "" {
			id = who.Buildset
		} else if id != who.Buildset && write {
			return nil, "", errorf("DENIED", "the credentials of buildset %s cannot write to buildset %s", who.Buildset, id)
		}
	}
	if id == "" {
		return []string{storage.SharedArea}, name, nil
	}
	b, err := mgr.Get(r.Context(), id)
	if errors.Is(err, buildset.ErrNotFound) && write && rt.opts.Implicit {
		b, _, err = mgr.Create(r.Context(), buildset.Spec{ID: id})
		if errors.Is(err, buildset.ErrExists) { // created by a concurrent push
			b, err = mgr.Get(r.Context(), id)
		}
	}
	if errors.Is(err, buildset.ErrNotFound) {
		return nil, "", errorf("NAME_UNKNOWN", "buildset %s does not exist: %v", id, err)
	}
	if errors.Is(err, buildset.ErrInvalid) {
		return nil, "", errorf("NAME_INVALID", "%v", err)
	}
	if err != nil {
		return nil, "", err
	}
	return mgr.Areas(r.Context(), b), rest, nil
}

// Catalog implements Resolver: the repositories with manifests in the
// shared area, or in the areas of the caller's buildset.
func (rt *Router) Catalog(ctx context.Context, r *http.Request) ([]string, error) {
	areas := []string{storage.SharedArea}
	if who := IdentityFrom(ctx); who != nil && who.Buildset != "" && rt.opts.Buildsets != nil {
		if b, err := rt.opts.Buildsets.Get(ctx, who.Buildset); err == nil {
			areas = rt.opts.Buildsets.Areas(ctx, b)
		}
	}
	seen := map[string]bool{}
	for _, a := range areas {
		names, err := rt.store.Repositories(ctx, a)
		if err != nil {
			return nil, err
		}
		for _, c := range names {
			seen[ParseCanonical(c).Display()] = true
		}
	}
	return slices.Sorted(maps.Keys(seen)), nil
}
