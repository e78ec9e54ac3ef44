package auth_test

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/shadowreg/shadowreg/internal/ref"
	"github.com/shadowreg/shadowreg/registry/auth"
)

// newGuardedRegistry puts Authorize in front of go-containerregistry's
// in-memory registry, the way shadowreg's HTTP layer is meant to, so that a
// real client (go-containerregistry's remote, the library behind crane)
// runs the whole challenge → token → retry dance.
func newGuardedRegistry(t *testing.T, anonymous string) string {
	t.Helper()
	svc, err := auth.New(auth.Config{
		Users: []auth.User{
			{Name: "writer", PlainPassword: "writer-pw", Access: auth.AccessWrite},
			{Name: "reader", PlainPassword: "reader-pw", Access: auth.AccessRead},
			{Name: "team", PlainPassword: "team-pw", Access: auth.AccessWrite, Prefixes: []string{"team"}},
		},
		Anonymous: anonymous,
		Secret:    "a-secret-of-twenty-chars",
	}, auth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	mux := http.NewServeMux()
	mux.Handle(auth.TokenPath, svc.TokenHandler())
	mux.HandleFunc("/v2/", func(w http.ResponseWriter, r *http.Request) {
		id := svc.Authenticate(r)
		if err := svc.Authorize(r, id, wantsFor(r, id.Buildset)); err != nil {
			err.(*auth.Error).Write(w, r)
			return
		}
		reg.ServeHTTP(w, r)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// wantsFor is a minimal version of what the HTTP layer derives from a
// request: the repository (split from the right, resolved to its canonical
// name) and the actions.
func wantsFor(r *http.Request, bound string) []auth.Access {
	canonical := func(name string) string {
		if n, err := (ref.Names{}).Canonical(name, bound); err == nil {
			return n
		}
		return name
	}
	p := strings.TrimPrefix(r.URL.Path, "/v2/")
	if p == "" {
		return nil
	}
	if p == "_catalog" {
		return []auth.Access{auth.Catalog()}
	}
	repo := p
	for _, sep := range []string{"/blobs/", "/manifests/", "/tags/"} {
		if i := strings.LastIndex(p, sep); i >= 0 {
			repo = p[:i]
			break
		}
	}
	repo = canonical(repo)
	var want []auth.Access
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		want = append(want, auth.Repository(repo, auth.ActionPull))
	case http.MethodDelete:
		want = append(want, auth.Repository(repo, auth.ActionDelete))
	default:
		want = append(want, auth.Repository(repo, auth.ActionPull, auth.ActionPush))
	}
	if from := r.URL.Query().Get("from"); from != "" {
		want = append(want, auth.Repository(canonical(from), auth.ActionPull))
	}
	return want
}

func TestRealClient(t *testing.T) {
	type step struct {
		op     string // push or pull
		repo   string
		who    authn.Authenticator
		wantOK bool
	}
	writer := &authn.Basic{Username: "writer", Password: "writer-pw"}
	reader := &authn.Basic{Username: "reader", Password: "reader-pw"}
	team := &authn.Basic{Username: "team", Password: "team-pw"}
	wrong := &authn.Basic{Username: "writer", Password: "nope"}
	hub := &authn.Basic{Username: "dockerhub-user", Password: "hub-pw"}
	tests := map[string][]step{
		auth.AnonymousNone: {
			{"push", "library/alpine", writer, true},
			{"pull", "library/alpine", writer, true},
			{"pull", "library/alpine", reader, true},
			{"push", "library/alpine", reader, false},
			{"push", "team/app", team, true},
			{"push", "teamx/app", team, false},
			{"pull", "library/alpine", team, false},
			{"pull", "library/alpine", authn.Anonymous, false},
			{"pull", "library/alpine", wrong, false},
			{"pull", "library/alpine", hub, false},
		},
		auth.AnonymousRead: {
			{"push", "library/alpine", writer, true},
			{"pull", "library/alpine", authn.Anonymous, true},
			{"pull", "library/alpine", hub, true}, // docker's Hub login sent to a mirror
			{"push", "library/alpine", authn.Anonymous, false},
			{"push", "library/alpine", hub, false},
			{"pull", "library/alpine", wrong, false},
		},
	}
	for anonymous, steps := range tests {
		host := newGuardedRegistry(t, anonymous)
		for _, s := range steps {
			ref, err := name.ParseReference(host+"/"+s.repo+":1", name.Insecure)
			if err != nil {
				t.Fatal(err)
			}
			switch s.op {
			case "push":
				// A fresh image each time: remote.Write skips what exists.
				img, ierr := random.Image(256, 2)
				if ierr != nil {
					t.Fatal(ierr)
				}
				err = remote.Write(ref, img, remote.WithAuth(s.who))
			case "pull":
				var got interface{ RawManifest() ([]byte, error) }
				got, err = remote.Image(ref, remote.WithAuth(s.who))
				if err == nil {
					_, err = got.RawManifest()
				}
			}
			if (err == nil) != s.wantOK {
				t.Errorf("anonymous=%s: %s %s as %v: error %v, want success %v", anonymous, s.op, s.repo, s.who, err, s.wantOK)
			}
		}
	}
}
