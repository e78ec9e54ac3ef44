// Package shadow puts local content over an upstream registry: a read looks
// in the repository's local areas first (what was pushed wins), then in the
// cache of what was fetched before, and only then asks the namespace's
// upstream — once, however many clients ask at the same time — streaming a
// blob to every waiting client while it is verified and cached.
//
// It is distribution's proxy idea as a decorator over the local store, with
// what that proxy lacks: pushes next to the cache, one fetch per miss even
// under concurrency, and a cached tag revalidated after a TTL and served
// stale while the upstream is down.
package shadow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/shadowreg/shadowreg/internal/errcode"
	"github.com/shadowreg/shadowreg/registry/upstream"
	"github.com/shadowreg/shadowreg/storage"
	"github.com/shadowreg/shadowreg/storage/driver"
	"golang.org/x/sync/singleflight"
)

// Upstream is the registry a namespace falls through to. *upstream.Client
// implements it.
type Upstream interface {
	Name() string
	Manifest(ctx context.Context, repo, ref string) (*upstream.Manifest, error)
	ManifestHead(ctx context.Context, repo, ref string) (upstream.Descriptor, error)
	Blob(ctx context.Context, repo string, d digest.Digest, offset int64) (io.ReadCloser, int64, error)
	BlobHead(ctx context.Context, repo string, d digest.Digest) (int64, error)
	Tags(ctx context.Context, repo string) ([]string, error)
	Referrers(ctx context.Context, repo string, subject digest.Digest) ([]ocispec.Descriptor, error)
}

// Options tune a namespace.
type Options struct {
	// Cache keeps what was fetched (in storage.CacheArea). Off, every miss
	// streams from upstream again (concurrent misses still share a fetch).
	Cache bool
	// TagTTL is how long a cached tag is served before it is revalidated
	// with a HEAD to the upstream. 0 revalidates every time.
	TagTTL time.Duration
	// SpoolDir holds blobs being fetched when the storage driver cannot
	// adopt local files (S3). "" means the system's temporary folder.
	SpoolDir string
	// NoFetch answers misses with 404 without asking the upstream, so that
	// clients fall back along their own mirror list (zuul-registry's way).
	NoFetch bool
	// Served, when set, is told where each manifest read (HEAD or GET) and
	// blob GET of the namespace came from: kind "manifest" or "blob",
	// source "local", "cache" or "upstream" (for metrics: how much the
	// cache saves).
	Served func(namespace, kind, source string)
	Now    func() time.Time
	Logger *slog.Logger
}

// The sources Options.Served reports.
const (
	fromLocal    = "local"    // pushed here
	fromCache    = "cache"    // fetched before
	fromUpstream = "upstream" // fetched for this read (or a concurrent one)
)

func (n *Namespace) served(kind, source string) {
	if n.opts.Served != nil {
		n.opts.Served(n.name, kind, source)
	}
}

// Namespace is one namespace's fall-through: its upstream (nil when none is
// configured) and the fetches in flight, shared by all its repositories.
type Namespace struct {
	name  string
	store *storage.Store
	up    Upstream
	opts  Options
	log   *slog.Logger

	flights   singleflight.Group // manifests, tag revalidations, HEADs, tag lists, referrers
	referrers referrersCache     // the upstream's referrers lists
	mu        sync.Mutex
	fetches   map[string]*fetch // blob fetches in flight, by repo@digest
	running   sync.WaitGroup    // fetch goroutines and flights, for Drain

	// base is the context of the work no single client owns (shared
	// fetches, which outlive the client that started them); Stop cancels
	// it.
	base context.Context
	stop context.CancelFunc
}

// NewNamespace returns namespace name (e.g. "docker.io") over store, falling
// through to up. With up nil the namespace is local only.
func NewNamespace(name string, store *storage.Store, up Upstream, opts Options) *Namespace {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	base, stop := context.WithCancel(context.Background())
	return &Namespace{name: name, store: store, up: up, opts: opts,
		log: opts.Logger.With("namespace", name), fetches: map[string]*fetch{}, base: base, stop: stop}
}

// Stop cancels the work in flight that no client owns: upstream fetches
// and flights. Call it at shutdown, after Drain has let them finish (or
// given up waiting).
func (n *Namespace) Stop() { n.stop() }

// detach returns a context for work shared by several requests: it keeps
// ctx's values, not its cancellation (the first client leaving must not
// fail the others), and ends when the namespace stops.
func (n *Namespace) detach(ctx context.Context) (context.Context, context.CancelFunc) {
	d, cancel := context.WithCancel(context.WithoutCancel(ctx))
	unhook := context.AfterFunc(n.base, cancel)
	return d, func() { unhook(); cancel() }
}

// do runs fn once for every concurrent caller with the same key, detached
// from any one of them; a caller whose context ends leaves at once (the
// others, and fn, go on).
func (n *Namespace) do(ctx context.Context, key string, fn func(ctx context.Context) (any, error)) (any, error) {
	ch := n.flights.DoChan(key, func() (any, error) {
		n.running.Add(1) // Drain waits for it, as for blob fetches
		defer n.running.Done()
		d, cancel := n.detach(ctx)
		defer cancel()
		return fn(d)
	})
	select {
	case r := <-ch:
		return r.Val, r.Err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Name is the namespace's name.
func (n *Namespace) Name() string { return n.name }

// Repo returns repository path (inside the namespace: "library/alpine") with
// its local content in local.
func (n *Namespace) Repo(local *storage.Repo, path string) (*Repo, error) {
	if n.fetching() {
		local = local.WithUpstream()
	}
	r := &Repo{ns: n, local: local, path: path}
	if n.up != nil && n.opts.Cache && !n.opts.NoFetch {
		c, err := n.store.Repo(local.Name(), storage.CacheArea)
		if err != nil {
			return nil, err
		}
		r.cache = c.WithUpstream() // cached manifests precede their blobs
	}
	return r, nil
}

// Drain waits until every blob fetch in flight has finished and been cached
// (or ctx ends): on shutdown, so that downloads under way are not wasted,
// and in tests.
func (n *Namespace) Drain(ctx context.Context) error {
	done := make(chan struct{})
	go func() { n.running.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// fetching reports whether misses go to the upstream.
func (n *Namespace) fetching() bool { return n.up != nil && !n.opts.NoFetch }

// tempFile makes a spool file for a blob fetch: one the driver can adopt
// without a copy when it can (the filesystem), else in SpoolDir.
func (n *Namespace) tempFile() (*os.File, bool, error) {
	if a, ok := n.store.Driver().(driver.Adopter); ok && n.opts.Cache {
		f, err := a.TempFile()
		return f, true, err
	}
	f, err := os.CreateTemp(n.opts.SpoolDir, spoolPattern)
	return f, false, err
}

// missError is a miss, explained: it is still storage.ErrManifestUnknown
// (or ErrBlobUnknown) for errors.Is, and it tells the client why.
type missError struct {
	sentinel error
	code     errcode.Code
	msg      string
}

func (e *missError) Error() string            { return e.msg }
func (e *missError) Is(target error) bool     { return target == e.sentinel }
func (e *missError) OCIError() *errcode.Error { return errcode.New(e.code, "%s", e.msg) }

// miss explains a local miss when the upstream is not asked.
func (n *Namespace) miss(sentinel error) error {
	code, what := codeFor(sentinel)
	switch {
	case n.up == nil:
		return &missError{sentinel, code, fmt.Sprintf("%s unknown, and no upstream is configured for namespace %s (pushes to it are local only)", what, n.name)}
	case n.opts.NoFetch:
		return &missError{sentinel, code, fmt.Sprintf("%s unknown here; the upstream of namespace %s is not fetched from (on-miss: not-found)", what, n.name)}
	}
	return sentinel
}

func codeFor(sentinel error) (errcode.Code, string) {
	if sentinel == storage.ErrBlobUnknown {
		return errcode.BlobUnknown, "blob"
	}
	if sentinel == storage.ErrNameUnknown {
		return errcode.NameUnknown, "repository"
	}
	return errcode.ManifestUnknown, "manifest"
}

// upstreamError is the upstream failing (unreachable, 5xx, timeout, bad
// content): a 502, or 504 for a timeout, whose message names the upstream.
type upstreamError struct{ err error }

func (e *upstreamError) Error() string { return e.err.Error() }
func (e *upstreamError) Unwrap() error { return e.err }
func (e *upstreamError) OCIError() *errcode.Error {
	if d, ok := upstream.RateLimited(e.err); ok {
		// The upstream's back-pressure, passed on: the client waits as long
		// as the upstream asked (docker and containerd honour Retry-After).
		a := errcode.New(errcode.TooManyRequests, "%s", e.err.Error())
		if d > 0 {
			a.WithHeader("Retry-After", strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10))
		}
		return a
	}
	status := http.StatusBadGateway
	var ue *upstream.Error
	if errors.As(e.err, &ue) && ue.Timeout() {
		status = http.StatusGatewayTimeout
	}
	return errcode.New(errcode.Unavailable, "%s", e.err.Error()).WithStatus(status)
}

// fromUpstream turns an upstream error into what the registry answers: a
// miss for content the upstream does not have (or refuses: Docker Hub says
// 401 for repositories that do not exist), else an upstream failure.
func (n *Namespace) fromUpstream(err error, sentinel error) error {
	code, what := codeFor(sentinel)
	switch {
	case errors.Is(err, upstream.ErrNotFound):
		return &missError{sentinel, code, fmt.Sprintf("%s unknown here and in upstream %s", what, n.up.Name())}
	case errors.Is(err, upstream.ErrUnauthorized):
		return &missError{sentinel, code, fmt.Sprintf("%s unknown here, and upstream %s refused access (the repository may not exist, or need credentials): %v", what, n.up.Name(), err)}
	case errors.Is(err, context.Canceled):
		return err
	}
	return &upstreamError{err}
}
