// Package storage is shadowreg's OCI content store: blobs, manifests, tags,
// referrers and upload sessions over a driver.Driver (the filesystem, or an
// S3-compatible bucket). It knows repositories, digests and manifests, and
// nothing of HTTP.
//
// Content is addressed by digest and shared; names (which repository holds
// which blob or manifest, tags, referrers) live in areas. A Repo is one
// repository seen through an ordered list of areas: reads try each in turn,
// writes go to the first. That is what lets a buildset sit on top of its
// parents and the shared area without copying anything.
//
// Nothing half-written is ever visible: blobs are written under uploads/,
// verified against their digest and only then moved into blobs/; small
// objects are replaced atomically by the driver's PutContent.
package storage

import (
	"context"
	"errors"
	"log/slog"
	"regexp"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/shadowreg/shadowreg/internal/ref"
	"github.com/shadowreg/shadowreg/storage/driver"
)

// The areas every store has. Buildsets add their own.
const (
	// SharedArea holds what was pushed outside any buildset, and what
	// buildsets promoted.
	SharedArea = ref.SharedArea
	// CacheArea holds what was fetched from upstream registries. It is
	// never part of a repository's local areas: cached tags are revalidated
	// against upstream, local ones are not.
	CacheArea = "cache"
)

// Options tune a Store. The zero value is usable.
type Options struct {
	// Now is the clock (tests inject one).
	Now func() time.Time
	// ManifestCacheBytes bounds the in-memory cache of manifest bytes by
	// digest (immutable, so always safe to cache). 0 means 64 MiB; negative
	// disables it.
	ManifestCacheBytes int64
	Logger             *slog.Logger
	// Quota returns an area's quota in bytes (0 or less: none). Buildsets
	// have quotas; nil means no area has one.
	Quota func(ctx context.Context, area string) (int64, error)
	// Shared says that other processes use the same storage (replicas on
	// one bucket): references and collections then coordinate through it
	// (see claims.go), not only through this process's gcGuard.
	Shared bool
	// GCPause, when set, is told how long each moment lasted in which a
	// garbage collection kept references from being made (the start of its
	// marking, the doom of a batch): what a push may have waited for it.
	GCPause func(time.Duration)
}

// Store is the content store on one driver.
type Store struct {
	d       driver.Driver
	now     func() time.Time
	log     *slog.Logger
	cache   *manifestCache
	uploads keyedMutex
	guard   gcGuard
	usage   usageCache
	quota   func(ctx context.Context, area string) (int64, error)
	touched touchLog
	shared  bool
}

// New returns a store on d.
func New(d driver.Driver, opts Options) *Store {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	size := opts.ManifestCacheBytes
	if size == 0 {
		size = 64 << 20
	}
	s := &Store{d: d, now: opts.Now, log: opts.Logger, cache: newManifestCache(size), quota: opts.Quota, shared: opts.Shared}
	s.guard.pause = opts.GCPause
	return s
}

// Driver returns the driver the store writes to.
func (s *Store) Driver() driver.Driver { return s.d }

var areaRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,127}$`)

// ValidArea reports whether name can name an area.
func ValidArea(name string) bool { return areaRE.MatchString(name) }

// Repo returns repository name seen through areas: reads try each area in
// order, writes go to areas[0]. name must be a valid repository name; the
// caller (the registry) validates it.
func (s *Store) Repo(name string, areas ...string) (*Repo, error) {
	if len(areas) == 0 {
		areas = []string{SharedArea}
	}
	for _, a := range areas {
		if !ValidArea(a) {
			return nil, ErrAreaInvalid
		}
	}
	return &Repo{s: s, name: name, areas: areas}, nil
}

// BlobExists reports whether the store holds content d at all, in any
// repository.
func (s *Store) BlobExists(ctx context.Context, d digest.Digest) (bool, error) {
	if err := d.Validate(); err != nil {
		return false, ErrDigestInvalid
	}
	_, err := s.statFile(ctx, blobPath(d))
	if errors.Is(err, driver.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Repo is one repository through an ordered list of areas.
type Repo struct {
	s     *Store
	name  string
	areas []string
	// upstream is set when reads of the repository fall through to an
	// upstream registry: a manifest may then reference content the store
	// does not hold.
	upstream bool
}

// WithUpstream returns r marked as falling through to an upstream.
func (r *Repo) WithUpstream() *Repo {
	c := *r
	c.upstream = true
	return &c
}

// Name is the repository's name in the store.
func (r *Repo) Name() string { return r.name }

// Areas lists the areas the repository reads from; the first takes writes.
func (r *Repo) Areas() []string { return r.areas }

// Local returns r: the part of a repository that takes writes. Shadowing
// repositories (local content over an upstream) return their local Repo.
func (r *Repo) Local() *Repo { return r }

func (r *Repo) writeArea() string { return r.areas[0] }

// statFile describes a path that can only be a file (a link, a blob): in
// one request on drivers where Stat of a missing path costs two.
func (s *Store) statFile(ctx context.Context, p string) (driver.FileInfo, error) {
	if fs, ok := s.d.(driver.FileStater); ok {
		return fs.StatFile(ctx, p)
	}
	return s.d.Stat(ctx, p)
}

func isNotFound(err error) bool { return errors.Is(err, driver.ErrNotFound) }
