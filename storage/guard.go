package storage

import (
	"sync"

	"github.com/opencontainers/go-digest"
)

// gcGuard keeps garbage collection from deleting a blob that a push is
// about to reference. Every operation that makes a new reference to content
// already in the store (a link, a manifest, a mount, a promotion) holds the
// guard shared and notes the digests; the collector's sweep holds it
// exclusively and spares whatever was noted since its marking began. So a
// reference is either seen by the collector (marked or noted) or made after
// the sweep, when the content it checks for is either there or known gone.
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
}

// hold takes the guard shared, for the duration of one reference.
func (g *gcGuard) hold() func() {
	g.mu.RLock()
	return g.mu.RUnlock
}

// note records digests referenced while a collection is marking.
func (g *gcGuard) note(ds ...digest.Digest) {
	g.noteMu.Lock()
	if g.recording {
		for _, d := range ds {
			g.noted[d] = true
		}
	}
	g.noteMu.Unlock()
}

// startRecording begins a collection's marking. It takes the guard
// exclusively for a moment, so that no reference is half made (noted before
// recording began, its link not yet written): every reference is then
// either written before the marking walks, or noted.
func (g *gcGuard) startRecording() {
	g.mu.Lock()
	g.noteMu.Lock()
	g.recording, g.noted = true, map[digest.Digest]bool{}
	g.noteMu.Unlock()
	g.mu.Unlock()
}

// sweep runs fn exclusively, with the digests noted since marking began,
// and ends the recording.
func (g *gcGuard) sweep(fn func(noted map[digest.Digest]bool) error) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.noteMu.Lock()
	noted := g.noted
	g.recording, g.noted = false, nil
	g.noteMu.Unlock()
	return fn(noted)
}
