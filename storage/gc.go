package storage

import (
	"context"
	"encoding/json"
	"errors"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/shadowreg/shadowreg/storage/driver"
	"golang.org/x/sync/errgroup"
)

// CollectOptions tune a garbage collection.
type CollectOptions struct {
	// Grace keeps content younger than this even when nothing refers to it
	// yet: a blob is uploaded before the manifest that names it. Default 1h.
	Grace time.Duration
	// UploadMaxAge deletes upload sessions idle for longer. Default 24h.
	UploadMaxAge time.Duration
	// CacheMaxAge evicts cached upstream content unused for longer; 0 keeps
	// it regardless of age.
	CacheMaxAge time.Duration
	// CacheMaxBytes evicts the least recently used cached content beyond
	// this total; 0 sets no limit.
	CacheMaxBytes int64
	// DropAreas are deleted whole (expired buildsets).
	DropAreas []string
	// DryRun reports what a collection would free, and frees nothing.
	DryRun bool
	// ClaimRetention, on shared storage, is how long the claims of
	// references are kept (see claims.go); 0 means the grace period, and
	// at least 10 minutes. Tests shorten it.
	ClaimRetention time.Duration
}

// CollectReport says what a collection freed (or, dry, would free).
type CollectReport struct {
	DryRun      bool          `json:"dryRun"`
	Areas       []string      `json:"areas"`       // areas deleted
	Uploads     int           `json:"uploads"`     // stale upload sessions
	UploadBytes int64         `json:"uploadBytes"` // their bytes
	CacheLinks  int           `json:"cacheLinks"`  // cached entries evicted
	Blobs       int           `json:"blobs"`       // unreferenced blobs and manifests deleted
	BlobBytes   int64         `json:"blobBytes"`
	TempFiles   int           `json:"tempFiles"` // leftovers of writes a crash cut short
	TempBytes   int64         `json:"tempBytes"`
	FreedBytes  int64         `json:"freedBytes"` // uploads, blobs and temporary files
	Took        time.Duration `json:"took"`
}

func (o *CollectOptions) defaults() {
	if o.Grace <= 0 {
		o.Grace = time.Hour
	}
	if o.UploadMaxAge <= 0 {
		o.UploadMaxAge = 24 * time.Hour
	}
}

// Collect runs one garbage collection while the store keeps serving:
// stale uploads, dropped areas and evicted cache entries go first, then
// every blob that no link names and no manifest references, once it is
// older than the grace period. Pushes racing the sweep are safe (gcGuard).
// A dry run computes exactly what a real one would free at that moment.
func (s *Store) Collect(ctx context.Context, o CollectOptions) (*CollectReport, error) {
	o.defaults()
	s.guard.collecting.Lock()
	defer s.guard.collecting.Unlock()
	start := s.now()
	rep := &CollectReport{DryRun: o.DryRun, Areas: []string{}}
	if s.shared && !o.DryRun {
		if err := s.expireRecords(ctx, start, o.claimRetention()); err != nil {
			return nil, err
		}
	}
	if err := s.collectUploads(ctx, o, start, rep); err != nil {
		return nil, err
	}
	for _, a := range o.DropAreas {
		if !ValidArea(a) {
			return nil, ErrAreaInvalid
		}
		if !o.DryRun {
			if err := s.DeleteArea(ctx, a); err != nil {
				return nil, err
			}
		}
		rep.Areas = append(rep.Areas, a)
	}
	evicted, err := s.cacheEvictions(ctx, o, start)
	if err != nil {
		return nil, err
	}
	rep.CacheLinks = len(evicted)
	if !o.DryRun {
		for _, p := range evicted {
			if err := s.d.Delete(ctx, p); err != nil && !isNotFound(err) {
				return nil, err
			}
		}
	}

	// The blobs are walked with nothing held: pushes go on while the walk
	// lists candidates, and each batch of them is checked against what was
	// referenced meanwhile just before it is deleted (gcGuard.doom).
	s.guard.startRecording()
	defer s.guard.stopRecording()
	w := &sweeper{s: s, o: o, rep: rep, began: s.now(), seen: map[string]bool{}, claimed: map[digest.Digest]bool{}}
	live, err := s.mark(ctx, o, evicted)
	if err != nil {
		return nil, err
	}
	cutoff := start.Add(-o.Grace)
	err = s.d.Walk(ctx, blobsRoot, func(fi driver.FileInfo) error {
		d, ok := blobDigest(fi.Path)
		if !ok || live[d] || !fi.ModTime.Before(cutoff) {
			return nil
		}
		return w.add(ctx, fi)
	})
	if err == nil {
		err = w.flush(ctx)
	}
	if err != nil {
		return nil, err
	}
	if ts, ok := s.d.(driver.TempSweeper); ok {
		// A write idle for an hour (or the grace period, if longer) is not
		// a write any more: a fetch or a PutContent stalls for minutes at
		// most before its timeout ends it. Not less, whatever the grace:
		// a temporary file is in use until it is renamed.
		tempCutoff := start.Add(-max(o.Grace, time.Hour))
		if rep.TempFiles, rep.TempBytes, err = ts.SweepTemp(ctx, tempCutoff, o.DryRun); err != nil {
			return nil, err
		}
	}
	rep.FreedBytes = rep.UploadBytes + rep.BlobBytes + rep.TempBytes
	rep.Took = s.now().Sub(start)
	s.log.Info("garbage collection", "dry_run", o.DryRun, "areas", len(rep.Areas), "uploads", rep.Uploads,
		"cache_links", rep.CacheLinks, "blobs", rep.Blobs, "temp_files", rep.TempFiles, "freed_bytes", rep.FreedBytes, "took", rep.Took)
	return rep, nil
}

// collectUploads deletes upload sessions idle for longer than UploadMaxAge
// (which, on S3, also aborts their multipart uploads).
func (s *Store) collectUploads(ctx context.Context, o CollectOptions, now time.Time, rep *CollectReport) error {
	ids, err := s.d.List(ctx, uploadsRoot)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, dir := range ids {
		id := path.Base(dir)
		var st uploadState
		if b, err := s.d.GetContent(ctx, uploadStatePath(id)); err == nil {
			json.Unmarshal(b, &st)
		}
		updated := st.Updated
		if updated.IsZero() {
			// No state (a crash between creating the data and the state,
			// or a store copy in progress): judge by the files' age.
			if fi, err := s.d.Stat(ctx, uploadDataPath(id)); err == nil {
				updated = fi.ModTime
			} else if fi, err := s.d.Stat(ctx, dir); err == nil {
				updated = fi.ModTime
			}
		}
		if updated.IsZero() || now.Sub(updated) <= o.UploadMaxAge {
			continue
		}
		var size int64
		if fi, err := s.d.Stat(ctx, uploadDataPath(id)); err == nil {
			size = fi.Size
		}
		if !o.DryRun {
			if err := s.d.Delete(ctx, dir); err != nil && !isNotFound(err) {
				// A client writing to it at this moment: it is not stale
				// after all, or the next collection gets it.
				s.log.Info("garbage collection: upload not deleted", "upload", id, "err", err)
				continue
			}
		}
		rep.Uploads++
		rep.UploadBytes += size
	}
	return nil
}

// cacheEvictions picks the cache links to delete: unused past CacheMaxAge,
// then the least recently used until the cache fits CacheMaxBytes. A link's
// modification time is its last use (cache hits renew it, see TouchBlob).
func (s *Store) cacheEvictions(ctx context.Context, o CollectOptions, now time.Time) ([]string, error) {
	if o.CacheMaxAge <= 0 && o.CacheMaxBytes <= 0 {
		return nil, nil
	}
	type entry struct {
		fi   driver.FileInfo
		size int64
	}
	var entries []entry
	var total int64
	err := s.d.Walk(ctx, areaRepos(CacheArea), func(fi driver.FileInfo) error {
		d, ok := linkedDigest(fi.Path)
		if !ok {
			return nil
		}
		var size int64
		if st, err := s.statFile(ctx, blobPath(d)); err == nil {
			size = st.Size
		}
		entries = append(entries, entry{fi, size})
		total += size
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(entries, func(a, b entry) int { return a.fi.ModTime.Compare(b.fi.ModTime) })
	var out []string
	for _, e := range entries {
		old := o.CacheMaxAge > 0 && now.Sub(e.fi.ModTime) > o.CacheMaxAge
		over := o.CacheMaxBytes > 0 && total > o.CacheMaxBytes
		if !old && !over {
			break // sorted oldest first: the rest are newer and fit
		}
		out = append(out, e.fi.Path)
		total -= e.size
	}
	return out, nil
}

// markReaders is how many manifests a marking reads at once.
const markReaders = 16

// mark returns every digest that something still refers to: the target of
// every blob and manifest link in every area (but dropped areas and evicted
// cache links), and everything those manifests reference.
func (s *Store) mark(ctx context.Context, o CollectOptions, evicted []string) (map[digest.Digest]bool, error) {
	skip := map[string]bool{}
	for _, p := range evicted {
		skip[p] = true
	}
	dropped := map[string]bool{}
	for _, a := range o.DropAreas {
		dropped[a] = true
	}
	live := map[digest.Digest]bool{}
	manifests := map[digest.Digest]bool{}
	err := s.d.Walk(ctx, areasRoot, func(fi driver.FileInfo) error {
		area, _, _ := strings.Cut(strings.TrimPrefix(fi.Path, areasRoot+"/"), "/")
		if dropped[area] || skip[fi.Path] {
			return nil
		}
		d, ok := linkedDigest(fi.Path)
		if !ok {
			return nil
		}
		live[d] = true
		// A cached manifest does not keep its layers: cache links alone do,
		// so that evicting them frees space (a later pull refetches).
		if isManifestLink(fi.Path) && area != CacheArea {
			manifests[d] = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Reading the manifests is most of a marking's requests on an object
	// store, each a round trip: read several at once.
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(markReaders)
	for d := range manifests {
		g.Go(func() error {
			data, err := s.manifestContent(gctx, d)
			if errors.Is(err, ErrManifestUnknown) || errors.Is(err, errManifestCorrupt) {
				return nil // gone or rotten: nothing to follow
			}
			if err != nil {
				// Not read (the store out of reach): what it references
				// cannot be told from garbage, so nothing is collected.
				return err
			}
			p, err := ParseManifest("", data)
			if err != nil {
				return nil
			}
			mu.Lock()
			for _, ref := range p.Descriptors() {
				live[ref.Digest] = true
			}
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return live, nil
}

// blobDigest reads a blob's digest from its path, blobs/<alg>/<hh>/<hex>.
func blobDigest(p string) (digest.Digest, bool) {
	parts := strings.Split(p, "/")
	if len(parts) != 4 || parts[0] != blobsRoot {
		return "", false
	}
	d := digest.NewDigestFromEncoded(digest.Algorithm(parts[1]), parts[3])
	return d, d.Validate() == nil
}
