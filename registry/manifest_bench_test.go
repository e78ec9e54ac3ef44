package registry_test

// What authentication adds to the hottest read: a manifest GET by tag,
// served in process (no network) by a server assembled as
// cmd/shadowreg/cli/app.go assembles it, open and with auth on the same
// store. Compare BenchmarkManifestGet/{open,bearer,basic}; tools/bench's
// auth case measures the same over loopback with many clients.

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/shadowreg/shadowreg/internal/ref"
	"github.com/shadowreg/shadowreg/registry"
	"github.com/shadowreg/shadowreg/registry/auth"
	"github.com/shadowreg/shadowreg/registry/buildset"
	"github.com/shadowreg/shadowreg/storage"
	"github.com/shadowreg/shadowreg/storage/driver/filesystem"
	"golang.org/x/crypto/bcrypt"
)

func BenchmarkManifestGet(b *testing.B) {
	fs, err := filesystem.New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	store := storage.New(fs, storage.Options{})
	mgr := buildset.NewManager(store, buildset.Options{})
	names := ref.Names{}
	newServer := func(a registry.Authorizer, handlers map[string]http.Handler) http.Handler {
		return registry.New(registry.Options{
			Resolver:   registry.NewRouter(store, nil, registry.RouterOptions{Buildsets: mgr}),
			Names:      names,
			Authorizer: a,
			Handlers:   handlers,
		})
	}
	open := newServer(nil, nil)

	// bcrypt at its default cost, as production configs have it: the
	// password cache is part of what is measured.
	hash, err := bcrypt.GenerateFromPassword([]byte("bench-password"), bcrypt.DefaultCost)
	if err != nil {
		b.Fatal(err)
	}
	svc, err := auth.New(auth.Config{
		Secret: "bench-secret-for-hs256-tokens",
		Users:  []auth.User{{Name: "bench", Password: string(hash), Access: auth.AccessWrite}},
	}, auth.Options{Users: mgr, Chains: mgr, Names: names})
	if err != nil {
		b.Fatal(err)
	}
	authed := newServer(svc, map[string]http.Handler{auth.TokenPath: svc.TokenHandler()})

	// One image, pushed through the open server.
	srv := httptest.NewServer(open)
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	img, err := random.Image(256, 1)
	if err != nil {
		b.Fatal(err)
	}
	tag, err := name.NewTag(host+"/bench/app:latest", name.Insecure)
	if err != nil {
		b.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		b.Fatal(err)
	}

	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("bench:bench-password"))
	bearer := "Bearer " + fetchToken(b, authed, basic, "repository:bench/app:pull")
	for _, bc := range []struct {
		name, header string
		h            http.Handler
	}{
		{"open", "", open},
		{"bearer", bearer, authed},
		{"basic", basic, authed},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			cpu0 := processCPU(b)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					r := httptest.NewRequest(http.MethodGet, "/v2/bench/app/manifests/latest", nil)
					r.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json")
					if bc.header != "" {
						r.Header.Set("Authorization", bc.header)
					}
					w := httptest.NewRecorder()
					bc.h.ServeHTTP(w, r)
					if w.Code != http.StatusOK {
						b.Fatalf("GET manifest: %d %s", w.Code, w.Body)
					}
				}
			})
			// The process's CPU time per request: unlike ns/op, it hardly
			// moves when other work shares the machine.
			b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// processCPU is the user and system CPU time the process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// fetchToken gets a token for scope from h's token endpoint with Basic
// credentials.
func fetchToken(b *testing.B, h http.Handler, basic, scope string) string {
	b.Helper()
	q := url.Values{"service": {"shadowreg"}, "scope": {scope}}
	r := httptest.NewRequest(http.MethodGet, auth.TokenPath+"?"+q.Encode(), nil)
	r.Header.Set("Authorization", basic)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var tr struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(w.Body).Decode(&tr); w.Code != http.StatusOK || err != nil || tr.Token == "" {
		b.Fatalf("token: %d %v %s", w.Code, err, w.Body)
	}
	return tr.Token
}
