package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParseChallenges(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values []string
		want   []challenge
	}{
		{"docker hub", []string{`Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"`},
			[]challenge{{"bearer", map[string]string{"realm": "https://auth.docker.io/token", "service": "registry.docker.io", "scope": "repository:library/alpine:pull"}}}},
		{"comma inside quotes", []string{`Bearer realm="https://a/token",scope="repository:x/y:pull,push",service="s"`},
			[]challenge{{"bearer", map[string]string{"realm": "https://a/token", "scope": "repository:x/y:pull,push", "service": "s"}}}},
		{"spaces and case", []string{`bEaReR  Realm = "https://a/t" , SERVICE=reg , error="insufficient_scope"`},
			[]challenge{{"bearer", map[string]string{"realm": "https://a/t", "service": "reg", "error": "insufficient_scope"}}}},
		{"escaped quote", []string{`Basic realm="say \"hi\", friend"`},
			[]challenge{{"basic", map[string]string{"realm": `say "hi", friend`}}}},
		{"two challenges in one value", []string{`Basic realm="r1", Bearer realm="https://a/t",service="s"`},
			[]challenge{{"basic", map[string]string{"realm": "r1"}}, {"bearer", map[string]string{"realm": "https://a/t", "service": "s"}}}},
		{"two header values", []string{`Basic realm="r1"`, `Bearer realm="https://a/t"`},
			[]challenge{{"basic", map[string]string{"realm": "r1"}}, {"bearer", map[string]string{"realm": "https://a/t"}}}},
		{"scheme without params", []string{`Negotiate, Basic realm=x`},
			[]challenge{{"negotiate", map[string]string{}}, {"basic", map[string]string{"realm": "x"}}}},
		{"unterminated quote", []string{`Bearer realm="https://a/t`},
			[]challenge{{"bearer", map[string]string{"realm": "https://a/t"}}}},
		{"garbage", []string{`"" ,,, ===`}, nil},
		{"empty", []string{""}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := parseChallenges(tc.values)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("parseChallenges(%q)\n got %#v\nwant %#v", tc.values, got, tc.want)
			}
		})
	}
}

// tokenServer is a token endpoint issuing tok-1, tok-2, ...
type tokenServer struct {
	mu        sync.Mutex
	calls     []*http.Request
	user      string // required Basic credentials, if set
	pass      string
	expiresIn int
	field     string // "token" (default) or "access_token"
	issued    map[string]bool
}

func (ts *tokenServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.calls = append(ts.calls, r.Clone(context.Background()))
	if ts.user != "" {
		if u, p, ok := r.BasicAuth(); !ok || u != ts.user || p != ts.pass {
			registryError(w, http.StatusUnauthorized, "UNAUTHORIZED", "bad credentials")
			return
		}
	}
	if ts.issued == nil {
		ts.issued = map[string]bool{}
	}
	tok := fmt.Sprintf("tok-%d", len(ts.calls))
	ts.issued[tok] = true
	field := ts.field
	if field == "" {
		field = "token"
	}
	doc := map[string]any{field: tok}
	if ts.expiresIn > 0 {
		doc["expires_in"] = ts.expiresIn
	}
	json.NewEncoder(w).Encode(doc)
}

func (ts *tokenServer) valid(tok string) bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.issued[tok]
}

func (ts *tokenServer) revoke(tok string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	delete(ts.issued, tok)
}

func (ts *tokenServer) count() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return len(ts.calls)
}

// bearerAuth challenges every request without a valid token.
func bearerAuth(realm string, valid func(string) bool) func(http.ResponseWriter, *http.Request) bool {
	return func(w http.ResponseWriter, r *http.Request) bool {
		if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && valid(tok) {
			return true
		}
		repo := strings.TrimPrefix(r.URL.Path, "/v2/")
		for _, k := range []string{"/manifests/", "/blobs/", "/tags/"} {
			if i := strings.Index(repo, k); i >= 0 {
				repo = repo[:i]
			}
		}
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm=%q,service="test-registry",scope="repository:%s:pull"`, realm, repo))
		registryError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
		return false
	}
}

// bearerSetup starts a registry behind the token flow, the token endpoint
// on its own server as on Docker Hub.
func bearerSetup(t *testing.T, ts *tokenServer) (*fakeRegistry, string) {
	reg := newFakeRegistry()
	reg.realm = serve(t, ts).URL + "/token"
	reg.auth = bearerAuth(reg.realm, ts.valid)
	reg.addManifest("org/app", "v1", "application/vnd.oci.image.manifest.v1+json", []byte(ociManifest))
	return reg, serve(t, reg).URL
}

func TestTokenFlowAnonymous(t *testing.T) {
	ts := &tokenServer{}
	reg, url := bearerSetup(t, ts)
	c, _ := testClient(t, url, Config{}, Options{})
	m, err := c.Manifest(context.Background(), "org/app", "v1")
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Data) != ociManifest {
		t.Errorf("data = %q", m.Data)
	}
	if ts.count() != 1 {
		t.Fatalf("token requests = %d, want 1", ts.count())
	}
	q := ts.calls[0].URL.Query()
	if q.Get("service") != "test-registry" || q.Get("scope") != "repository:org/app:pull" {
		t.Errorf("token query = %v", q)
	}
	if h := ts.calls[0].Header.Get("Authorization"); h != "" {
		t.Errorf("anonymous token request sent Authorization %q", h)
	}
	if got := reg.count("GET /v2/org/app/manifests/v1"); got != 2 {
		t.Errorf("manifest requests = %d, want 2 (challenge, then with token)", got)
	}
}

func TestTokenFlowWithCredentials(t *testing.T) {
	ts := &tokenServer{user: "alice", pass: "s3cret", field: "access_token"}
	_, url := bearerSetup(t, ts)
	c, _ := testClient(t, url, Config{Username: "alice", Password: "s3cret"}, Options{})
	if _, err := c.Manifest(context.Background(), "org/app", "v1"); err != nil {
		t.Fatal(err)
	}
	u, p, ok := ts.calls[0].BasicAuth()
	if !ok || u != "alice" || p != "s3cret" {
		t.Errorf("realm got credentials %q %q %v", u, p, ok)
	}

	bad, _ := testClient(t, url, Config{Username: "alice", Password: "wrong"}, Options{})
	_, err := bad.Manifest(context.Background(), "org/app", "v1")
	if !errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrNotFound) || !IsUnavailable(err) {
		t.Fatalf("wrong password: err = %v (unauthorized %v, unavailable %v)", err, errors.Is(err, ErrUnauthorized), IsUnavailable(err))
	}
	if !strings.Contains(err.Error(), "upstream test.io (") || !strings.Contains(err.Error(), "token from") {
		t.Errorf("error does not say where it failed: %v", err)
	}
}

func TestTokenCachingAndExpiry(t *testing.T) {
	ts := &tokenServer{expiresIn: 300}
	reg, url := bearerSetup(t, ts)
	blob := reg.addBlob([]byte("layer"))
	clk := newClock()
	c, _ := testClient(t, url, Config{}, Options{Now: clk.Now})
	ctx := context.Background()

	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for range 20 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, err := c.Manifest(ctx, "org/app", "v1")
			errs <- err
		}()
		go func() {
			defer wg.Done()
			_, err := c.BlobHead(ctx, "org/app", blob)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// Concurrent first requests may each see a challenge, but the token
	// fetches are merged.
	if ts.count() != 1 {
		t.Fatalf("token requests for 40 calls = %d, want 1", ts.count())
	}
	clk.advance(269 * time.Second) // 300s - 30s margin: still good
	if _, err := c.Manifest(ctx, "org/app", "v1"); err != nil {
		t.Fatal(err)
	}
	if ts.count() != 1 {
		t.Fatalf("token refetched before expiry")
	}
	clk.advance(2 * time.Second) // inside the margin: refresh proactively
	before := reg.count("manifests")
	if _, err := c.Manifest(ctx, "org/app", "v1"); err != nil {
		t.Fatal(err)
	}
	if ts.count() != 2 {
		t.Fatalf("token requests after expiry = %d, want 2", ts.count())
	}
	if got := reg.count("manifests") - before; got != 1 {
		t.Errorf("requests after refresh = %d, want 1 (no challenge round trip)", got)
	}
	// Another repository needs its own scope.
	reg.addManifest("org/other", "v1", "", []byte(ociManifest))
	if _, err := c.Manifest(ctx, "org/other", "v1"); err != nil {
		t.Fatal(err)
	}
	if ts.count() != 3 || ts.calls[2].URL.Query().Get("scope") != "repository:org/other:pull" {
		t.Errorf("token requests = %d, last scope %q", ts.count(), ts.calls[len(ts.calls)-1].URL.Query().Get("scope"))
	}
}

func TestTokenDefaultLifetime(t *testing.T) {
	ts := &tokenServer{} // no expires_in: 60s per the token spec
	_, url := bearerSetup(t, ts)
	clk := newClock()
	c, _ := testClient(t, url, Config{}, Options{Now: clk.Now})
	ctx := context.Background()
	for _, step := range []struct {
		advance time.Duration
		tokens  int
	}{{0, 1}, {47 * time.Second, 1}, {2 * time.Second, 2}} {
		clk.advance(step.advance)
		if _, err := c.Manifest(ctx, "org/app", "v1"); err != nil {
			t.Fatal(err)
		}
		if ts.count() != step.tokens {
			t.Fatalf("after +%s: token requests = %d, want %d", step.advance, ts.count(), step.tokens)
		}
	}
}

func TestTokenRevokedUpstream(t *testing.T) {
	ts := &tokenServer{expiresIn: 3600}
	reg, url := bearerSetup(t, ts)
	c, _ := testClient(t, url, Config{}, Options{})
	ctx := context.Background()
	if _, err := c.Manifest(ctx, "org/app", "v1"); err != nil {
		t.Fatal(err)
	}
	ts.revoke("tok-1") // the upstream stops honouring it before its expiry
	if _, err := c.Manifest(ctx, "org/app", "v1"); err != nil {
		t.Fatal(err)
	}
	if ts.count() != 2 {
		t.Errorf("token requests = %d, want 2", ts.count())
	}
	if got := reg.count("manifests"); got != 4 {
		t.Errorf("manifest requests = %d, want 4", got)
	}
}

func TestTokenWithoutAccessIsBounded(t *testing.T) {
	// The token endpoint hands out tokens, but the registry never accepts
	// them (Docker Hub's answer for a repository that does not exist).
	ts := &tokenServer{}
	reg, url := bearerSetup(t, ts)
	reg.auth = bearerAuth(reg.realm, func(string) bool { return false })
	c, sl := testClient(t, url, Config{}, Options{})
	_, err := c.Manifest(context.Background(), "org/app", "v1")
	if !errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Status != http.StatusUnauthorized {
		t.Fatalf("err = %#v", err)
	}
	if got := reg.count("manifests"); got != 2 {
		t.Errorf("manifest requests = %d, want 2 (never retry a refused token in a loop)", got)
	}
	if len(sl.all()) != 0 {
		t.Errorf("slept %v: a 401 is not retried with backoff", sl.all())
	}
}

// basicAuth answers a Basic challenge unless the request carries user:pass.
func basicAuth(user, pass string) func(http.ResponseWriter, *http.Request) bool {
	return func(w http.ResponseWriter, r *http.Request) bool {
		if u, p, ok := r.BasicAuth(); ok && u == user && p == pass {
			return true
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="Registry Realm"`)
		registryError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
		return false
	}
}

func TestBasicChallenge(t *testing.T) {
	reg := newFakeRegistry()
	reg.auth = basicAuth("bob", "pw")
	reg.addManifest("org/app", "v1", "", []byte(ociManifest))
	url := serve(t, reg).URL
	ctx := context.Background()

	c, _ := testClient(t, url, Config{Username: "bob", Password: "pw"}, Options{})
	for range 3 {
		if _, err := c.Manifest(ctx, "org/app", "v1"); err != nil {
			t.Fatal(err)
		}
	}
	if got := reg.count("manifests"); got != 4 {
		t.Errorf("requests = %d, want 4 (one challenge, then Basic up front)", got)
	}

	anon, _ := testClient(t, url, Config{}, Options{})
	_, err := anon.Manifest(ctx, "org/app", "v1")
	if !errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "none are configured") {
		t.Errorf("without credentials: err = %v", err)
	}

	before := reg.count("manifests")
	wrong, _ := testClient(t, url, Config{Username: "bob", Password: "nope"}, Options{})
	_, err = wrong.Manifest(ctx, "org/app", "v1")
	if !errors.Is(err, ErrUnauthorized) {
		t.Errorf("wrong password: err = %v", err)
	}
	if got := reg.count("manifests") - before; got != 2 {
		t.Errorf("wrong password: requests = %d, want 2", got)
	}
}

func TestNoCredentialsInLogs(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ts := &tokenServer{user: "alice", pass: "hunter2-password"}
	reg, url := bearerSetup(t, ts)
	reg.mu.Lock()
	fails := 1
	reg.hook = func(w http.ResponseWriter, r *http.Request) bool {
		if fails > 0 && r.Header.Get("Authorization") != "" {
			fails--
			registryError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "try again")
			return true
		}
		return false
	}
	reg.mu.Unlock()
	c, _ := testClient(t, url, Config{Username: "alice", Password: "hunter2-password"}, Options{Logger: logger})
	if _, err := c.Manifest(context.Background(), "org/app", "v1"); err != nil {
		t.Fatal(err)
	}
	logs := buf.String()
	if !strings.Contains(logs, "retrying") {
		t.Fatalf("expected a retry in the logs:\n%s", logs)
	}
	for _, secret := range []string{"hunter2", "tok-1", "YWxpY2U6"} { // YWxpY2U6 = base64("alice:")
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %q:\n%s", secret, logs)
		}
	}
}
