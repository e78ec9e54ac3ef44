package auth

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// source is a UserSource with one live user and a namespace it owns.
type source struct{ live map[string]User }

func (s source) User(name string) (User, bool) { u, ok := s.live[name]; return u, ok }
func (s source) Owns(name string) bool         { return strings.HasPrefix(name, "buildset-") }

func TestUserSource(t *testing.T) {
	t.Parallel()
	src := source{live: map[string]User{
		"buildset-live": {Name: "buildset-live", PlainPassword: "pw", Access: AccessWrite, Buildset: "live"},
	}}
	s, err := New(testConfig(AnonymousRead), Options{Now: func() time.Time { return t0 }, Users: src})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		c      creds
		status int
	}{
		{"a live source user gets a token", creds{"buildset-live", "pw"}, http.StatusOK},
		{"its wrong password is refused", creds{"buildset-live", "nope"}, http.StatusUnauthorized},
		// An expired buildset's credentials must not pass for a stranger's
		// Docker Hub login and pull anonymously: the job would test the
		// shared image instead of its speculative one without noticing.
		{"a gone user the source owns is refused", creds{"buildset-gone", "pw"}, http.StatusUnauthorized},
		{"a stranger gets the anonymous grant", creds{"dockerhub-user", "x"}, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if w := getToken(t, s, tc.c, "repository:library/app:pull"); w.Code != tc.status {
				t.Fatalf("token: %d, want %d: %s", w.Code, tc.status, w.Body)
			}
		})
	}
}
