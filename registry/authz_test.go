package registry_test

// The authorization table: every endpoint, every kind of caller. Writes
// refuse read-only users (403 DENIED with Basic credentials; 401
// insufficient_scope with a token that lacks push) and anonymous clients
// (401 and a Bearer challenge naming realm, service and scope); reads
// refuse anonymous clients unless anonymous is "read"; the writer can do
// everything. Forged tokens are refused.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/opencontainers/go-digest"
	"github.com/shadowreg/shadowreg/internal/ref"
	"github.com/shadowreg/shadowreg/registry/auth"
	"github.com/shadowreg/shadowreg/storage"
)

const authzSecret = "0123456789abcdef0123456789abcdef" // authConfig's

// authzFixture seeds the store with what the endpoints act on.
type authzFixture struct {
	e        *bsEnv
	app      *storage.Repo // authz/app
	n        atomic.Int64
	manifest digest.Digest // authz/app:1
	layer    []byte
	config   []byte
	other    digest.Digest // held by authz/other only
}

func newAuthzFixture(t *testing.T, e *bsEnv) *authzFixture {
	t.Helper()
	f := &authzFixture{e: e}
	var err error
	if f.app, err = e.store.Repo("docker.io/authz/app"); err != nil {
		t.Fatal(err)
	}
	other, err := e.store.Repo("docker.io/authz/other")
	if err != nil {
		t.Fatal(err)
	}
	f.layer = []byte(strings.Repeat("authz layer ", 100))
	f.config = []byte(`{"architecture":"amd64","os":"linux"}`)
	f.seedBlob(f.app, f.layer)
	f.seedBlob(f.app, f.config)
	f.manifest = f.seedManifest("1")
	f.other = f.seedBlob(other, []byte("only authz/other holds this"))
	return f
}

func (f *authzFixture) seedBlob(r *storage.Repo, data []byte) digest.Digest {
	f.e.t.Helper()
	ctx := f.e.t.Context()
	up, err := r.UploadStart(ctx)
	if err != nil {
		f.e.t.Fatal(err)
	}
	if err := up.Append(ctx, strings.NewReader(string(data)), 0, int64(len(data))); err != nil {
		f.e.t.Fatal(err)
	}
	d := digest.FromBytes(data)
	if _, err := up.Commit(ctx, d); err != nil {
		f.e.t.Fatal(err)
	}
	return d
}

// manifestJSON is a manifest over the fixture's blobs, made unique by
// annotation.
func (f *authzFixture) manifestJSON(annotation string) []byte {
	b, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": storage.MediaTypeOCIManifest,
		"config":      map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest.FromBytes(f.config), "size": len(f.config)},
		"layers":      []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest.FromBytes(f.layer), "size": len(f.layer)}},
		"annotations": map[string]string{"n": annotation},
	})
	return b
}

func (f *authzFixture) seedManifest(tag string) digest.Digest {
	f.e.t.Helper()
	data := f.manifestJSON(tag)
	p, err := storage.ParseManifest(storage.MediaTypeOCIManifest, data)
	if err != nil {
		f.e.t.Fatal(err)
	}
	m := &storage.Manifest{Digest: digest.FromBytes(data), MediaType: p.MediaType, Data: data}
	if err := f.app.PutManifest(f.e.t.Context(), m, p, tag); err != nil {
		f.e.t.Fatal(err)
	}
	return m.Digest
}

func (f *authzFixture) fresh() string { return fmt.Sprintf("f%d", f.n.Add(1)) }

func (f *authzFixture) seedUpload() string {
	f.e.t.Helper()
	up, err := f.app.UploadStart(f.e.t.Context())
	if err != nil {
		f.e.t.Fatal(err)
	}
	return up.ID()
}

// authzCase is one endpoint. target builds a fresh path (and body) for
// each request, so that a request that succeeds does not change what the
// next one finds.
type authzCase struct {
	name   string
	method string
	target func(f *authzFixture) (path string, body []byte)
	write  bool
	scope  string // the challenge's scope
	ok     int    // the status of an allowed request
}

const (
	pullPush = "repository:authz/app:pull,push"
	pull     = "repository:authz/app:pull"
	del      = "repository:authz/app:delete"
)

var authzCases = []authzCase{
	{"POST upload", http.MethodPost, func(f *authzFixture) (string, []byte) {
		return "/v2/authz/app/blobs/uploads/", nil
	}, true, pullPush, http.StatusAccepted},
	{"POST monolithic upload", http.MethodPost, func(f *authzFixture) (string, []byte) {
		b := []byte("monolithic " + f.fresh())
		return "/v2/authz/app/blobs/uploads/?digest=" + digest.FromBytes(b).String(), b
	}, true, pullPush, http.StatusCreated},
	{"PATCH upload", http.MethodPatch, func(f *authzFixture) (string, []byte) {
		return "/v2/authz/app/blobs/uploads/" + f.seedUpload(), []byte("a chunk")
	}, true, pullPush, http.StatusAccepted},
	{"PUT upload", http.MethodPut, func(f *authzFixture) (string, []byte) {
		b := []byte("last chunk " + f.fresh())
		return "/v2/authz/app/blobs/uploads/" + f.seedUpload() + "?digest=" + digest.FromBytes(b).String(), b
	}, true, pullPush, http.StatusCreated},
	{"DELETE upload", http.MethodDelete, func(f *authzFixture) (string, []byte) {
		return "/v2/authz/app/blobs/uploads/" + f.seedUpload(), nil
	}, true, pullPush, http.StatusNoContent},
	{"PUT manifest", http.MethodPut, func(f *authzFixture) (string, []byte) {
		tag := f.fresh()
		return "/v2/authz/app/manifests/" + tag, f.manifestJSON(tag)
	}, true, pullPush, http.StatusCreated},
	{"DELETE manifest", http.MethodDelete, func(f *authzFixture) (string, []byte) {
		return "/v2/authz/app/manifests/" + f.seedManifest(f.fresh()).String(), nil
	}, true, del, http.StatusAccepted},
	{"DELETE tag", http.MethodDelete, func(f *authzFixture) (string, []byte) {
		tag := f.fresh()
		f.seedManifest(tag)
		return "/v2/authz/app/manifests/" + tag, nil
	}, true, del, http.StatusAccepted},
	{"DELETE blob", http.MethodDelete, func(f *authzFixture) (string, []byte) {
		return "/v2/authz/app/blobs/" + f.seedBlob(f.app, []byte("to delete "+f.fresh())).String(), nil
	}, true, del, http.StatusAccepted},
	{"POST mount from", http.MethodPost, func(f *authzFixture) (string, []byte) {
		return "/v2/authz/app/blobs/uploads/?mount=" + f.other.String() + "&from=authz/other", nil
	}, true, pullPush + " repository:authz/other:pull", http.StatusCreated},

	{"GET manifest", http.MethodGet, func(f *authzFixture) (string, []byte) {
		return "/v2/authz/app/manifests/1", nil
	}, false, pull, http.StatusOK},
	{"HEAD manifest", http.MethodHead, func(f *authzFixture) (string, []byte) {
		return "/v2/authz/app/manifests/" + f.manifest.String(), nil
	}, false, pull, http.StatusOK},
	{"GET blob", http.MethodGet, func(f *authzFixture) (string, []byte) {
		return "/v2/authz/app/blobs/" + digest.FromBytes(f.layer).String(), nil
	}, false, pull, http.StatusOK},
	{"HEAD blob", http.MethodHead, func(f *authzFixture) (string, []byte) {
		return "/v2/authz/app/blobs/" + digest.FromBytes(f.layer).String(), nil
	}, false, pull, http.StatusOK},
	{"GET tags", http.MethodGet, func(f *authzFixture) (string, []byte) {
		return "/v2/authz/app/tags/list", nil
	}, false, pull, http.StatusOK},
	{"GET referrers", http.MethodGet, func(f *authzFixture) (string, []byte) {
		return "/v2/authz/app/referrers/" + f.manifest.String(), nil
	}, false, pull, http.StatusOK},
	{"GET upload status", http.MethodGet, func(f *authzFixture) (string, []byte) {
		return "/v2/authz/app/blobs/uploads/" + f.seedUpload(), nil
	}, false, pull, http.StatusNoContent},
	{"GET catalog", http.MethodGet, func(f *authzFixture) (string, []byte) {
		return "/v2/_catalog", nil
	}, false, "registry:catalog:*", http.StatusOK},
}

// token fetches a token from the registry's token endpoint.
func (e *bsEnv) token(c creds, scopes ...string) string {
	e.t.Helper()
	q := url.Values{"service": {"shadowreg"}}
	for _, s := range scopes {
		for sc := range strings.FieldsSeq(s) {
			q.Add("scope", sc)
		}
	}
	r := e.do(http.MethodGet, auth.TokenPath+"?"+q.Encode(), nil, c)
	if r.StatusCode != http.StatusOK {
		e.t.Fatalf("token for %s %v: %d %s", c.user, scopes, r.StatusCode, r.body)
	}
	var body struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil || body.Token == "" {
		e.t.Fatalf("token response %s: %v", r.body, err)
	}
	return body.Token
}

// challenge is the exact challenge for scope ("" for none), whose
// repository names a challenge carries in canonical form.
func (e *bsEnv) challenge(scope, errCode string) string {
	c := fmt.Sprintf(`Bearer realm="http://%s/auth/token",service="shadowreg"`, e.host)
	if scope != "" {
		c += fmt.Sprintf(`,scope="%s"`, canonicalScope(e.t, scope))
	}
	if errCode != "" {
		c += fmt.Sprintf(`,error="%s"`, errCode)
	}
	return c
}

// canonicalScope writes the repository names of a scope list in canonical
// form: repository:authz/app:pull is repository:docker.io/authz/app:pull.
func canonicalScope(t testing.TB, scopes string) string {
	t.Helper()
	var out []string
	for _, sc := range strings.Fields(scopes) {
		a, err := auth.ParseScope(sc)
		if err != nil {
			t.Fatal(err)
		}
		if a.Type == auth.TypeRepository {
			if a.Name, err = (ref.Names{}).Canonical(a.Name, ""); err != nil {
				t.Fatal(err)
			}
		}
		out = append(out, a.String())
	}
	return strings.Join(out, " ")
}

// expectRefused checks a 401 or 403 with its OCI code, and for a 401 the
// exact challenge.
func (e *bsEnv) expectRefused(r *response, status int, challenge string) {
	e.t.Helper()
	code := "UNAUTHORIZED"
	if status == http.StatusForbidden {
		code = "DENIED"
	}
	if r.StatusCode != status {
		e.t.Errorf("%s %s = %d %s, want %d %s", r.Request.Method, r.Request.URL, r.StatusCode, r.body, status, code)
		return
	}
	if r.Request.Method != http.MethodHead {
		if codes := r.errorCodes(e.t); len(codes) == 0 || codes[0] != code {
			e.t.Errorf("%s %s: codes %v, want %s", r.Request.Method, r.Request.URL, codes, code)
		}
	}
	if got := r.Header.Get("WWW-Authenticate"); got != challenge {
		e.t.Errorf("%s %s: WWW-Authenticate %q, want %q", r.Request.Method, r.Request.URL, got, challenge)
	}
}

func (e *bsEnv) expectStatus(r *response, want int, who string) {
	e.t.Helper()
	if r.StatusCode != want {
		e.t.Errorf("%s %s as %s = %d %s, want %d", r.Request.Method, r.Request.URL, who, r.StatusCode, r.body, want)
	}
}

func TestAuthorizationTable(t *testing.T) {
	for _, anonymous := range []string{auth.AnonymousNone, auth.AnonymousRead} {
		t.Run("anonymous="+anonymous, func(t *testing.T) {
			e := newBSEnv(t, bsOptions{auth: authConfig(anonymous)})
			f := newAuthzFixture(t, e)
			for _, c := range authzCases {
				t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
					e := *e
					e.t = t
					f.e = &e
					req := func(who creds, header ...string) *response {
						path, body := c.target(f)
						if body != nil {
							header = append(header, "Content-Type", "application/octet-stream")
							if strings.Contains(path, "/manifests/") {
								header = append(header, "Content-Type", storage.MediaTypeOCIManifest)
							}
						}
						return e.do(c.method, path, body, who, header...)
					}
					bearer := func(token string) []string { return []string{"Authorization", "Bearer " + token} }

					// The writer can do everything, with its password or a token.
					e.expectStatus(req(writer), c.ok, "writer")
					e.expectStatus(req(creds{}, bearer(e.token(writer, c.scope))...), c.ok, "writer's token")

					if c.write {
						e.expectRefused(req(reader), http.StatusForbidden, "")
						e.expectRefused(req(creds{}, bearer(e.token(reader, c.scope))...), http.StatusUnauthorized,
							e.challenge(c.scope, "insufficient_scope"))
						e.expectRefused(req(creds{}), http.StatusUnauthorized, e.challenge(c.scope, ""))
						return
					}
					e.expectStatus(req(reader), c.ok, "reader")
					e.expectStatus(req(creds{}, bearer(e.token(reader, c.scope))...), c.ok, "reader's token")
					if anonymous == auth.AnonymousRead {
						e.expectStatus(req(creds{}), c.ok, "anonymous")
						// With an anonymous token too.
						e.expectStatus(req(creds{}, bearer(e.token(creds{}, c.scope))...), c.ok, "anonymous token")
					} else {
						e.expectRefused(req(creds{}), http.StatusUnauthorized, e.challenge(c.scope, ""))
					}
				})
			}
		})
	}
}

func TestAuthorizationBase(t *testing.T) {
	for _, anonymous := range []string{auth.AnonymousNone, auth.AnonymousRead} {
		t.Run("anonymous="+anonymous, func(t *testing.T) {
			e := newBSEnv(t, bsOptions{auth: authConfig(anonymous)})
			// Anonymous clients are challenged even when pulls are open: that
			// is how docker learns the realm.
			e.expectRefused(e.do(http.MethodGet, "/v2/", nil, creds{}), http.StatusUnauthorized, e.challenge("", ""))
			e.expectRefused(e.do(http.MethodGet, "/v2/", nil, creds{"writer", "wrong"}), http.StatusUnauthorized, e.challenge("", ""))
			for _, c := range []creds{writer, reader} {
				e.expectStatus(e.do(http.MethodGet, "/v2/", nil, c), http.StatusOK, c.user)
				e.expectStatus(e.do(http.MethodGet, "/v2/", nil, creds{}, "Authorization", "Bearer "+e.token(c)), http.StatusOK, c.user+"'s token")
			}
		})
	}
}

// TestAuthorizationMountNeedsPullOnFrom: a user who may push to a
// repository but not read another cannot mount from it.
func TestAuthorizationMountNeedsPullOnFrom(t *testing.T) {
	e := newBSEnv(t, bsOptions{auth: authConfig(auth.AnonymousNone)})
	f := newAuthzFixture(t, e)
	secret, err := e.store.Repo("docker.io/secret/img")
	if err != nil {
		t.Fatal(err)
	}
	d := f.seedBlob(secret, []byte("limited may not read this"))
	path := "/v2/authz/app/blobs/uploads/?mount=" + d.String() + "&from=secret/img"
	scope := pullPush + " repository:secret/img:pull"
	e.expectRefused(e.do(http.MethodPost, path, nil, limited), http.StatusForbidden, "")
	e.expectRefused(e.do(http.MethodPost, path, nil, creds{}, "Authorization", "Bearer "+e.token(limited, scope)),
		http.StatusUnauthorized, e.challenge(scope, "insufficient_scope"))
	if _, err := f.app.BlobStat(t.Context(), d); err == nil {
		t.Error("the refused mount linked the blob")
	}
	// Where it may read, it may mount.
	sub, err := e.store.Repo("docker.io/authz/app/src")
	if err != nil {
		t.Fatal(err)
	}
	d2 := f.seedBlob(sub, []byte("limited may read this"))
	e.expectStatus(e.do(http.MethodPost, "/v2/authz/app/blobs/uploads/?mount="+d2.String()+"&from=authz/app/src", nil, limited),
		http.StatusCreated, "limited")
	// And the writer may mount from anywhere.
	e.expectStatus(e.do(http.MethodPost, path, nil, writer), http.StatusCreated, "writer")
}

// forgedClaims is the payload of a registry token (distribution's jwt.md).
type forgedClaims struct {
	jwt.RegisteredClaims
	Access []auth.Access `json:"access"`
}

func TestAuthorizationForgedTokens(t *testing.T) {
	e := newBSEnv(t, bsOptions{auth: authConfig(auth.AnonymousNone)})
	f := newAuthzFixture(t, e)
	_ = f
	now := time.Now()
	base := func() forgedClaims {
		return forgedClaims{
			RegisteredClaims: jwt.RegisteredClaims{
				Issuer: "shadowreg", Subject: "writer", Audience: jwt.ClaimStrings{"shadowreg"},
				ExpiresAt: jwt.NewNumericDate(now.Add(10 * time.Minute)), NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)),
				IssuedAt: jwt.NewNumericDate(now.Add(-time.Minute)), ID: "forged",
			},
			Access: []auth.Access{auth.Repository("authz/app", auth.ActionPull, auth.ActionPush)},
		}
	}
	sign := func(method jwt.SigningMethod, key any, c forgedClaims) string {
		t.Helper()
		s, err := jwt.NewWithClaims(method, c).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	secret := []byte(authzSecret)
	get := "/v2/authz/app/manifests/1"
	try := func(token string) *response {
		return e.do(http.MethodGet, get, nil, creds{}, "Authorization", "Bearer "+token)
	}
	// The honest token, made the same way, works: the forgeries below
	// differ from it in one thing each.
	e.expectStatus(try(sign(jwt.SigningMethodHS256, secret, base())), http.StatusOK, "a well-made token")

	invalid := e.challenge(pull, "invalid_token")
	cases := []struct {
		name, token, challenge string
	}{
		{"alg none", sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, base()), invalid},
		{"wrong key", sign(jwt.SigningMethodHS256, []byte("another-secret-another-secret!!"), base()), invalid},
		{"another algorithm, same key", sign(jwt.SigningMethodHS512, secret, base()), invalid},
		{"expired", sign(jwt.SigningMethodHS256, secret, func() forgedClaims {
			c := base()
			c.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Hour))
			c.NotBefore = jwt.NewNumericDate(now.Add(-2 * time.Hour))
			c.IssuedAt = jwt.NewNumericDate(now.Add(-2 * time.Hour))
			return c
		}()), invalid},
		{"not yet valid", sign(jwt.SigningMethodHS256, secret, func() forgedClaims {
			c := base()
			c.NotBefore = jwt.NewNumericDate(now.Add(time.Hour))
			return c
		}()), invalid},
		{"wrong audience", sign(jwt.SigningMethodHS256, secret, func() forgedClaims {
			c := base()
			c.Audience = jwt.ClaimStrings{"another-registry"}
			return c
		}()), invalid},
		{"wrong issuer", sign(jwt.SigningMethodHS256, secret, func() forgedClaims {
			c := base()
			c.Issuer = "someone-else"
			return c
		}()), invalid},
		{"unknown subject", sign(jwt.SigningMethodHS256, secret, func() forgedClaims {
			c := base()
			c.Subject = "mallory"
			return c
		}()), invalid},
		{"no expiry", sign(jwt.SigningMethodHS256, secret, func() forgedClaims {
			c := base()
			c.ExpiresAt = nil
			return c
		}()), invalid},
		{"another repository", sign(jwt.SigningMethodHS256, secret, func() forgedClaims {
			c := base()
			c.Access = []auth.Access{auth.Repository("authz/other", auth.ActionPull, auth.ActionPush)}
			return c
		}()), e.challenge(pull, "insufficient_scope")},
		{"a prefix of the repository", sign(jwt.SigningMethodHS256, secret, func() forgedClaims {
			c := base()
			c.Access = []auth.Access{auth.Repository("authz", auth.ActionPull)}
			return c
		}()), e.challenge(pull, "insufficient_scope")},
		{"garbage", "not.a.token", invalid},
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			e := *e
			e.t = t
			e.expectRefused(try(c.token), http.StatusUnauthorized, c.challenge)
		})
	}
	// A genuine token for pull does not push.
	pullOnly := e.token(writer, pull)
	r := e.do(http.MethodPut, "/v2/authz/app/manifests/escalated", f.manifestJSON("escalated"), creds{},
		"Authorization", "Bearer "+pullOnly, "Content-Type", storage.MediaTypeOCIManifest)
	e.expectRefused(r, http.StatusUnauthorized, e.challenge(pullPush, "insufficient_scope"))
	// Nor does a token for one repository open another.
	appToken := e.token(writer, pullPush)
	r = e.do(http.MethodGet, "/v2/authz/other/tags/list", nil, creds{}, "Authorization", "Bearer "+appToken)
	e.expectRefused(r, http.StatusUnauthorized, e.challenge("repository:authz/other:pull", "insufficient_scope"))
}
