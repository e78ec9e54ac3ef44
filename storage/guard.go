package storage

import (
	"context"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
)

// gcGuard keeps garbage collection from deleting a blob that a push is
// about to reference, without making pushes wait for the collection.
//
// Every operation that makes a new reference to content (a link, a
// manifest, a mount, a promotion, a blob written) holds the guard shared
// and notes the digests BEFORE it checks that the content exists or writes
// it. The collector walks the blobs on its own, with nothing held, and
// deletes its candidates batch by batch: for each batch it takes the record
// of notes for a moment (doom), drops what was noted since its marking
// began and marks the rest as being deleted. A reference noting a digest
// that is being deleted waits until that one deletion is over, then finds
// the content gone (and refuses, or writes its own bytes). So a reference
// is either noted before the doom (and its content spared) or checks for
// the content after it was deleted: never a reference to deleted content.
//
// The shared hold exists for the start of a marking only: startRecording
// takes the guard exclusively for a moment, so no reference is half made
// (its link not yet written when the marking walks past, and not noted
// because recording had not begun). Nothing else is exclusive: a push
// waits at most for that moment, for the few microseconds of a doom, and —
// only when it names garbage being deleted — for that one deletion.
//
// The guard is per process; replicas sharing a bucket coordinate through it
// with claims and tombstones (claims.go).
type gcGuard struct {
	mu sync.RWMutex

	// collecting serialises collections: each needs the record of what was
	// referenced during its own marking.
	collecting sync.Mutex

	noteMu    sync.Mutex
	recording bool
	noted     map[digest.Digest]bool
	// deleting holds the digests a collector has doomed and not yet
	// deleted; each channel closes when that deletion is over.
	deleting map[digest.Digest]chan struct{}

	// pause, when set, is told how long each exclusive section lasted
	// (from asking for it to leaving it): what a push may have waited.
	pause func(time.Duration)
	// waited, when set (tests), is told how long each hold and each note
	// waited: what references actually waited for collections.
	waited func(time.Duration)
}

// hold takes the guard shared, for the duration of one reference.
func (g *gcGuard) hold() func() {
	start := time.Now()
	g.mu.RLock()
	g.sawWait(start)
	return g.mu.RUnlock
}

func (g *gcGuard) sawWait(since time.Time) {
	if g.waited != nil {
		g.waited(time.Since(since))
	}
}

// note records digests about to be referenced while a collection runs, and
// waits while the collector is deleting any of them. Callers note before
// they check for the content or write it.
func (g *gcGuard) note(ctx context.Context, ds ...digest.Digest) error {
	var wait []chan struct{}
	g.noteMu.Lock()
	if g.recording {
		for _, d := range ds {
			g.noted[d] = true
			if ch, ok := g.deleting[d]; ok {
				wait = append(wait, ch)
			}
		}
	}
	g.noteMu.Unlock()
	start := time.Now()
	defer g.sawWait(start)
	for _, ch := range wait {
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// startRecording begins a collection's marking. It takes the guard
// exclusively for a moment, so that no reference is half made (noted before
// recording began, its link not yet written): every reference is then
// either written before the marking walks, or noted.
func (g *gcGuard) startRecording() {
	asked := time.Now()
	g.mu.Lock()
	g.noteMu.Lock()
	g.recording, g.noted, g.deleting = true, map[digest.Digest]bool{}, map[digest.Digest]chan struct{}{}
	g.noteMu.Unlock()
	g.mu.Unlock()
	g.paused(asked)
}

// stopRecording ends a collection; nothing may still be doomed.
func (g *gcGuard) stopRecording() {
	g.noteMu.Lock()
	for d, ch := range g.deleting {
		close(ch) // a sweep that ended early (an error) left it
		delete(g.deleting, d)
	}
	g.recording, g.noted, g.deleting = false, nil, nil
	g.noteMu.Unlock()
}

// doom takes the candidates of one batch: it drops those noted since the
// marking began and marks the others as being deleted, atomically with
// respect to note. keep[i] reports that ds[i] was spared. Unless dry, the
// caller calls deleted for every digest doomed, whatever becomes of it.
func (g *gcGuard) doom(ds []digest.Digest, dry bool) (keep []bool) {
	asked := time.Now()
	keep = make([]bool, len(ds))
	g.noteMu.Lock()
	for i, d := range ds {
		if g.noted[d] {
			keep[i] = true
			continue
		}
		if !dry {
			g.deleting[d] = make(chan struct{})
		}
	}
	g.noteMu.Unlock()
	g.paused(asked)
	return keep
}

// deleted ends the deletion of d (done, or given up): references waiting
// for it go on, and find the content or not.
func (g *gcGuard) deleted(d digest.Digest) {
	g.noteMu.Lock()
	if ch, ok := g.deleting[d]; ok {
		close(ch)
		delete(g.deleting, d)
	}
	g.noteMu.Unlock()
}

func (g *gcGuard) paused(since time.Time) {
	if g.pause != nil {
		g.pause(time.Since(since))
	}
}
