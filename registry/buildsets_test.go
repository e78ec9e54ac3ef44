package registry_test

// Buildsets over HTTP: isolation, parents, fall-through, promotion, implicit
// creation, buildset credentials, the admin API and quotas. The server is
// assembled as cmd/shadowreg/cli/app.go assembles it; the clients are
// go-containerregistry's.
//
// The helpers here (bsEnv and friends) are shared by authz_test.go and
// gcrace_test.go.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcr "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/opencontainers/go-digest"
	"github.com/shadowreg/shadowreg/registry"
	"github.com/shadowreg/shadowreg/registry/auth"
	"github.com/shadowreg/shadowreg/registry/buildset"
	"github.com/shadowreg/shadowreg/registry/shadow"
	"github.com/shadowreg/shadowreg/registry/upstream"
	"github.com/shadowreg/shadowreg/storage"
	"github.com/shadowreg/shadowreg/storage/driver"
	"github.com/shadowreg/shadowreg/storage/driver/faulty"
	"github.com/shadowreg/shadowreg/storage/driver/filesystem"
)

// bsOptions choose how a test server is assembled.
type bsOptions struct {
	auth     *auth.Config           // nil: no auth
	implicit bool                   // RouterOptions.Implicit
	upstream bool                   // docker.io falls through to an in-memory registry
	cache    bool                   // and caches what it fetched (tags for an hour)
	collect  storage.CollectOptions // the admin API's collection settings
	logger   *slog.Logger           // the server's; nil: none
	faulty   bool                   // storage through storage/driver/faulty (bsEnv.faults)
	// wrap, when set, wraps the storage driver (to count or fault its calls).
	wrap func(driver.Driver) driver.Driver
	// now, when set, is the buildsets' clock (a frozen one keeps their
	// metadata cached for the whole test).
	now func() time.Time
}

// bsEnv is a shadowreg on 127.0.0.1, with its parts.
type bsEnv struct {
	t      *testing.T
	dir    string
	store  *storage.Store
	mgr    *buildset.Manager
	svc    *auth.Service
	srv    *httptest.Server
	host   string
	up     *httptest.Server  // the upstream, when bsOptions.upstream
	ns     *shadow.Namespace // docker.io's, when bsOptions.upstream
	faults *faulty.Driver    // when bsOptions.faulty
}

func newBSEnv(t *testing.T, o bsOptions) *bsEnv {
	t.Helper()
	e := &bsEnv{t: t, dir: t.TempDir()}
	fs, err := filesystem.New(e.dir)
	if err != nil {
		t.Fatal(err)
	}
	var drv driver.Driver = fs
	if o.wrap != nil {
		drv = o.wrap(fs)
	}
	if o.faulty {
		drv = faulty.New(drv, nil)
		e.faults = faulty.Of(drv)
	}
	e.store = storage.New(drv, storage.Options{Quota: func(ctx context.Context, area string) (int64, error) {
		return e.mgr.Quota(ctx, area)
	}})
	e.mgr = buildset.NewManager(e.store, buildset.Options{Now: o.now})
	namespaces := map[string]*shadow.Namespace{}
	if o.upstream {
		reg := ggcr.New(ggcr.Logger(log.New(io.Discard, "", 0)))
		e.up = httptest.NewServer(reg)
		t.Cleanup(e.up.Close)
		client, err := upstream.New("docker.io", upstream.Config{URL: e.up.URL}, upstream.Options{Retries: -1, Resumes: -1})
		if err != nil {
			t.Fatal(err)
		}
		so := shadow.Options{}
		if o.cache {
			so = shadow.Options{Cache: true, TagTTL: time.Hour, SpoolDir: t.TempDir()}
		}
		ns := shadow.NewNamespace("docker.io", e.store, client, so)
		t.Cleanup(func() { ns.Drain(context.Background()) })
		namespaces["docker.io"] = ns
		e.ns = ns
	}
	opts := registry.Options{
		Resolver: registry.NewRouter(e.store, namespaces, registry.RouterOptions{Buildsets: e.mgr, Implicit: o.implicit}),
		Handlers: map[string]http.Handler{},
		Logger:   o.logger,
	}
	if o.auth != nil {
		e.svc, err = auth.New(*o.auth, auth.Options{Users: e.mgr, Chains: e.mgr})
		if err != nil {
			t.Fatal(err)
		}
		opts.Authorizer = e.svc
		opts.Handlers[auth.TokenPath] = e.svc.TokenHandler()
	}
	opts.Handlers[registry.AdminPrefix+"/*"] = registry.NewAdmin(registry.AdminOptions{
		Buildsets: e.mgr, Store: e.store, Collect: o.collect, Authorizer: opts.Authorizer,
	})
	e.srv = httptest.NewServer(registry.New(opts))
	t.Cleanup(e.srv.Close)
	e.host = strings.TrimPrefix(e.srv.URL, "http://")
	return e
}

// creds are Basic credentials; the zero value is anonymous.
type creds struct{ user, password string }

func (c creds) remote() []remote.Option {
	if c.user == "" {
		return nil
	}
	return []remote.Option{remote.WithAuth(&authn.Basic{Username: c.user, Password: c.password})}
}

func (e *bsEnv) ref(repo string) name.Reference {
	e.t.Helper()
	r, err := name.ParseReference(e.host+"/"+repo, name.Insecure)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// push writes img as repo (with :tag) through the registry.
func (e *bsEnv) push(repo string, img v1.Image, c creds) error {
	return remote.Write(e.ref(repo), img, c.remote()...)
}

func (e *bsEnv) mustPush(repo string, img v1.Image, c creds) {
	e.t.Helper()
	if err := e.push(repo, img, c); err != nil {
		e.t.Fatalf("push %s: %v", repo, err)
	}
}

// pull reads repo (with :tag or @digest) completely — manifest, config and
// every layer, each verified against its digest — and returns its digest.
func (e *bsEnv) pull(repo string, c creds) (v1.Hash, error) {
	img, err := remote.Image(e.ref(repo), c.remote()...)
	if err != nil {
		return v1.Hash{}, err
	}
	return readAll(img)
}

func readAll(img v1.Image) (v1.Hash, error) {
	if _, err := img.RawConfigFile(); err != nil {
		return v1.Hash{}, fmt.Errorf("config: %w", err)
	}
	layers, err := img.Layers()
	if err != nil {
		return v1.Hash{}, err
	}
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			return v1.Hash{}, err
		}
		_, err = io.Copy(io.Discard, rc)
		if cerr := rc.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			d, _ := l.Digest()
			return v1.Hash{}, fmt.Errorf("layer %s: %w", d, err)
		}
	}
	return img.Digest()
}

// expectImage checks that repo pulls as img.
func (e *bsEnv) expectImage(repo string, img v1.Image, c creds) {
	e.t.Helper()
	want, _ := img.Digest()
	got, err := e.pull(repo, c)
	if err != nil {
		e.t.Errorf("pull %s: %v", repo, err)
		return
	}
	if got != want {
		e.t.Errorf("pull %s = %s, want %s", repo, got, want)
	}
}

// expectMissing checks that repo does not pull, with a 404.
func (e *bsEnv) expectMissing(repo string, c creds) {
	e.t.Helper()
	_, err := e.pull(repo, c)
	var te *transport.Error
	if !errors.As(err, &te) || te.StatusCode != http.StatusNotFound {
		e.t.Errorf("pull %s: %v, want a 404", repo, err)
	}
}

func randomImage(t *testing.T, layers int64) v1.Image {
	t.Helper()
	img, err := random.Image(2048, layers)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// response is an HTTP answer, read.
type response struct {
	*http.Response
	body []byte
}

// errorCodes are the codes of an OCI error body; it fails the test when
// the body is not one.
func (r *response) errorCodes(t *testing.T) []string {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s %s: error with Content-Type %q, want application/json", r.Request.Method, r.Request.URL.Path, ct)
	}
	var body struct {
		Errors []struct {
			Code    string          `json:"code"`
			Message string          `json:"message"`
			Detail  json.RawMessage `json:"detail"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil || len(body.Errors) == 0 {
		t.Errorf("%s %s: error body %q is not {\"errors\":[…]}: %v", r.Request.Method, r.Request.URL.Path, r.body, err)
		return nil
	}
	var codes []string
	for _, e := range body.Errors {
		codes = append(codes, e.Code)
	}
	return codes
}

// do sends a request; header values may set Authorization directly.
func (e *bsEnv) do(method, path string, body []byte, c creds, header ...string) *response {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(e.t.Context(), method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, c.password)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return &response{resp, b}
}

// expectError checks status and OCI error code.
func (e *bsEnv) expectError(r *response, status int, code string) {
	e.t.Helper()
	if r.StatusCode != status {
		e.t.Errorf("%s %s = %d %s, want %d %s", r.Request.Method, r.Request.URL.Path, r.StatusCode, r.body, status, code)
		return
	}
	if codes := r.errorCodes(e.t); len(codes) == 0 || codes[0] != code {
		e.t.Errorf("%s %s: codes %v, want %s", r.Request.Method, r.Request.URL.Path, codes, code)
	}
}

// createBuildset creates a buildset through the admin API.
func (e *bsEnv) createBuildset(req registry.CreateRequest, c creds) registry.BuildsetInfo {
	e.t.Helper()
	body, _ := json.Marshal(req)
	r := e.do(http.MethodPost, registry.AdminPrefix+"/buildsets", body, c, "Content-Type", "application/json")
	if r.StatusCode != http.StatusCreated {
		e.t.Fatalf("create buildset %s: %d %s", req.ID, r.StatusCode, r.body)
	}
	var info registry.BuildsetInfo
	if err := json.Unmarshal(r.body, &info); err != nil {
		e.t.Fatal(err)
	}
	return info
}

// uploadBlob pushes data into repo in one POST ?digest= and returns the
// answer.
func (e *bsEnv) uploadBlob(repo string, data []byte, c creds) *response {
	e.t.Helper()
	return e.do(http.MethodPost, "/v2/"+repo+"/blobs/uploads/?digest="+digest.FromBytes(data).String(), data, c,
		"Content-Type", "application/octet-stream")
}

func TestBuildsetsAreIsolated(t *testing.T) {
	e := newBSEnv(t, bsOptions{})
	ctx := t.Context()
	for _, id := range []string{"a", "b"} {
		if _, _, err := e.mgr.Create(ctx, buildset.Spec{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	imgA, imgB := randomImage(t, 2), randomImage(t, 1)
	e.mustPush("buildsets/a/library/app:1", imgA, creds{})
	e.mustPush("buildsets/b/library/other:1", imgB, creds{})

	e.expectImage("buildsets/a/library/app:1", imgA, creds{})
	e.expectImage("buildsets/b/library/other:1", imgB, creds{})
	e.expectMissing("buildsets/b/library/app:1", creds{})
	e.expectMissing("library/app:1", creds{})
	e.expectMissing("buildsets/a/library/other:1", creds{})
	dA, _ := imgA.Digest()
	e.expectMissing("buildsets/b/library/app@"+dA.String(), creds{})
	// Blobs too: content is shared on disk, not across buildsets.
	layers, _ := imgA.Layers()
	ld, _ := layers[0].Digest()
	for _, repo := range []string{"buildsets/b/library/app", "library/app", "buildsets/a/library/other"} {
		e.expectError(e.do(http.MethodGet, "/v2/"+repo+"/blobs/"+ld.String(), nil, creds{}), http.StatusNotFound, "BLOB_UNKNOWN")
	}
	// Tags of b do not list a's.
	r := e.do(http.MethodGet, "/v2/buildsets/b/library/app/tags/list", nil, creds{})
	if r.StatusCode == http.StatusOK && bytes.Contains(r.body, []byte(`"1"`)) {
		t.Errorf("tags of b list a's tag: %s", r.body)
	}
	// And a buildset that does not exist is NAME_UNKNOWN.
	e.expectError(e.do(http.MethodGet, "/v2/buildsets/nope/library/app/manifests/1", nil, creds{}), http.StatusNotFound, "NAME_UNKNOWN")
	e.expectError(e.do(http.MethodPost, "/v2/buildsets/nope/library/app/blobs/uploads/", nil, creds{}), http.StatusNotFound, "NAME_UNKNOWN")
}

func TestBuildsetChildSeesParent(t *testing.T) {
	e := newBSEnv(t, bsOptions{})
	ctx := t.Context()
	if _, _, err := e.mgr.Create(ctx, buildset.Spec{ID: "a"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.mgr.Create(ctx, buildset.Spec{ID: "c", Parents: []string{"a"}}); err != nil {
		t.Fatal(err)
	}
	img1 := randomImage(t, 2)
	e.mustPush("buildsets/a/library/app:1", img1, creds{})
	e.expectImage("buildsets/c/library/app:1", img1, creds{})

	// a's later pushes show through at once: a new tag, and a tag moved.
	img2, img3 := randomImage(t, 1), randomImage(t, 1)
	e.mustPush("buildsets/a/library/app:2", img2, creds{})
	e.expectImage("buildsets/c/library/app:2", img2, creds{})
	e.mustPush("buildsets/a/library/app:1", img3, creds{})
	e.expectImage("buildsets/c/library/app:1", img3, creds{})

	// The child's own push shadows the parent's for the child only.
	own := randomImage(t, 1)
	e.mustPush("buildsets/c/library/app:1", own, creds{})
	e.expectImage("buildsets/c/library/app:1", own, creds{})
	e.expectImage("buildsets/a/library/app:1", img3, creds{})
	r := e.do(http.MethodGet, "/v2/buildsets/c/library/app/tags/list", nil, creds{})
	if r.StatusCode != http.StatusOK || !bytes.Contains(r.body, []byte(`"1"`)) || !bytes.Contains(r.body, []byte(`"2"`)) {
		t.Errorf("child's tags: %d %s, want 1 and 2", r.StatusCode, r.body)
	}
	// The parent does not see the child.
	e.mustPush("buildsets/c/library/childonly:1", own, creds{})
	e.expectMissing("buildsets/a/library/childonly:1", creds{})
}

func TestBuildsetParentDeletedFallsThrough(t *testing.T) {
	e := newBSEnv(t, bsOptions{upstream: true, collect: storage.CollectOptions{Grace: time.Nanosecond}})
	ctx := t.Context()
	if _, _, err := e.mgr.Create(ctx, buildset.Spec{ID: "a"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.mgr.Create(ctx, buildset.Spec{ID: "c", Parents: []string{"a"}}); err != nil {
		t.Fatal(err)
	}
	shared, upstreamImg := randomImage(t, 1), randomImage(t, 1)
	e.mustPush("library/app1:v1", shared, creds{})
	upRef, err := name.ParseReference(strings.TrimPrefix(e.up.URL, "http://")+"/library/app2:v1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(upRef, upstreamImg); err != nil {
		t.Fatal(err)
	}
	fromA1, fromA2 := randomImage(t, 2), randomImage(t, 1)
	e.mustPush("buildsets/a/library/app1:v1", fromA1, creds{})
	e.mustPush("buildsets/a/library/app2:v1", fromA2, creds{})
	e.expectImage("buildsets/c/library/app1:v1", fromA1, creds{})
	e.expectImage("buildsets/c/library/app2:v1", fromA2, creds{})

	// The child builds on the parent's image: the layers it did not upload
	// (the client saw them through the parent) are its own once its
	// manifest names them.
	onA, err := remote.Image(e.ref("buildsets/c/library/app1:v1"))
	if err != nil {
		t.Fatal(err)
	}
	extra, err := random.Layer(1024, "application/vnd.docker.image.rootfs.diff.tar.gzip")
	if err != nil {
		t.Fatal(err)
	}
	derived, err := mutate.AppendLayers(onA, extra)
	if err != nil {
		t.Fatal(err)
	}
	e.mustPush("buildsets/c/library/derived:1", derived, creds{})

	r := e.do(http.MethodDelete, registry.AdminPrefix+"/buildsets/a", nil, creds{})
	if r.StatusCode != http.StatusNoContent {
		t.Fatalf("delete a: %d %s", r.StatusCode, r.body)
	}
	e.expectImage("buildsets/c/library/app1:v1", shared, creds{})
	e.expectImage("buildsets/c/library/app2:v1", upstreamImg, creds{})
	e.expectImage("buildsets/c/library/derived:1", derived, creds{})
	// And after a collection that frees what only a named.
	time.Sleep(10 * time.Millisecond)
	r = e.do(http.MethodPost, registry.AdminPrefix+"/gc", nil, creds{})
	if r.StatusCode != http.StatusOK {
		t.Fatalf("gc: %d %s", r.StatusCode, r.body)
	}
	var rep storage.CollectReport
	if err := json.Unmarshal(r.body, &rep); err != nil || rep.Blobs == 0 {
		t.Errorf("gc report %s (%v): want a's own content freed", r.body, err)
	}
	e.expectImage("buildsets/c/library/derived:1", derived, creds{})
	e.expectImage("buildsets/c/library/app1:v1", shared, creds{})
	e.expectImage("buildsets/c/library/app2:v1", upstreamImg, creds{})
	e.expectError(e.do(http.MethodGet, "/v2/buildsets/a/library/app1/manifests/v1", nil, creds{}), http.StatusNotFound, "NAME_UNKNOWN")
}

func TestBuildsetPromote(t *testing.T) {
	e := newBSEnv(t, bsOptions{collect: storage.CollectOptions{Grace: time.Nanosecond}})
	e.createBuildset(registry.CreateRequest{ID: "a"}, creds{})
	img := randomImage(t, 2)
	e.mustPush("buildsets/a/library/promoted:1", img, creds{})
	e.expectMissing("library/promoted:1", creds{})

	r := e.do(http.MethodPost, registry.AdminPrefix+"/buildsets/a/promote", nil, creds{})
	if r.StatusCode != http.StatusOK {
		t.Fatalf("promote: %d %s", r.StatusCode, r.body)
	}
	var out struct {
		ID    string `json:"id"`
		Links int    `json:"links"`
	}
	if err := json.Unmarshal(r.body, &out); err != nil || out.ID != "a" || out.Links < 5 {
		t.Errorf("promote answered %s (%v), want the id and the links copied", r.body, err)
	}
	e.expectImage("library/promoted:1", img, creds{})
	// The show endpoint records it.
	r = e.do(http.MethodGet, registry.AdminPrefix+"/buildsets/a", nil, creds{})
	var info registry.BuildsetInfo
	if err := json.Unmarshal(r.body, &info); err != nil || info.Promoted == nil || info.Size == 0 {
		t.Errorf("show after promote: %s (%v), want promoted and a size", r.body, err)
	}
	// Promoted images outlive the buildset.
	if r := e.do(http.MethodDelete, registry.AdminPrefix+"/buildsets/a", nil, creds{}); r.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.StatusCode, r.body)
	}
	time.Sleep(10 * time.Millisecond)
	if r := e.do(http.MethodPost, registry.AdminPrefix+"/gc", nil, creds{}); r.StatusCode != http.StatusOK {
		t.Fatalf("gc: %d %s", r.StatusCode, r.body)
	}
	e.expectImage("library/promoted:1", img, creds{})
	e.expectError(e.do(http.MethodPost, registry.AdminPrefix+"/buildsets/a/promote", nil, creds{}), http.StatusNotFound, "NAME_UNKNOWN")
}

func TestBuildsetImplicitCreation(t *testing.T) {
	e := newBSEnv(t, bsOptions{implicit: true})
	img := randomImage(t, 1)
	e.mustPush("buildsets/fresh1/library/app:1", img, creds{})
	b, err := e.mgr.Get(t.Context(), "fresh1")
	if err != nil {
		t.Fatalf("the buildset was not created by the push: %v", err)
	}
	if b.Expires.IsZero() {
		t.Error("an implicit buildset never expires")
	}
	e.expectImage("buildsets/fresh1/library/app:1", img, creds{})
	e.expectMissing("library/app:1", creds{})
	// Reads do not create one.
	e.expectError(e.do(http.MethodGet, "/v2/buildsets/fresh2/library/app/manifests/1", nil, creds{}), http.StatusNotFound, "NAME_UNKNOWN")
	if _, err := e.mgr.Get(t.Context(), "fresh2"); !errors.Is(err, buildset.ErrNotFound) {
		t.Errorf("a read created a buildset: %v", err)
	}
	// Without Implicit, a push to an unknown buildset is NAME_UNKNOWN.
	off := newBSEnv(t, bsOptions{})
	off.expectError(off.do(http.MethodPost, "/v2/buildsets/fresh1/library/app/blobs/uploads/", nil, creds{}), http.StatusNotFound, "NAME_UNKNOWN")
}

// TestBuildsetImplicitInvalidID: with implicit creation on, a push to a
// buildset id that cannot be one is the client's error (400 NAME_INVALID,
// or 404 NAME_UNKNOWN as for reads), not a 500.
func TestBuildsetImplicitInvalidID(t *testing.T) {
	e := newBSEnv(t, bsOptions{implicit: true})
	for _, id := range []string{"Bad_ID", "-x", strings.Repeat("a", 65)} {
		r := e.do(http.MethodPost, "/v2/buildsets/"+id+"/library/app/blobs/uploads/", nil, creds{})
		if r.StatusCode != http.StatusBadRequest && r.StatusCode != http.StatusNotFound {
			t.Errorf("push to buildset id %q: %d %s, want 400 NAME_INVALID (or 404 NAME_UNKNOWN)", id, r.StatusCode, r.body)
			continue
		}
		if codes := r.errorCodes(t); len(codes) == 0 || (codes[0] != "NAME_INVALID" && codes[0] != "NAME_UNKNOWN") {
			t.Errorf("push to buildset id %q: codes %v", id, codes)
		}
	}
	// A read of it is invalid too: the id can name no buildset.
	e.expectError(e.do(http.MethodGet, "/v2/buildsets/Bad_ID/library/app/manifests/1", nil, creds{}), http.StatusBadRequest, "NAME_INVALID")
}

// authConfig is the auth section of the authorization tests: a writer, a
// reader, and anonymous access as given.
func authConfig(anonymous string) *auth.Config {
	return &auth.Config{
		Secret:    "0123456789abcdef0123456789abcdef",
		Anonymous: anonymous,
		Users: []auth.User{
			{Name: "writer", PlainPassword: "writer-password", Access: auth.AccessWrite},
			{Name: "reader", PlainPassword: "reader-password", Access: auth.AccessRead},
			{Name: "limited", PlainPassword: "limited-password", Access: auth.AccessWrite, Prefixes: []string{"authz/app"}},
		},
	}
}

var (
	writer  = creds{"writer", "writer-password"}
	reader  = creds{"reader", "reader-password"}
	limited = creds{"limited", "limited-password"}
)

func TestBuildsetCredentials(t *testing.T) {
	e := newBSEnv(t, bsOptions{auth: authConfig(auth.AnonymousNone)})
	a := e.createBuildset(registry.CreateRequest{ID: "a", TTL: "2h"}, writer)
	b := e.createBuildset(registry.CreateRequest{ID: "b"}, writer)
	if a.Username != "buildset-a" || a.Password == "" || b.Password == "" || a.Password == b.Password {
		t.Fatalf("create answered credentials %q/%q and %q/%q", a.Username, a.Password, b.Username, b.Password)
	}
	credsA, credsB := creds{a.Username, a.Password}, creds{b.Username, b.Password}

	// docker-mirror style: no path prefix, and the push lands in the
	// buildset.
	img := randomImage(t, 2)
	e.mustPush("library/app:1", img, credsA)
	e.expectImage("library/app:1", img, credsA)
	e.expectImage("buildsets/a/library/app:1", img, writer)
	e.expectMissing("library/app:1", writer)
	e.expectMissing("library/app:1", credsB)
	// Explicitly naming its own buildset works too.
	e.mustPush("buildsets/a/library/app:2", img, credsA)
	e.expectImage("library/app:2", img, credsA)

	// A buildset's credentials cannot write another buildset.
	e.expectError(e.do(http.MethodPost, "/v2/buildsets/b/library/app/blobs/uploads/", nil, credsA), http.StatusForbidden, "DENIED")
	if err := e.push("buildsets/b/library/app:1", img, credsA); err == nil {
		t.Error("buildset a's credentials pushed into buildset b")
	}
	e.expectMissing("buildsets/b/library/app:1", writer)
	e.expectError(e.do(http.MethodDelete, "/v2/buildsets/b/library/app/manifests/1", nil, credsA), http.StatusForbidden, "DENIED")
	// Nor manage it, nor list or collect.
	e.expectError(e.do(http.MethodDelete, registry.AdminPrefix+"/buildsets/b", nil, credsA), http.StatusForbidden, "DENIED")
	e.expectError(e.do(http.MethodPost, registry.AdminPrefix+"/buildsets/b/promote", nil, credsA), http.StatusForbidden, "DENIED")
	e.expectError(e.do(http.MethodGet, registry.AdminPrefix+"/buildsets", nil, credsA), http.StatusForbidden, "DENIED")
	e.expectError(e.do(http.MethodPost, registry.AdminPrefix+"/gc", nil, credsA), http.StatusForbidden, "DENIED")
	body, _ := json.Marshal(registry.CreateRequest{ID: "a2", Parents: []string{"a"}})
	e.expectError(e.do(http.MethodPost, registry.AdminPrefix+"/buildsets", body, credsA), http.StatusForbidden, "DENIED")
	// But it may look at itself.
	if r := e.do(http.MethodGet, registry.AdminPrefix+"/buildsets/a", nil, credsA); r.StatusCode != http.StatusOK {
		t.Errorf("show own buildset: %d %s", r.StatusCode, r.body)
	}
	// Wrong password: 401.
	e.expectError(e.do(http.MethodGet, "/v2/library/app/manifests/1", nil, creds{credsA.user, "wrong"}), http.StatusUnauthorized, "UNAUTHORIZED")
	// Once the buildset is deleted its credentials are refused.
	if r := e.do(http.MethodDelete, registry.AdminPrefix+"/buildsets/a", nil, writer); r.StatusCode != http.StatusNoContent {
		t.Fatalf("delete a: %d %s", r.StatusCode, r.body)
	}
	e.expectError(e.do(http.MethodGet, "/v2/library/app/manifests/1", nil, credsA), http.StatusUnauthorized, "UNAUTHORIZED")
}

func TestAdminAPIAccess(t *testing.T) {
	e := newBSEnv(t, bsOptions{auth: authConfig(auth.AnonymousRead)})
	e.createBuildset(registry.CreateRequest{ID: "x"}, writer)
	body, _ := json.Marshal(registry.CreateRequest{ID: "y"})

	// A read-only user may look, not create, delete, promote or collect.
	for _, c := range []struct{ method, path string }{
		{http.MethodPost, registry.AdminPrefix + "/buildsets"},
		{http.MethodDelete, registry.AdminPrefix + "/buildsets/x"},
		{http.MethodPost, registry.AdminPrefix + "/buildsets/x/promote"},
		{http.MethodPost, registry.AdminPrefix + "/gc"},
		{http.MethodPost, registry.AdminPrefix + "/gc?dry-run=true"},
	} {
		var b []byte
		if c.method == http.MethodPost && strings.HasSuffix(c.path, "/buildsets") {
			b = body
		}
		e.expectError(e.do(c.method, c.path, b, reader), http.StatusForbidden, "DENIED")
		// Anonymous: 401 with a challenge.
		r := e.do(c.method, c.path, b, creds{})
		e.expectError(r, http.StatusUnauthorized, "UNAUTHORIZED")
		if ch := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(ch, "Bearer ") {
			t.Errorf("%s %s anonymous: challenge %q", c.method, c.path, ch)
		}
	}
	if _, err := e.mgr.Get(t.Context(), "x"); err != nil {
		t.Errorf("x after the refused requests: %v", err)
	}
	if _, err := e.mgr.Get(t.Context(), "y"); err == nil {
		t.Error("a read-only user created a buildset")
	}
	for _, c := range []creds{reader, writer} {
		if r := e.do(http.MethodGet, registry.AdminPrefix+"/buildsets", nil, c); r.StatusCode != http.StatusOK {
			t.Errorf("list as %s: %d %s", c.user, r.StatusCode, r.body)
		}
		if r := e.do(http.MethodGet, registry.AdminPrefix+"/buildsets/x", nil, c); r.StatusCode != http.StatusOK {
			t.Errorf("show as %s: %d %s", c.user, r.StatusCode, r.body)
		}
	}
	// The writer can do everything.
	if r := e.do(http.MethodPost, registry.AdminPrefix+"/gc?dry-run=true", nil, writer); r.StatusCode != http.StatusOK ||
		!bytes.Contains(r.body, []byte(`"dryRun": true`)) {
		t.Errorf("dry-run gc as writer: %d %s", r.StatusCode, r.body)
	}
	if r := e.do(http.MethodDelete, registry.AdminPrefix+"/buildsets/x", nil, writer); r.StatusCode != http.StatusNoContent {
		t.Errorf("delete as writer: %d %s", r.StatusCode, r.body)
	}
}

func TestAdminAPIErrors(t *testing.T) {
	e := newBSEnv(t, bsOptions{})
	e.createBuildset(registry.CreateRequest{ID: "dup"}, creds{})
	cases := []struct {
		method, path, body string
		status             int
		code               string
	}{
		{http.MethodPost, "/buildsets", `{"id":"dup"}`, http.StatusConflict, "NAME_INVALID"},
		{http.MethodPost, "/buildsets", `{"id":"Not Valid"}`, http.StatusBadRequest, "NAME_INVALID"},
		{http.MethodPost, "/buildsets", `{"id":"p","parents":["missing"]}`, http.StatusNotFound, "NAME_UNKNOWN"},
		{http.MethodPost, "/buildsets", `{"id":"t","ttl":"soon"}`, http.StatusBadRequest, "NAME_INVALID"},
		{http.MethodPost, "/buildsets", `{"id":"q","quota":-5}`, http.StatusBadRequest, "NAME_INVALID"},
		{http.MethodPost, "/buildsets", `not json`, http.StatusBadRequest, "NAME_INVALID"},
		{http.MethodGet, "/buildsets/missing", "", http.StatusNotFound, "NAME_UNKNOWN"},
		{http.MethodDelete, "/buildsets/missing", "", http.StatusNotFound, "NAME_UNKNOWN"},
		{http.MethodPost, "/buildsets/missing/promote", "", http.StatusNotFound, "NAME_UNKNOWN"},
		{http.MethodGet, "/nothing-here", "", http.StatusNotFound, "NOT_FOUND"},
		{http.MethodPut, "/buildsets/dup", "", http.StatusMethodNotAllowed, "UNSUPPORTED"},
	}
	for _, c := range cases {
		var b []byte
		if c.body != "" {
			b = []byte(c.body)
		}
		e.expectError(e.do(c.method, registry.AdminPrefix+c.path, b, creds{}), c.status, c.code)
	}
}

func TestBuildsetQuotaHTTP(t *testing.T) {
	e := newBSEnv(t, bsOptions{})
	info := e.createBuildset(registry.CreateRequest{ID: "q", Quota: 1000}, creds{})
	if info.Quota != 1000 {
		t.Errorf("created with quota %d", info.Quota)
	}
	first := bytes.Repeat([]byte("a"), 600)
	if r := e.uploadBlob("buildsets/q/library/app", first, creds{}); r.StatusCode != http.StatusCreated {
		t.Fatalf("first blob: %d %s", r.StatusCode, r.body)
	}
	r := e.uploadBlob("buildsets/q/library/app", bytes.Repeat([]byte("b"), 600), creds{})
	e.expectError(r, http.StatusForbidden, "DENIED")
	var body struct {
		Errors []struct {
			Message string           `json:"message"`
			Detail  map[string]int64 `json:"detail"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil || len(body.Errors) != 1 {
		t.Fatalf("quota error body %s: %v", r.body, err)
	}
	msg := body.Errors[0].Message
	if !strings.Contains(msg, "600 bytes used") || !strings.Contains(msg, "1000 allowed") {
		t.Errorf("quota message %q does not name the bytes used (600) and allowed (1000)", msg)
	}
	if d := body.Errors[0].Detail; d["used"] != 600 || d["allowed"] != 1000 || d["adding"] != 600 {
		t.Errorf("quota detail %v, want used 600, allowed 1000, adding 600", d)
	}
	// A chunked upload is refused at its end the same way.
	r = e.do(http.MethodPost, "/v2/buildsets/q/library/app/blobs/uploads/", nil, creds{})
	if r.StatusCode != http.StatusAccepted {
		t.Fatalf("start: %d %s", r.StatusCode, r.body)
	}
	loc, _ := url.Parse(r.Header.Get("Location"))
	big := bytes.Repeat([]byte("c"), 2000)
	r = e.do(http.MethodPatch, loc.Path, big, creds{}, "Content-Type", "application/octet-stream")
	if r.StatusCode != http.StatusAccepted {
		t.Fatalf("patch: %d %s", r.StatusCode, r.body)
	}
	e.expectError(e.do(http.MethodPut, loc.Path+"?digest="+digest.FromBytes(big).String(), nil, creds{}), http.StatusForbidden, "DENIED")
	// A real client's push fails as well, and says why.
	err := e.push("buildsets/q/library/app:1", randomImage(t, 1), creds{})
	var te *transport.Error
	if !errors.As(err, &te) || te.StatusCode != http.StatusForbidden {
		t.Errorf("push past the quota: %v, want a 403", err)
	}
	// The shared area has no quota.
	if r := e.uploadBlob("library/app", big, creds{}); r.StatusCode != http.StatusCreated {
		t.Errorf("shared area: %d %s", r.StatusCode, r.body)
	}
}

// Fail closed: when the storage cannot be read while resolving who asks or
// what a buildset stacks on, the answer is 503 with Retry-After — never
// 401 "wrong credentials" (docker does not retry it), never an image from
// a shorter overlay chain, never a catalog with the unreadable part left
// out.
func TestFailClosedOnMetadataOutage(t *testing.T) {
	e := newBSEnv(t, bsOptions{auth: authConfig(auth.AnonymousNone), faulty: true})
	e.createBuildset(registry.CreateRequest{ID: "gate-a"}, writer)
	c := e.createBuildset(registry.CreateRequest{ID: "gate-c", Parents: []string{"gate-a"}}, writer)
	credsC := creds{c.Username, c.Password}
	shared, spec := randomImage(t, 1), randomImage(t, 1)
	e.mustPush("org/app:latest", shared, writer)
	e.mustPush("buildsets/gate-a/org/app:latest", spec, writer)
	e.expectImage("buildsets/gate-c/org/app:latest", spec, writer)
	time.Sleep(2100 * time.Millisecond) // past the manager's metadata cache

	// gate-a's metadata out of reach: gate-c's chain cannot be known.
	e.faults.SetRule(faulty.On("GetContent", "gate-a", faulty.Unavailable))
	r := e.do(http.MethodGet, "/v2/buildsets/gate-c/org/app/manifests/latest", nil, writer)
	if r.StatusCode != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
		t.Fatalf("pull through gate-c with its parent unreadable: %d %s, want 503 with Retry-After (not the shared image)", r.StatusCode, r.body)
	}
	r = e.do(http.MethodGet, "/v2/_catalog", nil, credsC)
	if r.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("gate-c's catalog with its parent unreadable: %d %s, want 503", r.StatusCode, r.body)
	}

	// gate-c's own metadata out of reach: its credentials cannot be checked.
	time.Sleep(2100 * time.Millisecond)
	e.faults.SetRule(faulty.On("GetContent", "gate-c", faulty.Unavailable))
	r = e.do(http.MethodGet, "/v2/org/app/manifests/latest", nil, credsC)
	if r.StatusCode != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
		t.Fatalf("buildset credentials with their metadata unreadable: %d %s, want 503 with Retry-After, not 401", r.StatusCode, r.body)
	}

	// The storage back: everything as before.
	e.faults.SetRule(nil)
	e.expectImage("buildsets/gate-c/org/app:latest", spec, writer)
	e.expectImage("org/app:latest", spec, credsC)
}
