// Package buildset manages buildsets: named areas of the store, one per CI
// buildset, each able to sit on top of the buildsets of the changes ahead of
// it. A buildset's reads fall through its own area, then its parents' (in
// order, transitively), then the shared area; its writes stay in its own.
// Nothing is copied: areas name shared, content-addressed bytes.
//
// A buildset's metadata is one small JSON object in the store, so replicas
// sharing a bucket share their buildsets.
package buildset

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/shadowreg/shadowreg/internal/ref"
	"github.com/shadowreg/shadowreg/registry/auth"
	"github.com/shadowreg/shadowreg/storage"
	"github.com/shadowreg/shadowreg/storage/driver"
	"golang.org/x/crypto/bcrypt"
)

// Buildset is one buildset's metadata.
type Buildset struct {
	ID      string   `json:"id"`
	Parents []string `json:"parents"` // in the order reads fall through them
	// ParentsCreated holds each parent's creation time: a parent id deleted
	// and reused for an unrelated buildset is not this one's parent.
	ParentsCreated []time.Time `json:"parentsCreated,omitempty"`
	Created        time.Time   `json:"created"`           //
	Expires        time.Time   `json:"expires,omitzero"`  // zero: never
	Quota          int64       `json:"quota,omitempty"`   // bytes; 0: none
	Promoted       time.Time   `json:"promoted,omitzero"` // last promotion into the shared area
	Secret         string      `json:"secret,omitempty"`  // bcrypt hash of the buildset's password
}

// Username is the user name of a buildset's credentials.
func Username(id string) string { return userPrefix + id }

const userPrefix = "buildset-"

// Area is the store area holding a buildset's content.
func Area(id string) string { return ref.BuildsetArea(id) }

// ValidID reports whether id can name a buildset (ref.ValidBuildsetID).
func ValidID(id string) bool { return ref.ValidBuildsetID(id) }

// Spec is what a buildset is created with.
type Spec struct {
	ID      string
	Parents []string
	TTL     time.Duration // 0: Options.DefaultTTL; negative: never expires
	Quota   int64         // bytes; 0: none
}

// Options tune a Manager.
type Options struct {
	// DefaultTTL is a buildset's time to live when its creator gives none.
	DefaultTTL time.Duration
	Now        func() time.Time
	Logger     *slog.Logger
	// Collected, when set, is told of every collection that was not a dry
	// run, failed or not (for metrics).
	Collected func(rep *storage.CollectReport, err error)
}

// Manager creates, finds and deletes buildsets.
type Manager struct {
	store *storage.Store
	d     driver.Driver
	opts  Options
	log   *slog.Logger

	mu    sync.Mutex
	cache map[string]cached // recent metadata reads, so a request does not cost a read
}

type cached struct {
	b  *Buildset // nil: known not to exist
	at time.Time
}

// cacheFor is how long metadata read from the store is trusted. Creating or
// deleting through this process takes effect at once; through another
// replica, within this long.
const cacheFor = 2 * time.Second

const metaRoot = "buildsets"

func metaPath(id string) string { return path.Join(metaRoot, id) }

// NewManager returns the buildsets of store.
func NewManager(store *storage.Store, opts Options) *Manager {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.DefaultTTL == 0 {
		opts.DefaultTTL = 24 * time.Hour
	}
	return &Manager{store: store, d: store.Driver(), opts: opts, log: opts.Logger, cache: map[string]cached{}}
}

// Create makes a buildset and returns it with the password of its
// credentials (user Username(id)), which is not stored anywhere in clear.
func (m *Manager) Create(ctx context.Context, spec Spec) (*Buildset, string, error) {
	if !ValidID(spec.ID) {
		return nil, "", errorf(ErrInvalid, "id %q: use lower case letters, digits, '.', '_' and '-' (at most 64)", spec.ID)
	}
	if spec.Quota < 0 {
		return nil, "", errorf(ErrInvalid, "quota must not be negative")
	}
	if _, err := m.read(ctx, spec.ID); err == nil {
		return nil, "", errorf(ErrExists, "%s", spec.ID)
	} else if !errors.Is(err, ErrNotFound) {
		return nil, "", err
	}
	seen := map[string]bool{}
	var created []time.Time
	for _, p := range spec.Parents {
		if p == spec.ID || seen[p] {
			return nil, "", errorf(ErrInvalid, "parent %q given twice or is the buildset itself", p)
		}
		seen[p] = true
		pb, err := m.Get(ctx, p)
		if errors.Is(err, ErrNotFound) {
			return nil, "", errorf(ErrNotFound, "parent %q: %v", p, err)
		}
		if err != nil {
			return nil, "", fmt.Errorf("parent %q: %w", p, err)
		}
		created = append(created, pb.Created)
	}
	now := m.opts.Now().UTC()
	b := &Buildset{ID: spec.ID, Parents: append([]string{}, spec.Parents...), ParentsCreated: created, Created: now, Quota: spec.Quota}
	switch ttl := spec.TTL; {
	case ttl == 0:
		b.Expires = now.Add(m.opts.DefaultTTL)
	case ttl > 0:
		b.Expires = now.Add(ttl)
	}
	password := rand.Text()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return nil, "", err
	}
	b.Secret = string(hash)
	if err := m.write(ctx, b); err != nil {
		return nil, "", err
	}
	m.log.Info("buildset created", "buildset", b.ID, "parents", b.Parents, "expires", b.Expires, "quota", b.Quota)
	return b, password, nil
}

func (m *Manager) write(ctx context.Context, b *Buildset) error {
	data, err := json.Marshal(b)
	if err != nil {
		return err
	}
	if err := m.d.PutContent(ctx, metaPath(b.ID), data); err != nil {
		return err
	}
	m.remember(b.ID, b)
	return nil
}

// read reads metadata, expired or not.
func (m *Manager) read(ctx context.Context, id string) (*Buildset, error) {
	if !ValidID(id) {
		return nil, ErrNotFound
	}
	m.mu.Lock()
	c, ok := m.cache[id]
	m.mu.Unlock()
	if ok && m.opts.Now().Sub(c.at) < cacheFor {
		if c.b == nil {
			return nil, ErrNotFound
		}
		return c.b, nil
	}
	data, err := m.d.GetContent(ctx, metaPath(id))
	if errors.Is(err, driver.ErrNotFound) {
		m.remember(id, nil)
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	b := &Buildset{}
	if err := json.Unmarshal(data, b); err != nil {
		return nil, fmt.Errorf("buildset %s: corrupt metadata: %w", id, err)
	}
	m.remember(id, b)
	return b, nil
}

func (m *Manager) remember(id string, b *Buildset) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.cache) > 10000 {
		clear(m.cache)
	}
	m.cache[id] = cached{b: b, at: m.opts.Now()}
}

// Expired reports whether b's time is up.
func (m *Manager) Expired(b *Buildset) bool {
	return !b.Expires.IsZero() && !m.opts.Now().Before(b.Expires)
}

// Get returns a live buildset: ErrNotFound when it does not exist or has
// expired (the collector deletes it soon).
func (m *Manager) Get(ctx context.Context, id string) (*Buildset, error) {
	b, err := m.read(ctx, id)
	if err != nil {
		return nil, err
	}
	if m.Expired(b) {
		return nil, errorf(ErrNotFound, "%s expired at %s", id, b.Expires.Format(time.RFC3339))
	}
	return b, nil
}

// List returns every buildset, expired ones included, sorted by id.
func (m *Manager) List(ctx context.Context) ([]*Buildset, error) {
	paths, err := m.d.List(ctx, metaRoot)
	if errors.Is(err, driver.ErrNotFound) {
		return []*Buildset{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := []*Buildset{}
	for _, p := range paths {
		b, err := m.read(ctx, path.Base(p))
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	slices.SortFunc(out, func(a, b *Buildset) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// Delete removes a buildset: its metadata first, so it is gone for every
// request at once, then its area. Content only it referenced is freed by
// the next garbage collection. Its children fall through to what remains.
func (m *Manager) Delete(ctx context.Context, id string) error {
	if _, err := m.read(ctx, id); err != nil {
		return err
	}
	if err := m.d.Delete(ctx, metaPath(id)); err != nil && !errors.Is(err, driver.ErrNotFound) {
		return err
	}
	m.remember(id, nil)
	if err := m.store.DeleteArea(ctx, Area(id)); err != nil {
		return err
	}
	m.log.Info("buildset deleted", "buildset", id)
	return nil
}

// Promote makes a buildset's images visible in the shared area — what
// happens when its change merges — by copying its links, not its blobs.
// It returns the number of links copied. check (see storage.Promote) is
// given the shared repositories it will write before it writes any.
func (m *Manager) Promote(ctx context.Context, id string, check func(repos []string) error) (int, error) {
	b, err := m.Get(ctx, id)
	if err != nil {
		return 0, err
	}
	n, err := m.store.Promote(ctx, Area(id), storage.SharedArea, check)
	if err != nil {
		return n, err
	}
	c := *b
	c.Promoted = m.opts.Now().UTC()
	if err := m.write(ctx, &c); err != nil {
		return n, err
	}
	m.log.Info("buildset promoted", "buildset", id, "links", n)
	return n, nil
}

// Areas is the order reads of buildset b go through: b, its parents in
// order (each followed by its own parents), then the shared area.
func (m *Manager) Areas(ctx context.Context, b *Buildset) ([]string, error) {
	ids, err := m.chain(ctx, b)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(ids)+1)
	for _, id := range ids {
		out = append(out, Area(id))
	}
	return append(out, storage.SharedArea), nil
}

// Chain is auth.Chains: the ids of buildset id's overlay chain, id first;
// none when id does not exist or has expired.
func (m *Manager) Chain(ctx context.Context, id string) ([]string, error) {
	b, err := m.Get(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return m.chain(ctx, b)
}

// chain walks b and its parents, depth first, in order. A parent that was
// deleted or expired (or whose id was reused by an unrelated buildset) is
// left out: the child then falls through to what remains, as documented.
// Any other error reading a parent fails the whole chain: a chain without
// a parent that is merely out of reach would serve the shared or upstream
// image where the parent's speculative one belongs.
func (m *Manager) chain(ctx context.Context, b *Buildset) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	var walk func(b *Buildset, depth int) error
	walk = func(b *Buildset, depth int) error {
		if seen[b.ID] || depth > maxDepth {
			return nil
		}
		seen[b.ID] = true
		out = append(out, b.ID)
		for i, p := range b.Parents {
			pb, err := m.Get(ctx, p)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return fmt.Errorf("buildset %s: reading parent %s: %w", b.ID, p, err)
			}
			if i < len(b.ParentsCreated) && !pb.Created.Equal(b.ParentsCreated[i]) {
				continue // the parent was deleted and its id reused
			}
			if err := walk(pb, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(b, 0); err != nil {
		return nil, err
	}
	return out, nil
}

// maxDepth bounds a chain's depth (parents are fixed at creation, so
// chains cannot loop; this bounds a hand-edited store).
const maxDepth = 32

// ExpiredIDs lists the buildsets whose time is up.
func (m *Manager) ExpiredIDs(ctx context.Context) ([]string, error) {
	all, err := m.List(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, b := range all {
		if m.Expired(b) {
			out = append(out, b.ID)
		}
	}
	return out, nil
}

// DeleteMetadata removes the metadata of buildsets whose areas a garbage
// collection deleted.
func (m *Manager) DeleteMetadata(ctx context.Context, ids []string) error {
	for _, id := range ids {
		if err := m.d.Delete(ctx, metaPath(id)); err != nil && !errors.Is(err, driver.ErrNotFound) {
			return err
		}
		m.remember(id, nil)
	}
	return nil
}

// Quota is storage.Options.Quota: a buildset area's quota.
func (m *Manager) Quota(ctx context.Context, area string) (int64, error) {
	id, ok := ref.BuildsetOfArea(area)
	if !ok {
		return 0, nil
	}
	b, err := m.read(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return b.Quota, nil
}

// Owns is auth.UserSource: every buildset-<id> name is a buildset's, even
// once the buildset is gone.
func (m *Manager) Owns(name string) bool { return strings.HasPrefix(name, userPrefix) }

// User is auth.UserSource: a buildset's credentials. They may push and pull
// any name; the registry directs what they push into the buildset.
func (m *Manager) User(ctx context.Context, name string) (auth.User, bool, error) {
	id, ok := strings.CutPrefix(name, userPrefix)
	if !ok {
		return auth.User{}, false, nil
	}
	b, err := m.Get(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return auth.User{}, false, nil
	}
	if err != nil {
		// Not "no such user": the metadata is out of reach, and a 401 now
		// would make a client give up instead of retrying.
		return auth.User{}, false, err
	}
	if b.Secret == "" {
		return auth.User{}, false, nil
	}
	return auth.User{Name: name, Password: b.Secret, Access: auth.AccessWrite, Buildset: id}, true, nil
}
