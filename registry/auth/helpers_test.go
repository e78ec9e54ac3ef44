package auth

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shadowreg/shadowreg/internal/ref"
	"golang.org/x/crypto/bcrypt"
)

const testSecret = "0123456789abcdef-test-secret"

// t0 is the fixed clock of most tests.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// teamHash is a bcrypt hash of "team-pw", made once (bcrypt is slow by design).
var teamHash = sync.OnceValue(func() string {
	h, err := bcrypt.GenerateFromPassword([]byte("team-pw"), bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	return string(h)
})

// testConfig has a write user, a read user and a write user limited to
// team/ whose password is a bcrypt hash.
func testConfig(anonymous string) Config {
	return Config{
		Users: []User{
			{Name: "writer", PlainPassword: "writer-pw", Access: AccessWrite},
			{Name: "reader", PlainPassword: "reader-pw", Access: AccessRead},
			{Name: "team", Password: teamHash(), Access: AccessWrite, Prefixes: []string{"team/"}, Buildset: "bs-1"},
		},
		Anonymous: anonymous,
		Secret:    testSecret,
	}
}

func newService(t *testing.T, cfg Config) *Service {
	t.Helper()
	s, err := New(cfg, Options{Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

// creds are Basic credentials; the zero value sends none.
type creds struct{ user, password string }

func (c creds) set(r *http.Request) {
	if c != (creds{}) {
		r.SetBasicAuth(c.user, c.password)
	}
}

// getToken asks the token endpoint with GET, as docker pull does.
func getToken(t *testing.T, s *Service, c creds, scopes ...string) *httptest.ResponseRecorder {
	t.Helper()
	q := url.Values{"service": {"shadowreg"}, "scope": scopes}
	r := httptest.NewRequest(http.MethodGet, "http://reg.example"+TokenPath+"?"+q.Encode(), nil)
	c.set(r)
	w := httptest.NewRecorder()
	s.TokenHandler().ServeHTTP(w, r)
	return w
}

// postToken asks with the OAuth2 password grant, as docker login does.
func postToken(t *testing.T, s *Service, form url.Values) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "http://reg.example"+TokenPath, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	s.TokenHandler().ServeHTTP(w, r)
	return w
}

func decodeTokenResponse(t *testing.T, w *httptest.ResponseRecorder) tokenResponse {
	t.Helper()
	if w.Code != http.StatusOK {
		t.Fatalf("token endpoint: %d %s", w.Code, w.Body)
	}
	var tr tokenResponse
	if err := json.Unmarshal(w.Body.Bytes(), &tr); err != nil {
		t.Fatalf("token response %q: %v", w.Body, err)
	}
	return tr
}

// payload decodes a JWT's claims without verifying it.
func payload(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// grantedScopes returns a token's access claim in scope syntax.
func grantedScopes(t *testing.T, token string) []string {
	t.Helper()
	raw, _ := json.Marshal(payload(t, token)["access"])
	var list []Access
	if err := json.Unmarshal(raw, &list); err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, a := range list {
		out = append(out, a.String())
	}
	return out
}

// authorize authenticates a request with an Authorization header (may be
// empty) and authorizes want, whose names it resolves first as the
// registry does (ref, with the identity's buildset).
func authorize(s *Service, header string, want ...Access) (*Identity, error) {
	r := httptest.NewRequest(http.MethodGet, "http://reg.example/v2/", nil)
	if header != "" {
		r.Header.Set("Authorization", header)
	}
	id := s.Authenticate(r)
	return id, s.Authorize(r, id, canonicalWant(s, want, id.Buildset))
}

// canonicalWant resolves the repository names of want; a name that does
// not resolve is kept as is (it is granted nothing).
func canonicalWant(s *Service, want []Access, bound string) []Access {
	out := make([]Access, 0, len(want))
	for _, a := range want {
		if a.Type == TypeRepository {
			if n, err := s.names.Canonical(a.Name, bound); err == nil {
				a.Name = n
			}
		}
		out = append(out, a)
	}
	return out
}

// canon is a repository's canonical name for a test: docker.io/library/a.
func canon(name string) string {
	n, err := ref.Names{}.Canonical(name, "")
	if err != nil {
		panic(err)
	}
	return n
}

func bearer(token string) string { return "Bearer " + token }

func basic(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

// status is 200 for a nil error, else the *Error's status.
func status(t *testing.T, err error) int {
	t.Helper()
	if err == nil {
		return http.StatusOK
	}
	e, ok := err.(*Error)
	if !ok {
		t.Fatalf("error %v is %T, not *Error", err, err)
	}
	switch {
	case e.Status == http.StatusUnauthorized && (e.Code != CodeUnauthorized || e.Challenge == ""):
		t.Fatalf("401 without UNAUTHORIZED and a challenge: %+v", e)
	case e.Status == http.StatusForbidden && (e.Code != CodeDenied || e.Challenge != ""):
		t.Fatalf("403 must be DENIED without a challenge: %+v", e)
	}
	return e.Status
}
