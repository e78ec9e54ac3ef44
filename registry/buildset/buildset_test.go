package buildset_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/shadowreg/shadowreg/internal/ref"
	"github.com/shadowreg/shadowreg/registry/auth"
	"github.com/shadowreg/shadowreg/registry/buildset"
	"github.com/shadowreg/shadowreg/storage"
	"github.com/shadowreg/shadowreg/storage/driver/filesystem"
)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// env is a store with buildsets, assembled as cmd/shadowreg/cli/app.go
// does: the store asks the manager for quotas.
type env struct {
	t     *testing.T
	dir   string
	store *storage.Store
	mgr   *buildset.Manager
	clock *clock
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), clock: &clock{t: time.Now()}}
	d, err := filesystem.New(e.dir)
	if err != nil {
		t.Fatal(err)
	}
	e.store = storage.New(d, storage.Options{Quota: func(ctx context.Context, area string) (int64, error) {
		return e.mgr.Quota(ctx, area)
	}})
	e.mgr = buildset.NewManager(e.store, buildset.Options{Now: e.clock.Now})
	return e
}

func (e *env) create(spec buildset.Spec) (*buildset.Buildset, string) {
	e.t.Helper()
	b, pw, err := e.mgr.Create(e.t.Context(), spec)
	if err != nil {
		e.t.Fatalf("Create(%+v): %v", spec, err)
	}
	return b, pw
}

func (e *env) get(id string) *buildset.Buildset {
	e.t.Helper()
	b, err := e.mgr.Get(e.t.Context(), id)
	if err != nil {
		e.t.Fatalf("Get(%s): %v", id, err)
	}
	return b
}

// areas is Areas of b; an error fails the test.
func (e *env) areas(b *buildset.Buildset) []string {
	a, err := e.mgr.Areas(e.t.Context(), b)
	if err != nil {
		e.t.Errorf("Areas(%s): %v", b.ID, err)
	}
	return a
}

// repo is repository name in buildset id (its areas), or in the shared
// area when id is "".
func (e *env) repo(id, name string) *storage.Repo {
	e.t.Helper()
	areas := []string{storage.SharedArea}
	if id != "" {
		areas = e.areas(e.get(id))
	}
	r, err := e.store.Repo(name, areas...)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func upload(ctx context.Context, r *storage.Repo, data []byte) (digest.Digest, error) {
	d := digest.FromBytes(data)
	up, err := r.UploadStart(ctx)
	if err != nil {
		return "", err
	}
	if err := up.Append(ctx, bytes.NewReader(data), 0, int64(len(data))); err != nil {
		return "", err
	}
	_, err = up.Commit(ctx, d)
	return d, err
}

func (e *env) push(r *storage.Repo, data []byte) digest.Digest {
	e.t.Helper()
	d, err := upload(e.t.Context(), r, data)
	if err != nil {
		e.t.Fatalf("push %d bytes: %v", len(data), err)
	}
	return d
}

type image struct {
	m     *storage.Manifest
	p     *storage.Parsed
	blobs []digest.Digest
}

func manifestFor(config, layer []byte) (*storage.Manifest, *storage.Parsed, error) {
	data, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": storage.MediaTypeOCIManifest,
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest.FromBytes(config), "size": len(config)},
		"layers": []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest.FromBytes(layer), "size": len(layer)}},
	})
	p, err := storage.ParseManifest(storage.MediaTypeOCIManifest, data)
	if err != nil {
		return nil, nil, err
	}
	return &storage.Manifest{Digest: digest.FromBytes(data), MediaType: p.MediaType, Data: data}, p, nil
}

// pushImage pushes a one-layer image tagged tag into r.
func (e *env) pushImage(r *storage.Repo, seed, tag string) image {
	e.t.Helper()
	config := fmt.Appendf(nil, `{"architecture":"amd64","os":"linux","seed":%q}`, seed)
	layer := bytes.Repeat([]byte(seed+" layer "), 300)
	img := image{blobs: []digest.Digest{e.push(r, config), e.push(r, layer)}}
	m, p, err := manifestFor(config, layer)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := r.PutManifest(e.t.Context(), m, p, tag); err != nil {
		e.t.Fatal(err)
	}
	img.m, img.p = m, p
	return img
}

// whole checks that image img is readable through r by tag and in full.
func whole(ctx context.Context, r *storage.Repo, tag string, img image) error {
	m, err := r.Manifest(ctx, tag)
	if err != nil {
		return fmt.Errorf("Manifest(%s): %w", tag, err)
	}
	if m.Digest != img.m.Digest {
		return fmt.Errorf("Manifest(%s) = %s, want %s", tag, m.Digest, img.m.Digest)
	}
	for _, d := range img.blobs {
		b, err := r.BlobOpen(ctx, d)
		if err != nil {
			return fmt.Errorf("BlobOpen(%s): %w", d, err)
		}
		defer b.Close()
		rc, err := b.Reader(ctx, 0)
		if err != nil {
			return err
		}
		v := d.Verifier()
		_, err = io.Copy(v, rc)
		rc.Close()
		if err != nil {
			return err
		}
		if !v.Verified() {
			return fmt.Errorf("blob %s: bytes do not match", d)
		}
	}
	return nil
}

// files lists the files under the store folder dir (blobs/, areas/…).
func (e *env) files(dir string) []string {
	e.t.Helper()
	var out []string
	root := filepath.Join(e.dir, dir)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && p == root {
			return filepath.SkipDir
		}
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(e.dir, p)
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

func (e *env) exists(p string) bool {
	_, err := os.Stat(filepath.Join(e.dir, filepath.FromSlash(p)))
	return err == nil
}

func TestCreateGetListDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	before := e.clock.Now()
	a, pw := e.create(buildset.Spec{ID: "a", Quota: 5000})
	if a.ID != "a" || len(a.Parents) != 0 || a.Quota != 5000 || !a.Created.Equal(before.UTC()) {
		t.Errorf("created %+v", a)
	}
	if want := before.Add(24 * time.Hour).UTC(); !a.Expires.Equal(want) {
		t.Errorf("default expiry %v, want %v (24h)", a.Expires, want)
	}
	if pw == "" || a.Secret == "" || a.Secret == pw || !strings.HasPrefix(a.Secret, "$2") {
		t.Errorf("password %q, secret %q: want a password and its bcrypt hash", pw, a.Secret)
	}
	if data, err := e.store.Driver().GetContent(ctx, "buildsets/a"); err != nil || bytes.Contains(data, []byte(pw)) {
		t.Errorf("stored metadata %s (%v) must exist and not hold the password in clear", data, err)
	}
	e.create(buildset.Spec{ID: "c", Parents: []string{"a"}, TTL: -1})
	e.create(buildset.Spec{ID: "b", TTL: time.Hour})

	if got := e.get("a"); got.ID != "a" || got.Quota != 5000 {
		t.Errorf("Get(a) = %+v", got)
	}
	// Another manager on the same store (another replica) sees the same.
	other := buildset.NewManager(e.store, buildset.Options{Now: e.clock.Now})
	if got, err := other.Get(ctx, "c"); err != nil || !slices.Equal(got.Parents, []string{"a"}) || !got.Expires.IsZero() {
		t.Errorf("another manager: Get(c) = %+v, %v; want parents [a], no expiry", got, err)
	}
	list, err := e.mgr.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, b := range list {
		ids = append(ids, b.ID)
	}
	if !slices.Equal(ids, []string{"a", "b", "c"}) {
		t.Errorf("List = %v, want [a b c]", ids)
	}
	if _, _, err := e.mgr.Create(ctx, buildset.Spec{ID: "a"}); !errors.Is(err, buildset.ErrExists) {
		t.Errorf("creating a again: %v, want ErrExists", err)
	}

	r := e.repo("a", "docker.io/library/app")
	e.pushImage(r, "a", "1")
	if err := e.mgr.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.mgr.Get(ctx, "a"); !errors.Is(err, buildset.ErrNotFound) {
		t.Errorf("Get after Delete: %v, want ErrNotFound", err)
	}
	if err := e.mgr.Delete(ctx, "a"); !errors.Is(err, buildset.ErrNotFound) {
		t.Errorf("Delete twice: %v, want ErrNotFound", err)
	}
	if e.exists("buildsets/a") || e.exists("areas/"+buildset.Area("a")) {
		t.Error("Delete left the metadata or the area")
	}
	if list, _ := e.mgr.List(ctx); len(list) != 2 {
		t.Errorf("List after Delete has %d buildsets, want 2", len(list))
	}
	if err := e.mgr.Delete(ctx, "no-such"); !errors.Is(err, buildset.ErrNotFound) {
		t.Errorf("Delete(no-such) = %v", err)
	}
}

func TestInvalidIDs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	for _, id := range []string{"", "A", "Upper", "-a", ".a", "_a", "a/b", "../x", "a b", "a:b", "é", strings.Repeat("a", 65), "a\n"} {
		if buildset.ValidID(id) {
			t.Errorf("ValidID(%q) = true", id)
		}
		if _, _, err := e.mgr.Create(ctx, buildset.Spec{ID: id}); !errors.Is(err, buildset.ErrInvalid) {
			t.Errorf("Create(%q) = %v, want ErrInvalid", id, err)
		}
		if _, err := e.mgr.Get(ctx, id); !errors.Is(err, buildset.ErrNotFound) {
			t.Errorf("Get(%q) = %v, want ErrNotFound", id, err)
		}
	}
	for _, id := range []string{"a", "0", "a.b_c-d", "0123456789abcdef0123456789abcdef", strings.Repeat("z", 64)} {
		if !buildset.ValidID(id) {
			t.Errorf("ValidID(%q) = false", id)
		}
		e.create(buildset.Spec{ID: id})
		if a := buildset.Area(id); !storage.ValidArea(a) {
			t.Errorf("Area(%q) = %q is not a valid area", id, a)
		}
	}
	if _, _, err := e.mgr.Create(ctx, buildset.Spec{ID: "q", Quota: -1}); !errors.Is(err, buildset.ErrInvalid) {
		t.Errorf("negative quota: %v, want ErrInvalid", err)
	}
	if buildset.Area("x") != "bs.x" || buildset.Username("x") != "buildset-x" {
		t.Errorf("Area(x) = %q, Username(x) = %q", buildset.Area("x"), buildset.Username("x"))
	}
}

func TestParentsMustExist(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	e.create(buildset.Spec{ID: "p", TTL: time.Hour})
	cases := []struct {
		spec buildset.Spec
		want error
	}{
		{buildset.Spec{ID: "c1", Parents: []string{"missing"}}, buildset.ErrNotFound},
		{buildset.Spec{ID: "c2", Parents: []string{"p", "missing"}}, buildset.ErrNotFound},
		{buildset.Spec{ID: "c3", Parents: []string{"c3"}}, buildset.ErrInvalid},
		{buildset.Spec{ID: "c4", Parents: []string{"p", "p"}}, buildset.ErrInvalid},
		{buildset.Spec{ID: "c5", Parents: []string{"Bad/Id"}}, buildset.ErrNotFound},
	}
	for _, c := range cases {
		if _, _, err := e.mgr.Create(ctx, c.spec); !errors.Is(err, c.want) {
			t.Errorf("Create(%+v) = %v, want %v", c.spec, err, c.want)
		}
		if _, err := e.mgr.Get(ctx, c.spec.ID); !errors.Is(err, buildset.ErrNotFound) {
			t.Errorf("a refused Create left %s behind: %v", c.spec.ID, err)
		}
	}
	// An expired parent is as good as gone.
	e.clock.Add(2 * time.Hour)
	if _, _, err := e.mgr.Create(ctx, buildset.Spec{ID: "c6", Parents: []string{"p"}}); !errors.Is(err, buildset.ErrNotFound) {
		t.Errorf("expired parent: %v, want ErrNotFound", err)
	}
}

// Parents must exist when a buildset is created, and never change: a
// buildset can only sit on older ones, so no chain of parents loops —
// unless an id is reused after its buildset was deleted. Then the reads
// of both still end, each area read once.
func TestCyclesImpossible(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	e.create(buildset.Spec{ID: "a"})
	e.create(buildset.Spec{ID: "b", Parents: []string{"a"}})
	if _, _, err := e.mgr.Create(ctx, buildset.Spec{ID: "x", Parents: []string{"x"}}); !errors.Is(err, buildset.ErrInvalid) {
		t.Errorf("self parent: %v", err)
	}
	if err := e.mgr.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	e.create(buildset.Spec{ID: "a", Parents: []string{"b"}}) // b's parent is "a" again
	done := make(chan []string)
	go func() { done <- e.areas(e.get("a")) }()
	select {
	case areas := <-done:
		if !slices.Equal(areas, []string{"bs.a", "bs.b", storage.SharedArea}) {
			t.Errorf("Areas(a) = %v, want [bs.a bs.b shared]", areas)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Areas loops on a cycle of parents")
	}
	if areas := e.areas(e.get("b")); !slices.Equal(areas, []string{"bs.b", "bs.a", storage.SharedArea}) {
		t.Errorf("Areas(b) = %v, want [bs.b bs.a shared]", areas)
	}
}

func TestExpiry(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	e.create(buildset.Spec{ID: "short", TTL: time.Hour})
	e.create(buildset.Spec{ID: "forever", TTL: -1})
	e.create(buildset.Spec{ID: "default"})
	short := e.repo("short", "docker.io/library/app")
	img := e.pushImage(short, "short-only", "1")
	keep := e.pushImage(e.repo("forever", "docker.io/library/app"), "forever", "1")

	e.clock.Add(59 * time.Minute)
	if _, err := e.mgr.Get(ctx, "short"); err != nil {
		t.Errorf("before its expiry: %v", err)
	}
	e.clock.Add(2 * time.Minute)
	if _, err := e.mgr.Get(ctx, "short"); !errors.Is(err, buildset.ErrNotFound) {
		t.Errorf("after its expiry: Get = %v, want ErrNotFound", err)
	}
	list, _ := e.mgr.List(ctx)
	found := false
	for _, b := range list {
		if b.ID == "short" {
			found = true
			if !e.mgr.Expired(b) {
				t.Error("List: the expired buildset is not Expired")
			}
		}
	}
	if !found {
		t.Error("List hides an expired buildset before the collector deletes it")
	}
	if ids, _ := e.mgr.ExpiredIDs(ctx); !slices.Equal(ids, []string{"short"}) {
		t.Errorf("ExpiredIDs = %v, want [short]", ids)
	}

	// A dry run changes nothing.
	rep, err := e.mgr.Collect(ctx, storage.CollectOptions{Grace: time.Nanosecond, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Areas, []string{"bs.short"}) || !e.exists("buildsets/short") || !e.exists("areas/bs.short") {
		t.Errorf("dry run: %+v; metadata kept %v, area kept %v", rep, e.exists("buildsets/short"), e.exists("areas/bs.short"))
	}
	time.Sleep(10 * time.Millisecond) // older than a grace of 1ns
	rep, err = e.mgr.Collect(ctx, storage.CollectOptions{Grace: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Areas, []string{"bs.short"}) {
		t.Errorf("Collect areas = %v, want [bs.short]", rep.Areas)
	}
	if e.exists("buildsets/short") || e.exists("areas/bs.short") {
		t.Error("Collect left the expired buildset's metadata or area")
	}
	for _, d := range append([]digest.Digest{img.m.Digest}, img.blobs...) {
		if ok, _ := e.store.BlobExists(ctx, d); ok {
			t.Errorf("%s, which only the expired buildset named, is still stored", d)
		}
	}
	list, _ = e.mgr.List(ctx)
	if len(list) != 2 {
		t.Errorf("List after Collect: %d buildsets, want 2", len(list))
	}
	if err := whole(ctx, e.repo("forever", "docker.io/library/app"), "1", keep); err != nil {
		t.Errorf("a buildset that never expires: %v", err)
	}
	e.clock.Add(23 * time.Hour)
	if _, err := e.mgr.Get(ctx, "default"); !errors.Is(err, buildset.ErrNotFound) {
		t.Errorf("the default TTL (24h) passed: Get = %v", err)
	}
	if _, err := e.mgr.Get(ctx, "forever"); err != nil {
		t.Errorf("TTL never: %v", err)
	}
}

func TestAreasOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	e.create(buildset.Spec{ID: "a"})
	e.create(buildset.Spec{ID: "b", Parents: []string{"a"}})
	e.create(buildset.Spec{ID: "x", TTL: time.Hour})
	e.create(buildset.Spec{ID: "y", Parents: []string{"a"}})
	e.create(buildset.Spec{ID: "c", Parents: []string{"b", "x"}})
	e.create(buildset.Spec{ID: "d", Parents: []string{"b", "y"}}) // a diamond: a twice

	check := func(id string, want ...string) {
		t.Helper()
		if got := e.areas(e.get(id)); !slices.Equal(got, want) {
			t.Errorf("Areas(%s) = %v, want %v", id, got, want)
		}
	}
	check("a", "bs.a", "shared")
	check("b", "bs.b", "bs.a", "shared")
	check("c", "bs.c", "bs.b", "bs.a", "bs.x", "shared")
	check("d", "bs.d", "bs.b", "bs.a", "bs.y", "shared")

	// An expired parent is skipped.
	e.clock.Add(2 * time.Hour)
	check("c", "bs.c", "bs.b", "bs.a", "shared")
	// A deleted one too.
	if err := e.mgr.Delete(ctx, "y"); err != nil {
		t.Fatal(err)
	}
	check("d", "bs.d", "bs.b", "bs.a", "shared")
	if err := e.mgr.Delete(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	got := e.areas(e.get("c"))
	if slices.Contains(got, "bs.b") || got[0] != "bs.c" || got[len(got)-1] != "shared" {
		t.Errorf("Areas(c) with b deleted = %v, want bs.c first, shared last, no bs.b", got)
	}
}

func TestPromoteCopiesLinksOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	e.create(buildset.Spec{ID: "a"})
	r := e.repo("a", "docker.io/library/app")
	img := e.pushImage(r, "promoted", "1")
	img2 := e.pushImage(e.repo("a", "docker.io/team/tool"), "tool", "v2")
	shared := e.repo("", "docker.io/library/app")
	if _, err := shared.Manifest(ctx, "1"); !errors.Is(err, storage.ErrManifestUnknown) {
		t.Fatalf("before promotion the shared area has it: %v", err)
	}
	blobsBefore := e.files("blobs")
	n, err := e.mgr.Promote(ctx, "a", nil)
	if err != nil {
		t.Fatal(err)
	}
	if n < 8 { // per image: 2 blob links, 1 manifest link, 1 tag
		t.Errorf("Promote copied %d links, want at least 8", n)
	}
	if after := e.files("blobs"); !slices.Equal(blobsBefore, after) {
		t.Errorf("Promote changed blobs/: %d files before, %d after", len(blobsBefore), len(after))
	}
	if b := e.get("a"); b.Promoted.IsZero() {
		t.Error("Promoted not recorded")
	}
	if err := whole(ctx, shared, "1", img); err != nil {
		t.Errorf("shared area after promotion: %v", err)
	}
	if tags, err := shared.Tags(ctx); err != nil || !slices.Equal(tags, []string{"1"}) {
		t.Errorf("shared tags = %v, %v", tags, err)
	}
	if err := whole(ctx, e.repo("", "docker.io/team/tool"), "v2", img2); err != nil {
		t.Errorf("second repository after promotion: %v", err)
	}
	// The promoted images outlive the buildset and a collection.
	if err := e.mgr.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	if _, err := e.mgr.Collect(ctx, storage.CollectOptions{Grace: time.Nanosecond}); err != nil {
		t.Fatal(err)
	}
	if err := whole(ctx, e.repo("", "docker.io/library/app"), "1", img); err != nil {
		t.Errorf("after the buildset was deleted and collected: %v", err)
	}
	if _, err := e.mgr.Promote(ctx, "a", nil); !errors.Is(err, buildset.ErrNotFound) {
		t.Errorf("promoting a deleted buildset: %v", err)
	}
}

func TestQuota(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	e.create(buildset.Spec{ID: "q", Quota: 1000})
	r := e.repo("q", "docker.io/library/app")
	first := bytes.Repeat([]byte{1}, 600)
	e.push(r, first)
	_, err := upload(ctx, r, bytes.Repeat([]byte{2}, 600))
	var qe *storage.QuotaExceededError
	if !errors.As(err, &qe) {
		t.Fatalf("pushing past the quota: %v, want *storage.QuotaExceededError", err)
	}
	if qe.Area != "bs.q" || qe.Used != 600 || qe.Adding != 600 || qe.Allowed != 1000 {
		t.Errorf("QuotaExceededError = %+v, want area bs.q, used 600, adding 600, allowed 1000", qe)
	}
	if !strings.Contains(qe.Error(), "600") || !strings.Contains(qe.Error(), "1000") {
		t.Errorf("message %q names neither the use nor the quota", qe.Error())
	}
	// Content the repository holds already adds nothing.
	e.push(r, first)
	// Up to the quota exactly.
	e.push(r, bytes.Repeat([]byte{3}, 400))
	if _, err := upload(ctx, r, []byte{4}); !errors.As(err, &qe) || qe.Used != 1000 || qe.Adding != 1 {
		t.Errorf("one byte past the quota: %v (%+v)", err, qe)
	}
	// A mount counts too.
	shared := e.repo("", "docker.io/library/app")
	big := e.push(shared, bytes.Repeat([]byte{5}, 5000)) // the shared area has no quota
	if _, err := r.BlobMount(ctx, big, shared); !errors.As(err, &qe) || qe.Adding != 5000 {
		t.Errorf("mounting past the quota: %v, want QuotaExceededError adding 5000", err)
	}
	// And manifests.
	m, p, err := manifestFor([]byte{1}, []byte{3})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.PutManifest(ctx, m, p, "1"); !errors.As(err, &qe) || qe.Adding != int64(len(m.Data)) {
		t.Errorf("manifest past the quota: %v", err)
	}
	if usage, err := e.store.AreaUsage(ctx, "bs.q"); err != nil || usage != 1000 {
		t.Errorf("AreaUsage = %d, %v; want 1000", usage, err)
	}
	// Another buildset has its own quota; none by default.
	e.create(buildset.Spec{ID: "free"})
	e.push(e.repo("free", "docker.io/library/app"), bytes.Repeat([]byte{6}, 20000))
	if got, _ := e.mgr.Quota(ctx, "bs.q"); got != 1000 {
		t.Errorf("Quota(bs.q) = %d", got)
	}
	for _, area := range []string{"shared", "cache", "bs.free", "bs.missing"} {
		if got, err := e.mgr.Quota(ctx, area); got != 0 || err != nil {
			t.Errorf("Quota(%s) = %d, %v; want none", area, got, err)
		}
	}
}

// authService is an auth.Service whose users include the buildsets'
// credentials, as app.go builds it.
func authService(t *testing.T, e *env) *auth.Service {
	t.Helper()
	svc, err := auth.New(auth.Config{Secret: "0123456789abcdef-buildset-tests", Users: []auth.User{{Name: "admin", PlainPassword: "admin-password", Access: auth.AccessWrite}}},
		auth.Options{Users: e.mgr, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// authz authenticates r and authorizes want, whose names it resolves as
// the registry does (with the identity's buildset).
func authz(svc *auth.Service, r *http.Request, want []auth.Access) (*auth.Identity, error) {
	id := svc.Authenticate(r)
	canonical := make([]auth.Access, 0, len(want))
	for _, a := range want {
		if n, err := (ref.Names{}).Canonical(a.Name, id.Buildset); err == nil {
			a.Name = n
		}
		canonical = append(canonical, a)
	}
	return id, svc.Authorize(r, id, canonical)
}

func basicRequest(user, password string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "http://127.0.0.1/v2/library/app/manifests/1", nil)
	r.SetBasicAuth(user, password)
	return r
}

func TestUserCredentials(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	svc := authService(t, e)
	e.create(buildset.Spec{ID: "ci", TTL: time.Hour})
	_, pw := e.create(buildset.Spec{ID: "ci2", TTL: time.Hour})

	u, ok, _ := e.mgr.User(t.Context(), buildset.Username("ci2"))
	if !ok || u.Name != "buildset-ci2" || u.Buildset != "ci2" || u.Access != auth.AccessWrite || !strings.HasPrefix(u.Password, "$2") {
		t.Errorf("User(buildset-ci2) = %+v, %v; want write access bound to ci2 with a bcrypt password", u, ok)
	}
	for _, name := range []string{"ci2", "admin", "buildset-", "buildset-missing", "buildset-../x"} {
		if _, ok, _ := e.mgr.User(t.Context(), name); ok {
			t.Errorf("User(%q) exists", name)
		}
	}
	want := []auth.Access{auth.Repository("library/app", auth.ActionPull, auth.ActionPush)}
	id, err := authz(svc, basicRequest("buildset-ci2", pw), want)
	if err != nil {
		t.Fatalf("the buildset's credentials: %v", err)
	}
	if id.Name != "buildset-ci2" || id.Buildset != "ci2" {
		t.Errorf("identity %+v, want buildset-ci2 bound to ci2", id)
	}
	var ae *auth.Error
	if _, err := authz(svc, basicRequest("buildset-ci2", pw+"x"), want); !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized {
		t.Errorf("a wrong password: %v, want 401", err)
	}
	if _, err := authz(svc, basicRequest("buildset-ci", pw), want); !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized {
		t.Errorf("another buildset's password: %v, want 401", err)
	}
	// A token issued to the buildset works while it lives.
	token := fetchToken(t, svc, "buildset-ci2", pw, "repository:library/app:pull,push")
	tokReq := httptest.NewRequest(http.MethodGet, "http://127.0.0.1/v2/library/app/manifests/1", nil)
	tokReq.Header.Set("Authorization", "Bearer "+token)
	if id, err := authz(svc, tokReq, want); err != nil || id.Buildset != "ci2" {
		t.Errorf("the buildset's token: %v, %v", id, err)
	}

	// They expire with the buildset: password and token.
	e.clock.Add(61 * time.Minute)
	if _, ok, _ := e.mgr.User(t.Context(), "buildset-ci2"); ok {
		t.Error("User() of an expired buildset")
	}
	if _, err := authz(svc, basicRequest("buildset-ci2", pw), want); !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized {
		t.Errorf("the credentials of an expired buildset: %v, want 401", err)
	}
	if _, err := authz(svc, tokReq, want); !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized {
		t.Errorf("a token of an expired buildset: %v, want 401", err)
	}
}

// TestUserCredentialsDieWithBuildset: a buildset deleted and created again
// under the same id has a new password; the old one must not open it.
func TestUserCredentialsDieWithBuildset(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	svc := authService(t, e)
	ctx := t.Context()
	want := []auth.Access{auth.Repository("library/app", auth.ActionPull, auth.ActionPush)}
	_, old := e.create(buildset.Spec{ID: "reused"})
	if _, err := authz(svc, basicRequest("buildset-reused", old), want); err != nil {
		t.Fatal(err)
	}
	if err := e.mgr.Delete(ctx, "reused"); err != nil {
		t.Fatal(err)
	}
	if _, err := authz(svc, basicRequest("buildset-reused", old), want); err == nil {
		t.Error("the credentials of a deleted buildset still authenticate")
	}
	_, fresh := e.create(buildset.Spec{ID: "reused"})
	if fresh == old {
		t.Fatal("the same password twice")
	}
	if id, err := authz(svc, basicRequest("buildset-reused", old), want); err == nil {
		t.Errorf("the deleted buildset's password opens the new buildset of the same id (identity %+v)", id)
	}
	if _, err := authz(svc, basicRequest("buildset-reused", fresh), want); err != nil {
		t.Errorf("the new buildset's credentials: %v", err)
	}
	if id, err := authz(svc, basicRequest("buildset-reused", old), want); err == nil {
		t.Errorf("after the new password was used: the deleted buildset's password still opens the new buildset (identity %+v)", id)
	}
}

func fetchToken(t *testing.T, svc *auth.Service, user, password, scope string) string {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "http://127.0.0.1/auth/token?service=shadowreg&scope="+scope, nil)
	r.SetBasicAuth(user, password)
	w := httptest.NewRecorder()
	svc.TokenHandler().ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Fatalf("token: %d %s", w.Code, w.Body)
	}
	var body struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Token == "" {
		t.Fatalf("token response %s: %v", w.Body, err)
	}
	return body.Token
}

// A parent deleted and its id reused for an unrelated buildset is not the
// child's parent: the child falls through past it, and no cycle forms.
func TestReusedParentIDIsNotTheParent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	e.create(buildset.Spec{ID: "a"})
	e.create(buildset.Spec{ID: "b", Parents: []string{"a"}})
	if err := e.mgr.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(time.Second)
	e.create(buildset.Spec{ID: "a", Parents: []string{"b"}}) // would be a cycle a → b → a
	if got := e.areas(e.get("b")); !slices.Equal(got, []string{"bs.b", "shared"}) {
		t.Errorf("Areas(b) = %v: the new a is not b's parent", got)
	}
	if got := e.areas(e.get("a")); !slices.Equal(got, []string{"bs.a", "bs.b", "shared"}) {
		t.Errorf("Areas(a) = %v", got)
	}
}
