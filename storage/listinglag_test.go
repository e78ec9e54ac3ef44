package storage

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/shadowreg/shadowreg/storage/driver"
	"github.com/shadowreg/shadowreg/storage/driver/filesystem"
)

// lagDriver is a driver whose listings lag, like Swift's container
// listings: Walk leaves out what PutContent wrote less than lag ago (in
// real time). The map is shared by the drivers of two "processes".
type lagDriver struct {
	driver.Driver
	lag     time.Duration
	mu      *sync.Mutex
	written map[string]time.Time
}

func (l *lagDriver) ListingLag() time.Duration { return l.lag }

func (l *lagDriver) PutContent(ctx context.Context, p string, b []byte) error {
	l.mu.Lock()
	l.written[p] = time.Now()
	l.mu.Unlock()
	return l.Driver.PutContent(ctx, p, b)
}

func (l *lagDriver) Walk(ctx context.Context, p string, fn func(driver.FileInfo) error) error {
	return l.Driver.Walk(ctx, p, func(fi driver.FileInfo) error {
		l.mu.Lock()
		at, ok := l.written[fi.Path]
		l.mu.Unlock()
		if ok && time.Since(at) < l.lag {
			return nil // not in the listing yet
		}
		return fn(fi)
	})
}

// TestCollectorWaitsForListingLag: on a store whose listings lag, a mount
// of garbage X claims it while a collector's tombstone is written but not
// yet listed, so the mount goes ahead and links X. The collector must still
// see the claim, which it lists only after waiting out the lag: X survives.
// Without the wait the collector lists at once, misses the claim (not
// listed yet either) and deletes X under the new link.
func TestCollectorWaitsForListingLag(t *testing.T) {
	e := newGCEnv(t)
	fs, err := filesystem.New(e.dir)
	if err != nil {
		t.Fatal(err)
	}
	const lag = 1500 * time.Millisecond
	mu, written := &sync.Mutex{}, map[string]time.Time{}
	hold := newHoldDriver(fs, tombstonesRoot+"/")
	e.s = New(&lagDriver{Driver: hold, lag: lag, mu: mu, written: written},
		Options{Now: e.clock.Now, ManifestCacheBytes: -1, Shared: true})
	pusher := New(&lagDriver{Driver: fs, lag: lag, mu: mu, written: written},
		Options{Now: e.clock.Now, ManifestCacheBytes: -1, Shared: true})
	src, _ := pusher.Repo("docker.io/lag/src")
	dst, _ := pusher.Repo("docker.io/lag/dst")
	x := e.push(src, gcContent("garbage", 4000))
	if err := src.BlobDelete(t.Context(), x); err != nil {
		t.Fatal(err)
	}
	e.ageAll(2 * time.Hour)
	hold.armed.Store(true)

	collected := make(chan *CollectReport, 1)
	go func() {
		rep, err := e.s.Collect(t.Context(), CollectOptions{Grace: time.Hour})
		if err != nil {
			t.Errorf("Collect: %v", err)
		}
		collected <- rep
	}()
	within(t, hold.held, "the collector to write its tombstone")
	start := time.Now()
	if _, err := dst.BlobMount(t.Context(), x, nil); err != nil {
		t.Fatalf("BlobMount while the tombstone is not listed yet: %v", err)
	}
	if time.Since(start) > lag/2 {
		t.Fatalf("the mount took %v: the tombstone may have become visible, the interleaving was not hit", time.Since(start))
	}
	close(hold.release)
	within(t, collected, "the collection")
	if !e.hasBlob(x) {
		t.Fatal("the collector deleted X, which a mount had claimed and linked: it trusted a lagging listing of claims")
	}
	if err := gcReadBlob(t, dst, x); err != nil {
		t.Error(err)
	}
}
