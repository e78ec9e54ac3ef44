package swift

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// keystone is a stand-in for Keystone v3's token exchange (no Keystone runs
// here): POST /v3/auth/tokens checks the request's method, names and scope
// and issues a token, with a catalog whose object-store endpoints are a
// proxy to the test Swift (in region "Two", interface "internal") and dead
// addresses elsewhere. The proxy accepts only the current Keystone token and
// forwards with a tempauth token. revoke() makes the current token invalid,
// as an expiry mid-run does.
type keystone struct {
	t       *testing.T
	srv     *httptest.Server
	swift   *httptest.Server
	mu      sync.Mutex
	token   string
	issued  int
	lastReq map[string]any
}

func newKeystone(t *testing.T) *keystone { return newKeystoneServer(t, httptest.NewServer) }

func newKeystoneServer(t *testing.T, serve func(http.Handler) *httptest.Server) *keystone {
	k := &keystone{t: t}
	storage, _ := url.Parse(swiftEnv["SWIFT_STORAGE_URL"])
	tempauth := openDriver(t, testConfig("x")).sc.ProviderClient
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(&url.URL{Scheme: storage.Scheme, Host: storage.Host})
		pr.Out.URL.Path = strings.Replace(pr.In.URL.Path, "/swift/", "/v1/AUTH_test/", 1)
		pr.Out.URL.RawPath = ""
		pr.Out.Header.Set("X-Auth-Token", tempauth.Token())
	}}
	k.swift = serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k.mu.Lock()
		ok := r.Header.Get("X-Auth-Token") == k.token
		k.mu.Unlock()
		if !ok {
			http.Error(w, "token invalid", http.StatusUnauthorized)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	k.srv = serve(http.HandlerFunc(k.tokens))
	t.Cleanup(func() { k.srv.Close(); k.swift.Close() })
	return k
}

func (k *keystone) tokens(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v3/auth/tokens" {
		http.NotFound(w, r)
		return
	}
	var body map[string]any
	b, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(b, &body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	k.mu.Lock()
	k.issued++
	k.token = fmt.Sprintf("ks-token-%d", k.issued)
	k.lastReq = body
	tok := k.token
	k.mu.Unlock()
	ep := func(region, iface, u string) map[string]any {
		return map[string]any{"region": region, "region_id": region, "interface": iface, "url": u}
	}
	dead := "http://127.0.0.1:1/v1/AUTH_dead"
	resp := map[string]any{"token": map[string]any{
		"expires_at": "2099-01-01T00:00:00.000000Z",
		"catalog": []any{map[string]any{"type": "object-store", "name": "swift", "endpoints": []any{
			ep("One", "public", dead), ep("One", "internal", dead),
			ep("Two", "public", dead), ep("Two", "internal", k.swift.URL+"/swift/"),
		}}},
	}}
	w.Header().Set("X-Subject-Token", tok)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(resp)
}

func (k *keystone) issuedCount() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.issued
}

func (k *keystone) revoke() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.token = "revoked"
}

// authField digs into the last token request: path of keys.
func (k *keystone) authField(path ...string) any {
	k.mu.Lock()
	defer k.mu.Unlock()
	var v any = k.lastReq
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func TestKeystoneV3(t *testing.T) {
	k := newKeystone(t)
	base := Config{
		AuthURL: k.srv.URL + "/v3", Container: swiftEnv["SWIFT_CONTAINER"], Prefix: uniquePrefix(t),
		Region: "Two", Interface: "internal", SegmentSize: 2 * mib,
	}
	t.Run("password", func(t *testing.T) {
		c := base
		c.Username, c.Password, c.UserDomainName = "zuul", "secret", "users"
		c.ProjectName, c.ProjectDomainName = "ci", "projects"
		d := openDriver(t, c)
		t.Cleanup(func() { purge(t, d) })
		if got := k.authField("auth", "identity", "password", "user", "domain", "name"); got != "users" {
			t.Errorf("user domain sent: %v", got)
		}
		if got := k.authField("auth", "scope", "project", "name"); got != "ci" {
			t.Errorf("project sent: %v", got)
		}
		if got := k.authField("auth", "scope", "project", "domain", "name"); got != "projects" {
			t.Errorf("project domain sent: %v", got)
		}
		ctx := testCtx(t)
		if err := d.PutContent(ctx, "a", []byte("via keystone")); err != nil {
			t.Fatalf("PutContent through the catalog's region Two internal endpoint: %v", err)
		}
		// The token expires mid-run: the next request is renewed and retried.
		before := k.issuedCount()
		k.revoke()
		checkContent(t, d, "a", []byte("via keystone"))
		if n := k.issuedCount(); n != before+1 {
			t.Errorf("tokens issued after the revocation: %d, want 1 more than %d", n, before)
		}
	})
	t.Run("application-credential", func(t *testing.T) {
		c := base
		c.ApplicationCredentialID, c.ApplicationCredentialSecret = "app-id", "app-secret"
		d := openDriver(t, c)
		if got := k.authField("auth", "identity", "application_credential", "id"); got != "app-id" {
			t.Errorf("application credential sent: %v", got)
		}
		if got := k.authField("auth", "scope"); got != nil {
			t.Errorf("scope sent with an application credential: %v", got)
		}
		if _, err := d.Stat(testCtx(t), "nothing"); err == nil {
			t.Error("Stat of nothing: no error")
		}
	})
	t.Run("from-env", func(t *testing.T) {
		t.Setenv("OS_AUTH_URL", k.srv.URL+"/v3")
		t.Setenv("OS_USERNAME", "envuser")
		t.Setenv("OS_PASSWORD", "envpass")
		t.Setenv("OS_PROJECT_NAME", "envproject")
		t.Setenv("OS_USER_DOMAIN_NAME", "Default")
		t.Setenv("OS_PROJECT_DOMAIN_NAME", "Default")
		t.Setenv("OS_REGION_NAME", "Two")
		t.Setenv("OS_INTERFACE", "internal")
		d := openDriver(t, Config{FromEnv: true, Container: swiftEnv["SWIFT_CONTAINER"], Prefix: base.Prefix})
		if got := k.authField("auth", "identity", "password", "user", "name"); got != "envuser" {
			t.Errorf("user from OS_USERNAME: %v", got)
		}
		if _, err := d.List(testCtx(t), "nothing"); err == nil {
			t.Error("List of nothing: no error")
		}
	})
	t.Run("tls-ca", func(t *testing.T) {
		// Keystone and the object store on TLS with certificates of
		// httptest's own CA: trusted through ca-file only.
		k := newKeystoneServer(t, httptest.NewTLSServer)
		c := base
		c.AuthURL, c.Username, c.Password = k.srv.URL+"/v3", "zuul", "secret"
		if _, err := New(testCtx(t), c); err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("New over TLS without the CA: %v, want a certificate error", err)
		}
		ca := filepath.Join(t.TempDir(), "ca.pem")
		pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k.srv.Certificate().Raw})
		if err := os.WriteFile(ca, pemBytes, 0o600); err != nil {
			t.Fatal(err)
		}
		c.CAFile = ca
		d := openDriver(t, c)
		t.Cleanup(func() { purge(t, d) })
		if err := d.PutContent(testCtx(t), "tls", []byte("over TLS")); err != nil {
			t.Fatalf("PutContent over TLS with ca-file: %v", err)
		}
		checkContent(t, d, "tls", []byte("over TLS"))
	})
	t.Run("wrong-region", func(t *testing.T) {
		c := base
		c.Username, c.Password, c.Region = "zuul", "secret", "Three"
		if _, err := New(testCtx(t), c); err == nil {
			t.Error("New with a region the catalog lacks: no error")
		}
	})
}
