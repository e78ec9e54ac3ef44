package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// source is a UserSource with one live user and a namespace it owns; a
// broken one cannot look anything up (its storage is out of reach).
type source struct {
	live   map[string]User
	broken bool
}

func (s source) User(_ context.Context, name string) (User, bool, error) {
	if s.broken {
		return User{}, false, fmt.Errorf("reading buildsets/x: %w", errOutage)
	}
	u, ok := s.live[name]
	return u, ok, nil
}
func (s source) Owns(name string) bool { return strings.HasPrefix(name, "buildset-") }

var errOutage = errors.New("storage backend unavailable")

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

// TestUserSourceOutage: when the source cannot look a user up, the request
// fails (and can be retried), it is not told its credentials are wrong —
// docker does not retry a 401.
func TestUserSourceOutage(t *testing.T) {
	t.Parallel()
	s, err := New(testConfig(AnonymousRead), Options{Now: func() time.Time { return t0 }, Users: source{broken: true}})
	if err != nil {
		t.Fatal(err)
	}
	if w := getToken(t, s, creds{"buildset-x", "pw"}, "repository:library/app:pull"); w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
		t.Errorf("token with a source out of reach: %d %v, want 503 with Retry-After", w.Code, w.Header())
	}
	id, err := authorize(s, basic("buildset-x", "pw"), Repository("library/app", ActionPull))
	if !errors.Is(err, errOutage) || !id.Refused() {
		t.Errorf("Basic credentials with a source out of reach: %v, want the outage (503), not a 401", err)
	}
	// Configured users do not need the source.
	if _, err := authorize(s, basic("writer", "writer-pw"), Repository("library/app", ActionPull)); err != nil {
		t.Errorf("a configured user while the source is out of reach: %v", err)
	}
}
