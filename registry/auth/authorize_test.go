package auth

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// wants are the columns of the authorization matrix.
var wants = []struct {
	name string
	want []Access
}{
	{"pull", []Access{Repository("library/alpine", ActionPull)}},
	{"push", []Access{Repository("library/alpine", ActionPull, ActionPush)}},
	{"delete", []Access{Repository("library/alpine", ActionDelete)}},
	{"catalog", []Access{Catalog()}},
	{"v2", nil},
	{"team-push", []Access{Repository("team/app", ActionPull, ActionPush)}},
	{"teamx-push", []Access{Repository("teamx/app", ActionPull, ActionPush)}},
	{"team-delete", []Access{Repository("team/app", ActionDelete)}},
	{"mount", []Access{Repository("team/app", ActionPull, ActionPush), Repository("library/alpine", ActionPull)}},
}

// Expected statuses, one per column of wants, 2 = 200, 1 = 401, 3 = 403.
const (
	allOK   = "222222222"
	all401  = "111111111"
	anonRow = "211211111" // anonymous: pull and catalog only; GET /v2/ challenges
)

var credentials = map[string]creds{
	"none":    {},
	"writer":  {"writer", "writer-pw"},
	"reader":  {"reader", "reader-pw"},
	"team":    {"team", "team-pw"},
	"wrongpw": {"writer", "reader-pw"},
	"unknown": {"dockerhub-user", "hub-pw"},
}

func statusOf(c byte) int {
	return map[byte]int{'2': 200, '1': 401, '3': 403}[c]
}

// TestAuthorizeBasic sends credentials straight to /v2/ endpoints.
func TestAuthorizeBasic(t *testing.T) {
	tests := []struct {
		anonymous, cred, expect string
	}{
		{AnonymousNone, "none", all401},
		{AnonymousNone, "writer", allOK},
		{AnonymousNone, "reader", "233223333"},
		{AnonymousNone, "team", "333222323"},
		{AnonymousNone, "wrongpw", all401},
		{AnonymousNone, "unknown", all401},
		{AnonymousRead, "none", anonRow},
		{AnonymousRead, "writer", allOK},
		{AnonymousRead, "reader", "233223333"},
		{AnonymousRead, "team", "333222323"},
		{AnonymousRead, "wrongpw", all401},
		{AnonymousRead, "unknown", anonRow}, // Docker Hub credentials sent to a mirror
	}
	for _, tt := range tests {
		s := newService(t, testConfig(tt.anonymous))
		for i, col := range wants {
			header := ""
			if c := credentials[tt.cred]; c != (creds{}) {
				header = basic(c.user, c.password)
			}
			_, err := authorize(s, header, col.want...)
			if got, want := status(t, err), statusOf(tt.expect[i]); got != want {
				t.Errorf("anonymous=%s basic %s %s: status %d, want %d (%v)", tt.anonymous, tt.cred, col.name, got, want, err)
			}
		}
	}
}

// TestAuthorizeDockerFlow plays what docker and containerd do: try without
// credentials, read the challenge, get a token for its scope, retry.
func TestAuthorizeDockerFlow(t *testing.T) {
	tests := []struct {
		anonymous, cred, expect string
	}{
		{AnonymousNone, "none", all401},
		{AnonymousNone, "writer", allOK},
		// A token that grants less than the challenge asked for leaves the
		// client with a 401 (insufficient_scope), never a 403.
		{AnonymousNone, "reader", "211221111"},
		{AnonymousNone, "team", "111222121"},
		{AnonymousNone, "wrongpw", all401},
		{AnonymousNone, "unknown", all401},
		// Pulls and the catalog pass before any token; GET /v2/ passes with
		// the anonymous token.
		{AnonymousRead, "none", "211221111"},
		{AnonymousRead, "writer", allOK},
		{AnonymousRead, "reader", "211221111"},
		{AnonymousRead, "team", "211222121"},
		{AnonymousRead, "wrongpw", anonRow}, // the token endpoint refuses a known user's wrong password
		{AnonymousRead, "unknown", "211221111"},
	}
	for _, tt := range tests {
		s := newService(t, testConfig(tt.anonymous))
		for i, col := range wants {
			got := dockerFlow(t, s, credentials[tt.cred], col.want)
			if want := statusOf(tt.expect[i]); got != want {
				t.Errorf("anonymous=%s flow %s %s: status %d, want %d", tt.anonymous, tt.cred, col.name, got, want)
			}
		}
	}
}

// dockerFlow returns the final status a token-auth client sees.
func dockerFlow(t *testing.T, s *Service, c creds, want []Access) int {
	t.Helper()
	_, err := authorize(s, "", want...)
	if err == nil {
		return http.StatusOK
	}
	e := err.(*Error)
	if e.Status != http.StatusUnauthorized {
		return e.Status
	}
	params := parseChallenge(t, e.Challenge)
	if params["realm"] != "http://reg.example/auth/token" || params["service"] != "shadowreg" {
		t.Fatalf("challenge %q", e.Challenge)
	}
	var scopes []string
	if params["scope"] != "" {
		scopes = []string{params["scope"]}
	}
	w := getToken(t, s, c, scopes...)
	if w.Code != http.StatusOK {
		return w.Code
	}
	tr := decodeTokenResponse(t, w)
	_, err = authorize(s, bearer(tr.Token), want...)
	return status(t, err)
}

// parseChallenge splits `Bearer k="v",k="v"` (values here hold no quotes).
func parseChallenge(t *testing.T, ch string) map[string]string {
	t.Helper()
	rest, ok := strings.CutPrefix(ch, "Bearer ")
	if !ok {
		t.Fatalf("challenge %q is not Bearer", ch)
	}
	out := map[string]string{}
	for rest != "" {
		k, v, ok := strings.Cut(rest, `="`)
		if !ok {
			t.Fatalf("challenge %q", ch)
		}
		end := strings.IndexByte(v, '"')
		out[k] = v[:end]
		rest = strings.TrimPrefix(v[end+1:], ",")
	}
	return out
}

func TestChallenge(t *testing.T) {
	s := newService(t, testConfig(AnonymousNone))
	_, err := authorize(s, "", Repository("library/alpine", "push", "pull"))
	want := `Bearer realm="http://reg.example/auth/token",service="shadowreg",scope="repository:docker.io/library/alpine:pull,push"`
	if e := err.(*Error); e.Challenge != want {
		t.Errorf("challenge\n got %s\nwant %s", e.Challenge, want)
	}
	_, err = authorize(s, "")
	if e := err.(*Error); e.Challenge != `Bearer realm="http://reg.example/auth/token",service="shadowreg"` {
		t.Errorf("challenge without scope: %s", e.Challenge)
	}
	// Cross-repository mount: both scopes, space-separated.
	_, err = authorize(s, "", Repository("a", "pull", "push"), Repository("b", "pull"))
	if e := err.(*Error); !strings.Contains(e.Challenge, `scope="repository:docker.io/library/a:pull,push repository:docker.io/library/b:pull"`) {
		t.Errorf("mount challenge: %s", e.Challenge)
	}

	tok := decodeTokenResponse(t, getToken(t, s, credentials["reader"], "repository:a:pull")).Token
	_, err = authorize(s, bearer(tok), Repository("a", "push"))
	if e := err.(*Error); !strings.HasSuffix(e.Challenge, `scope="repository:docker.io/library/a:push",error="insufficient_scope"`) {
		t.Errorf("insufficient scope challenge: %s", e.Challenge)
	}
	_, err = authorize(s, bearer("garbage"), Repository("a", "pull"))
	if e := err.(*Error); !strings.HasSuffix(e.Challenge, `error="invalid_token"`) {
		t.Errorf("invalid token challenge: %s", e.Challenge)
	}
}

func TestRealm(t *testing.T) {
	s := newService(t, testConfig(AnonymousNone))
	r := httptest.NewRequest(http.MethodGet, "https://alias.buildset:5000/v2/", nil)
	if got := s.Realm(r); got != "https://alias.buildset:5000/auth/token" {
		t.Errorf("TLS realm = %q", got)
	}
	r = httptest.NewRequest(http.MethodGet, "http://10.0.0.5:5000/v2/", nil)
	if got := s.Realm(r); got != "http://10.0.0.5:5000/auth/token" {
		t.Errorf("plain realm = %q", got)
	}
	r.Header.Set("X-Forwarded-Proto", "https")
	if got := s.Realm(r); got != "https://10.0.0.5:5000/auth/token" {
		t.Errorf("forwarded realm = %q", got)
	}
	r.Header.Set("X-Forwarded-Proto", "javascript")
	if got := s.Realm(r); got != "http://10.0.0.5:5000/auth/token" {
		t.Errorf("bogus forwarded proto accepted: %q", got)
	}

	s, err := New(testConfig(AnonymousNone), Options{PublicURL: "https://registry.example/"})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Realm(r); got != "https://registry.example/auth/token" {
		t.Errorf("public URL realm = %q", got)
	}
	if _, err := New(testConfig(AnonymousNone), Options{PublicURL: "registry.example"}); err == nil {
		t.Error("a public URL without scheme was accepted")
	}
}

func TestIdentity(t *testing.T) {
	s := newService(t, testConfig(AnonymousRead))
	ctx := t.Context()
	permits := func(id *Identity, name, action string) bool {
		t.Helper()
		ok, err := s.Permits(ctx, id, canonicalWant(s, []Access{Repository(name, action)}, id.Buildset)[0])
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	id, err := authorize(s, basic("team", "team-pw"), Repository("team/app", "push"))
	if err != nil {
		t.Fatal(err)
	}
	if id.Name != "team" || id.Anonymous || id.Buildset != "bs-1" || id.User() != "team" {
		t.Errorf("basic identity %+v", id)
	}
	if !permits(id, "team/app", "pull") || permits(id, "other", "pull") {
		t.Error("Permits ignores the prefixes")
	}

	tok := decodeTokenResponse(t, getToken(t, s, credentials["team"], "registry:catalog:*")).Token
	id, err = authorize(s, bearer(tok), Catalog())
	if err != nil {
		t.Fatal(err)
	}
	if id.Name != "team" || id.Buildset != "bs-1" {
		t.Errorf("token identity %+v", id)
	}
	// A catalog handler filters with the configured rights, not the token's.
	if !permits(id, "team/app", "pull") || permits(id, "library/alpine", "pull") {
		t.Error("token identity Permits ignores the prefixes")
	}

	id, err = authorize(s, "", Repository("x", "pull"))
	if err != nil || !id.Anonymous || id.Name != "" || id.User() != "anonymous" {
		t.Errorf("anonymous identity %+v, %v", id, err)
	}
	if !permits(id, "x", "pull") || permits(id, "x", "push") {
		t.Error("anonymous Permits")
	}
	if id := s.Authenticate(httptest.NewRequest(http.MethodGet, "/v2/", nil)); id.MountsAnywhere() {
		t.Error("anonymous readers may mount anything")
	}
	r := httptest.NewRequest(http.MethodGet, "/v2/", nil)
	r.Header.Set("Authorization", basic("writer", "writer-pw"))
	if id := s.Authenticate(r); !id.MountsAnywhere() {
		t.Error("an unrestricted writer may not mount by digest")
	}
	r.Header.Set("Authorization", basic("team", "team-pw"))
	if id := s.Authenticate(r); id.MountsAnywhere() {
		t.Error("a prefix-limited, bound user may mount anything")
	}
	r.Header.Set("Authorization", basic("writer", "wrong"))
	if id := s.Authenticate(r); !id.Refused() || id.MountsAnywhere() || id.User() != "" {
		t.Errorf("wrong password: %+v", id)
	}
}

func TestAuthorizeMalformed(t *testing.T) {
	s := newService(t, testConfig(AnonymousRead))
	for _, h := range []string{"Basic !!!", "Digest x", "Bearer", "Bearer ", "bearer x.y.z"} {
		if _, err := authorize(s, h, Repository("x", "pull")); status(t, err) != http.StatusUnauthorized {
			t.Errorf("%q: %v", h, err)
		}
	}
}

// TestTokenOutlivesConfig: a token whose user is gone, or an anonymous
// token once anonymous access is closed, is refused even though its
// signature is still good.
func TestTokenOutlivesConfig(t *testing.T) {
	old := newService(t, testConfig(AnonymousRead))
	userTok := decodeTokenResponse(t, getToken(t, old, credentials["reader"], "repository:a:pull")).Token
	anonTok := decodeTokenResponse(t, getToken(t, old, creds{}, "repository:a:pull")).Token

	cfg := testConfig(AnonymousNone)
	cfg.Users = cfg.Users[:1] // reader removed
	s := newService(t, cfg)
	for name, tok := range map[string]string{"removed user": userTok, "anonymous": anonTok} {
		if _, err := authorize(s, bearer(tok), Repository("a", "pull")); status(t, err) != http.StatusUnauthorized {
			t.Errorf("%s token accepted: %v", name, err)
		}
	}
}

// TestNothingSecretLogged runs the failure and success paths with a debug
// logger and looks for passwords, the secret and tokens in its output.
func TestNothingSecretLogged(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := New(testConfig(AnonymousRead), Options{Logger: logger, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	tok := decodeTokenResponse(t, getToken(t, s, credentials["writer"], "repository:a:pull,push", "bogus")).Token
	getToken(t, s, creds{"writer", "Wrong-Secret-pw"}, "repository:a:pull")
	getToken(t, s, creds{"stranger", "stranger-pw"}, "repository:a:pull")
	authorize(s, basic("writer", "Wrong-Secret-pw"), Repository("a", "pull"))
	authorize(s, bearer(tok+"x"), Repository("a", "pull"))
	authorize(s, bearer(tok), Repository("b", "pull"))

	if buf.Len() == 0 {
		t.Fatal("nothing logged: the test checks nothing")
	}
	for _, secret := range []string{"writer-pw", "Wrong-Secret-pw", "stranger-pw", testSecret, tok, strings.Split(tok, ".")[2]} {
		if strings.Contains(buf.String(), secret) {
			t.Errorf("log contains %q:\n%s", secret, buf.String())
		}
	}
}
