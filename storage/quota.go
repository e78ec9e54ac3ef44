package storage

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/shadowreg/shadowreg/internal/errcode"
)

// QuotaExceededError refuses content that would take an area past its
// quota.
type QuotaExceededError struct {
	Area    string
	Used    int64 // bytes the area names now
	Adding  int64 // bytes the refused content would add
	Allowed int64
}

func (e *QuotaExceededError) Error() string {
	return fmt.Sprintf("quota exceeded: %d bytes used of %d allowed; this would add %d", e.Used, e.Allowed, e.Adding)
}

// OCIError: DENIED, with the figures as detail.
func (e *QuotaExceededError) OCIError() *errcode.Error {
	return errcode.New(errcode.Denied, "%s", e.Error()).WithDetail(map[string]int64{
		"used": e.Used, "allowed": e.Allowed, "adding": e.Adding})
}

// usageRecheck is how long a computed area usage is trusted before it is
// walked again; in between it is kept up to date by this process's writes.
// Another replica's writes are seen after at most this long.
const usageRecheck = time.Minute

// usageCache remembers areas' usage for quota checks.
type usageCache struct {
	mu    sync.Mutex
	areas map[string]*areaUsage
	locks keyedMutex
}

type areaUsage struct {
	bytes    int64
	computed time.Time
}

func (u *usageCache) forget(area string) {
	u.mu.Lock()
	delete(u.areas, area)
	u.mu.Unlock()
}

// admit checks that adding size bytes of d to repository name keeps area
// within its quota, and counts them. Content the repository already holds
// adds nothing; the same content in two repositories of one area is counted
// twice until the next recount (usageRecheck), which errs on the safe side.
func (s *Store) admit(ctx context.Context, area, name string, d digest.Digest, size int64) error {
	if s.quota == nil {
		return nil
	}
	allowed, err := s.quota(ctx, area)
	if err != nil || allowed <= 0 {
		return err
	}
	unlock := s.usage.locks.Lock(area)
	defer unlock()
	if _, err := s.statFile(ctx, blobLinkPath(area, name, d)); err == nil {
		return nil
	}
	s.usage.mu.Lock()
	if s.usage.areas == nil {
		s.usage.areas = map[string]*areaUsage{}
	}
	au := s.usage.areas[area]
	s.usage.mu.Unlock()
	if au == nil || s.now().Sub(au.computed) > usageRecheck {
		used, err := s.AreaUsage(ctx, area)
		if err != nil {
			return err
		}
		au = &areaUsage{bytes: used, computed: s.now()}
		s.usage.mu.Lock()
		s.usage.areas[area] = au
		s.usage.mu.Unlock()
	}
	s.usage.mu.Lock()
	defer s.usage.mu.Unlock()
	if au.bytes+size > allowed {
		return &QuotaExceededError{Area: area, Used: au.bytes, Adding: size, Allowed: allowed}
	}
	au.bytes += size
	return nil
}
