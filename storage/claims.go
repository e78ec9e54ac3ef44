package storage

// Garbage collection across processes. The gcGuard protects a reference
// being made (a push, a mount) from a collection in the same process only.
// Replicas sharing a bucket need the same through the bucket itself, with
// nothing but plain object writes, reads and listings (strongly consistent
// on S3, MinIO and RGW), so the store uses two kinds of small objects:
//
//   - a claim, gc/claims/<id>: "I am about to reference these digests",
//     written by every operation that makes a reference, BEFORE it checks
//     that the content exists;
//   - a tombstone, gc/tombstones/<id>: "I am about to delete these digests",
//     written by a collector BEFORE it reads the claims and deletes.
//
// After writing its claim, a reference waits until no live tombstone names
// its digests, then checks for the content as before. A collector, after
// writing its tombstone, spares every digest some claim names. Whichever of
// the two wrote first is seen by the other: either the collector sees the
// claim and spares the content, or the reference sees the tombstone, waits
// until the deletion is over and finds the content gone (and answers
// BLOB_UNKNOWN / MANIFEST_BLOB_UNKNOWN, or writes its own bytes) — never a
// reference to deleted content.
//
// Claims stay until a later collection removes those older than
// claimRetention; a collection stops deleting once it has run for half of
// that since its marking began, so no collection still sweeping can need a
// claim that is gone. A tombstone older than tombstoneTTL belongs to a
// collector that died: references ignore it and collections remove it; a
// collector stops deleting a batch after tombstoneHold, well before that.

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/shadowreg/shadowreg/storage/driver"
)

const (
	claimsRoot     = "gc/claims"
	tombstonesRoot = "gc/tombstones"

	minClaimRetention = 10 * time.Minute
	tombstoneBatch    = 1000
	tombstoneHold     = time.Minute
	tombstoneTTL      = 5 * time.Minute
	tombstoneWait     = 30 * time.Second       // a reference waits at most this long
	tombstonePoll     = 100 * time.Millisecond // for a tombstone to go
)

// digestList is the content of a claim or a tombstone.
type digestList struct {
	Digests []digest.Digest `json:"digests"`
}

// claimRetention is how long claims are kept: at least the grace period.
// A reference must get from its claim to its commit within half of it.
func (o CollectOptions) claimRetention() time.Duration {
	if o.ClaimRetention > 0 {
		return o.ClaimRetention
	}
	return max(o.Grace, minClaimRetention)
}

// claim announces that the caller is about to reference ds, then waits
// while a collector in another process is deleting any of them. Callers
// check that the content exists after claim returns. It does nothing for a
// store that only this process uses.
func (s *Store) claim(ctx context.Context, ds ...digest.Digest) error {
	if !s.shared || len(ds) == 0 {
		return nil
	}
	id, err := newID()
	if err != nil {
		return err
	}
	b, _ := json.Marshal(digestList{Digests: ds})
	if err := s.d.PutContent(ctx, path.Join(claimsRoot, id), b); err != nil {
		return err
	}
	want := make(map[digest.Digest]bool, len(ds))
	for _, d := range ds {
		want[d] = true
	}
	deadline := s.now().Add(tombstoneWait)
	for {
		busy, err := s.tombstoned(ctx, want)
		if err != nil || !busy {
			return err
		}
		if s.now().After(deadline) {
			return fmt.Errorf("a garbage collection in another process is deleting content this request refers to: %w", ErrUnavailable)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(tombstonePoll):
		}
	}
}

// tombstoned reports whether a live tombstone names one of want.
func (s *Store) tombstoned(ctx context.Context, want map[digest.Digest]bool) (bool, error) {
	found := false
	err := s.d.Walk(ctx, tombstonesRoot, func(fi driver.FileInfo) error {
		if s.now().Sub(fi.ModTime) > tombstoneTTL {
			return nil // its collector died
		}
		l, err := s.readList(ctx, fi.Path)
		if err != nil {
			return err
		}
		for _, d := range l.Digests {
			if want[d] {
				found = true
				return driver.SkipAll
			}
		}
		return nil
	})
	if isNotFound(err) {
		err = nil
	}
	return found, err
}

func (s *Store) readList(ctx context.Context, p string) (digestList, error) {
	var l digestList
	b, err := s.d.GetContent(ctx, p)
	if isNotFound(err) {
		return l, nil // removed while we looked: names nothing any more
	}
	if err != nil {
		return l, err
	}
	if err := json.Unmarshal(b, &l); err != nil {
		s.log.Warn("ignoring an unreadable garbage collection record", "path", p, "err", err)
	}
	return l, nil
}

// claims reads the digests that claims younger than retention name (older
// ones are expired, whether or not a collection has removed them yet),
// reading each claim once per collection (claims never change): seen holds
// those read so far.
func (s *Store) claims(ctx context.Context, retention time.Duration, seen map[string]bool, claimed map[digest.Digest]bool) error {
	now := s.now()
	err := s.d.Walk(ctx, claimsRoot, func(fi driver.FileInfo) error {
		if seen[fi.Path] || now.Sub(fi.ModTime) > retention {
			return nil
		}
		l, err := s.readList(ctx, fi.Path)
		if err != nil {
			return err
		}
		seen[fi.Path] = true
		for _, d := range l.Digests {
			claimed[d] = true
		}
		return nil
	})
	if isNotFound(err) {
		return nil
	}
	return err
}

// waitListingLag lets a lagging listing (driver.ListingLagger) catch up
// before the collector lists claims. Twice the lag: a claim written before
// the tombstone shows after one lag; a claim written up to one lag after it
// may have missed the tombstone in its own listing, and shows within two.
// Either way the collector sees it, so a listing alone never lets it delete
// content a reference is being made to.
func (s *Store) waitListingLag(ctx context.Context) error {
	l, ok := s.d.(driver.ListingLagger)
	if !ok || l.ListingLag() <= 0 {
		return nil
	}
	t := time.NewTimer(2 * l.ListingLag())
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// expireRecords removes claims older than retention and tombstones older
// than tombstoneTTL, at the start of a collection.
func (s *Store) expireRecords(ctx context.Context, now time.Time, retention time.Duration) error {
	for root, age := range map[string]time.Duration{claimsRoot: retention, tombstonesRoot: tombstoneTTL} {
		err := s.d.Walk(ctx, root, func(fi driver.FileInfo) error {
			if now.Sub(fi.ModTime) <= age {
				return nil
			}
			if err := s.d.Delete(ctx, fi.Path); err != nil && !isNotFound(err) {
				return err
			}
			return nil
		})
		if err != nil && !isNotFound(err) {
			return err
		}
	}
	return nil
}

// sweeper deletes the candidates of one collection in batches: each is
// doomed (gcGuard.doom) and then deleted — directly when the store is this
// process's alone, under a tombstone when it is shared.
type sweeper struct {
	s       *Store
	o       CollectOptions
	rep     *CollectReport
	began   time.Time // when marking began
	batch   []driver.FileInfo
	seen    map[string]bool // claims read
	claimed map[digest.Digest]bool
	stopped bool // ran out of time: the rest waits for the next collection
}

// localBatch is how many candidates a collection of a store no other
// process uses dooms at once: a reference to one of them waits for the
// deletions before it in its batch, so few.
const localBatch = 64

func (w *sweeper) add(ctx context.Context, fi driver.FileInfo) error {
	w.batch = append(w.batch, fi)
	size := localBatch
	if w.s.shared {
		size = tombstoneBatch
	}
	if len(w.batch) >= size {
		return w.flush(ctx)
	}
	return nil
}

func (w *sweeper) remove(ctx context.Context, fi driver.FileInfo) error {
	if !w.o.DryRun {
		if err := w.s.d.Delete(ctx, fi.Path); err != nil && !isNotFound(err) {
			return err
		}
	}
	w.rep.Blobs++
	w.rep.BlobBytes += fi.Size
	return nil
}

// flush deletes a batch: doom it in this process; when shared, tombstone
// it, read the claims and skip what they name; delete; remove the
// tombstone.
func (w *sweeper) flush(ctx context.Context) error {
	batch := w.batch
	w.batch = w.batch[:0]
	if len(batch) == 0 || w.stopped {
		return nil
	}
	if w.s.shared && w.s.now().Sub(w.began) > w.o.claimRetention()/2 {
		// Claims older than claimRetention may be gone by now; this
		// collection can no longer tell which content is being referenced.
		w.stopped = true
		w.s.log.Warn("garbage collection ran too long; the rest is left for the next one", "ran", w.s.now().Sub(w.began))
		return nil
	}
	ds := make([]digest.Digest, len(batch))
	for i, fi := range batch {
		ds[i], _ = blobDigest(fi.Path)
	}
	keep := w.s.guard.doom(ds, w.o.DryRun)
	if !w.o.DryRun {
		defer func() {
			for i, d := range ds {
				if !keep[i] {
					w.s.guard.deleted(d)
				}
			}
		}()
	}
	if !w.s.shared {
		for i, fi := range batch {
			if keep[i] {
				continue
			}
			err := w.remove(ctx, fi)
			if !w.o.DryRun {
				w.s.guard.deleted(ds[i]) // at once: a reference waiting for it goes on
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
	var tomb string
	if !w.o.DryRun {
		id, err := newID()
		if err != nil {
			return err
		}
		var doomed []digest.Digest
		for i, d := range ds {
			if !keep[i] {
				doomed = append(doomed, d)
			}
		}
		b, _ := json.Marshal(digestList{Digests: doomed})
		tomb = path.Join(tombstonesRoot, id)
		if err := w.s.d.PutContent(ctx, tomb, b); err != nil {
			return err
		}
		defer w.s.d.Delete(context.WithoutCancel(ctx), tomb)
		if err := w.s.waitListingLag(ctx); err != nil {
			return err
		}
	}
	if err := w.s.claims(ctx, w.o.claimRetention(), w.seen, w.claimed); err != nil {
		return err
	}
	held := w.s.now()
	for i, fi := range batch {
		if keep[i] || w.claimed[ds[i]] {
			continue
		}
		if tomb != "" && w.s.now().Sub(held) > tombstoneHold {
			// References ignore tombstones older than tombstoneTTL; stop
			// well before this one could be taken for a dead collector's.
			w.stopped = true
			return nil
		}
		err := w.remove(ctx, fi)
		if !w.o.DryRun {
			w.s.guard.deleted(ds[i])
		}
		if err != nil {
			return err
		}
	}
	return nil
}
