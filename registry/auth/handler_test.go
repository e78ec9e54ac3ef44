package auth

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestTokenGet(t *testing.T) {
	tests := []struct {
		name      string
		anonymous string
		cred      creds
		scopes    []string
		status    int
		sub       string
		granted   []string
	}{
		{"writer", AnonymousNone, credentials["writer"], []string{"repository:a:pull,push"}, 200, "writer", []string{"repository:docker.io/library/a:pull,push"}},
		{"reader partial", AnonymousNone, credentials["reader"], []string{"repository:a:pull,push"}, 200, "reader", []string{"repository:docker.io/library/a:pull"}},
		{"reader empty grant", AnonymousNone, credentials["reader"], []string{"repository:a:push"}, 200, "reader", []string{}},
		{"bcrypt user", AnonymousNone, credentials["team"], []string{"repository:team/app:push"}, 200, "team", []string{"repository:buildsets/bs-1/docker.io/team/app:push"}},
		{"prefix refused", AnonymousNone, credentials["team"], []string{"repository:teamx/app:pull"}, 200, "team", []string{}},
		{"catalog", AnonymousNone, credentials["reader"], []string{"registry:catalog:*"}, 200, "reader", []string{"registry:catalog:*"}},
		{"repeated scopes", AnonymousNone, credentials["writer"], []string{"repository:a:pull", "repository:b:push"}, 200, "writer", []string{"repository:docker.io/library/a:pull", "repository:docker.io/library/b:push"}},
		{"space-separated scopes", AnonymousNone, credentials["writer"], []string{"repository:a:pull repository:b:push"}, 200, "writer", []string{"repository:docker.io/library/a:pull", "repository:docker.io/library/b:push"}},
		{"same repository twice", AnonymousNone, credentials["writer"], []string{"repository:a:pull", "repository:a:push"}, 200, "writer", []string{"repository:docker.io/library/a:pull,push"}},
		{"name with a port", AnonymousNone, credentials["writer"], []string{"repository:localhost:5000/foo:pull"}, 200, "writer", []string{"repository:localhost:5000/foo:pull"}},
		{"star", AnonymousNone, credentials["writer"], []string{"repository:a:*"}, 200, "writer", []string{"repository:docker.io/library/a:pull,push,delete"}},
		{"malformed scope ignored", AnonymousNone, credentials["writer"], []string{"nonsense", "repository:a:pull"}, 200, "writer", []string{"repository:docker.io/library/a:pull"}},
		{"login without scope", AnonymousNone, credentials["writer"], nil, 200, "writer", []string{}},
		{"login wrong password", AnonymousNone, credentials["wrongpw"], nil, 401, "", nil},
		{"wrong password", AnonymousNone, credentials["wrongpw"], []string{"repository:docker.io/library/a:pull"}, 401, "", nil},
		{"unknown user", AnonymousNone, credentials["unknown"], []string{"repository:docker.io/library/a:pull"}, 401, "", nil},
		{"no credentials", AnonymousNone, creds{}, []string{"repository:docker.io/library/a:pull"}, 401, "", nil},
		{"no credentials no scope", AnonymousNone, creds{}, nil, 401, "", nil},
		{"anonymous", AnonymousRead, creds{}, []string{"repository:a:pull,push", "registry:catalog:*"}, 200, "", []string{"repository:docker.io/library/a:pull", "registry:catalog:*"}},
		{"anonymous no scope", AnonymousRead, creds{}, nil, 200, "", []string{}},
		{"unknown user is anonymous", AnonymousRead, credentials["unknown"], []string{"repository:a:pull,push"}, 200, "", []string{"repository:docker.io/library/a:pull"}},
		{"known user wrong password", AnonymousRead, credentials["wrongpw"], []string{"repository:docker.io/library/a:pull"}, 401, "", nil},
		{"writer with anonymous", AnonymousRead, credentials["writer"], []string{"repository:a:pull,push"}, 200, "writer", []string{"repository:docker.io/library/a:pull,push"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newService(t, testConfig(tt.anonymous))
			w := getToken(t, s, tt.cred, tt.scopes...)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			if tt.status != 200 {
				checkUnauthorized(t, w, false)
				return
			}
			tr := decodeTokenResponse(t, w)
			if got := grantedScopes(t, tr.Token); !reflect.DeepEqual(got, tt.granted) {
				t.Errorf("granted %q, want %q", got, tt.granted)
			}
			if sub, _ := payload(t, tr.Token)["sub"].(string); sub != tt.sub {
				t.Errorf("sub %q, want %q", sub, tt.sub)
			}
		})
	}
}

// checkUnauthorized checks a 401 from the token endpoint: a registry error
// body, plus OAuth2's error fields for POST.
func checkUnauthorized(t *testing.T, w *httptest.ResponseRecorder, oauth bool) {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var body struct {
		Errors []struct{ Code, Message string }
		Error  string `json:"error"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q: %v", w.Body, err)
	}
	if len(body.Errors) != 1 || body.Errors[0].Code != CodeUnauthorized || body.Errors[0].Message == "" {
		t.Errorf("errors %+v", body.Errors)
	}
	if oauth != (body.Error != "") {
		t.Errorf("OAuth error %q for oauth=%v", body.Error, oauth)
	}
}

func TestTokenResponse(t *testing.T) {
	s := newService(t, testConfig(AnonymousNone))
	w := getToken(t, s, credentials["writer"], "repository:a:pull")
	if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	var raw map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"token", "access_token", "expires_in", "issued_at"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("response lacks %q: %s", k, w.Body)
		}
	}
	tr := decodeTokenResponse(t, w)
	if tr.Token == "" || tr.Token != tr.AccessToken {
		t.Errorf("token %q, access_token %q", tr.Token, tr.AccessToken)
	}
	if tr.ExpiresIn != 900 {
		t.Errorf("expires_in %d, want 900", tr.ExpiresIn)
	}
	if at, err := time.Parse(time.RFC3339, tr.IssuedAt); err != nil || !at.Equal(t0) {
		t.Errorf("issued_at %q (%v), want %s", tr.IssuedAt, err, t0.Format(time.RFC3339))
	}

	c := payload(t, tr.Token)
	want := map[string]any{
		"iss": "shadowreg", "sub": "writer", "aud": []any{"shadowreg"},
		"iat": float64(t0.Unix()), "nbf": float64(t0.Unix()), "exp": float64(t0.Add(15 * time.Minute).Unix()),
	}
	for k, v := range want {
		if !reflect.DeepEqual(c[k], v) {
			t.Errorf("claim %s = %v, want %v", k, c[k], v)
		}
	}
	if _, ok := c["buildset"]; ok {
		t.Error("buildset claim present for a user without a buildset")
	}
	jti, _ := c["jti"].(string)
	other := payload(t, decodeTokenResponse(t, getToken(t, s, credentials["writer"], "repository:a:pull")).Token)["jti"]
	if len(jti) < 16 || jti == other {
		t.Errorf("jti %q then %v: want random", jti, other)
	}

	tr = decodeTokenResponse(t, getToken(t, s, credentials["team"], "repository:team/a:pull"))
	if b := payload(t, tr.Token)["buildset"]; b != "bs-1" {
		t.Errorf("buildset claim %v", b)
	}
}

func TestTokenPost(t *testing.T) {
	form := func(kv ...string) url.Values {
		v := url.Values{"service": {"shadowreg"}, "client_id": {"docker"}}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	tests := []struct {
		name      string
		anonymous string
		form      url.Values
		status    int
		oauthErr  string
		granted   []string
	}{
		{"docker login", AnonymousNone, form("grant_type", "password", "username", "writer", "password", "writer-pw", "access_type", "offline"), 200, "", []string{}},
		{"login wrong password", AnonymousNone, form("grant_type", "password", "username", "writer", "password", "nope"), 401, "invalid_grant", nil},
		{"login unknown user", AnonymousNone, form("grant_type", "password", "username", "nobody", "password", "nope"), 401, "invalid_grant", nil},
		{"unknown user anonymous", AnonymousRead, form("grant_type", "password", "username", "nobody", "password", "nope", "scope", "repository:a:pull,push"), 200, "", []string{"repository:docker.io/library/a:pull"}},
		{"scopes", AnonymousNone, form("grant_type", "password", "username", "reader", "password", "reader-pw", "scope", "repository:a:pull,push registry:catalog:*"), 200, "", []string{"repository:docker.io/library/a:pull", "registry:catalog:*"}},
		{"bcrypt", AnonymousNone, form("grant_type", "password", "username", "team", "password", "team-pw", "scope", "repository:team/x:push"), 200, "", []string{"repository:buildsets/bs-1/docker.io/team/x:push"}},
		{"no credentials", AnonymousNone, form("grant_type", "password", "scope", "repository:a:pull"), 401, "invalid_client", nil},
		{"refresh token", AnonymousNone, form("grant_type", "refresh_token", "refresh_token", "x"), 400, "unsupported_grant_type", nil},
		{"other grant", AnonymousNone, form("grant_type", "client_credentials"), 400, "unsupported_grant_type", nil},
		{"no grant type", AnonymousNone, form(), 400, "invalid_request", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newService(t, testConfig(tt.anonymous))
			w := postToken(t, s, tt.form)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			if tt.status == 401 {
				checkUnauthorized(t, w, true)
			}
			if tt.status != 200 {
				var body struct {
					Error string `json:"error"`
				}
				json.Unmarshal(w.Body.Bytes(), &body)
				if body.Error != tt.oauthErr {
					t.Errorf("error %q, want %q", body.Error, tt.oauthErr)
				}
				return
			}
			tr := decodeTokenResponse(t, w)
			if got := grantedScopes(t, tr.Token); !reflect.DeepEqual(got, tt.granted) {
				t.Errorf("granted %q, want %q", got, tt.granted)
			}
			var raw map[string]any
			json.Unmarshal(w.Body.Bytes(), &raw)
			if _, ok := raw["refresh_token"]; ok {
				t.Error("a refresh token was issued")
			}
		})
	}
}

func TestTokenPostBasicHeader(t *testing.T) {
	s := newService(t, testConfig(AnonymousNone))
	r := httptest.NewRequest(http.MethodPost, TokenPath, strings.NewReader("grant_type=password&scope=repository:a:push"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth("writer", "writer-pw")
	w := httptest.NewRecorder()
	s.TokenHandler().ServeHTTP(w, r)
	if got := grantedScopes(t, decodeTokenResponse(t, w).Token); !reflect.DeepEqual(got, []string{"repository:docker.io/library/a:push"}) {
		t.Errorf("granted %q", got)
	}
}

func TestTokenMethods(t *testing.T) {
	s := newService(t, testConfig(AnonymousRead))
	for _, m := range []string{http.MethodPut, http.MethodDelete, http.MethodHead} {
		w := httptest.NewRecorder()
		s.TokenHandler().ServeHTTP(w, httptest.NewRequest(m, TokenPath, nil))
		if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET, POST" {
			t.Errorf("%s: %d Allow %q", m, w.Code, w.Header().Get("Allow"))
		}
	}
	// A malformed Authorization header is a 401, not an anonymous grant.
	r := httptest.NewRequest(http.MethodGet, TokenPath+"?scope=repository:a:pull", nil)
	r.Header.Set("Authorization", "Basic !!!")
	w := httptest.NewRecorder()
	s.TokenHandler().ServeHTTP(w, r)
	if w.Code != http.StatusUnauthorized {
		t.Errorf("malformed Basic: %d", w.Code)
	}
	// An oversized form is refused.
	r = httptest.NewRequest(http.MethodPost, TokenPath, strings.NewReader("scope="+strings.Repeat("a", maxFormSize)))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w = httptest.NewRecorder()
	s.TokenHandler().ServeHTTP(w, r)
	if w.Code != http.StatusBadRequest {
		t.Errorf("oversized form: %d", w.Code)
	}
}

func TestTokenLifetime(t *testing.T) {
	cfg := testConfig(AnonymousNone)
	cfg.TokenLifetime = Duration(2 * time.Minute)
	s := newService(t, cfg)
	tr := decodeTokenResponse(t, getToken(t, s, credentials["writer"], "repository:a:pull"))
	if tr.ExpiresIn != 120 {
		t.Errorf("expires_in %d", tr.ExpiresIn)
	}
}
