package auth

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// clock is a settable clock for a Service.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// refusedToken asserts that header is refused as an invalid token.
func refusedToken(t *testing.T, s *Service, header, what string) {
	t.Helper()
	_, err := authorize(s, header, Repository("library/alpine", "pull"))
	if status(t, err) != http.StatusUnauthorized {
		t.Fatalf("%s: accepted (%v), want 401", what, err)
	}
	if ch := err.(*Error).Challenge; !strings.HasSuffix(ch, `error="invalid_token"`) {
		t.Errorf("%s: challenge %q, want error=\"invalid_token\"", what, ch)
	}
}

// TestTokenCacheVerifiesOnce: a valid token is verified once and its
// claims kept; a tampered copy, a copy with another signature, the same
// token once expired, and a token whose subject is gone are refused
// although the valid token is cached.
func TestTokenCacheVerifiesOnce(t *testing.T) {
	clk := &clock{t: t0}
	src := source{live: map[string]User{
		"buildset-live": {Name: "buildset-live", PlainPassword: "pw", Access: AccessWrite},
	}}
	s, err := New(testConfig(AnonymousNone), Options{Now: clk.now, Users: src})
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte(testSecret)
	tok := sign(t, jwt.SigningMethodHS256, goodClaims(), secret)
	pull := Repository("library/alpine", "pull")
	for i := range 3 {
		if _, err := authorize(s, bearer(tok), pull); err != nil {
			t.Fatalf("request %d with a valid token refused: %v", i, err)
		}
	}
	if n := s.tokens.len(); n != 1 {
		t.Fatalf("token cache holds %d entries after three requests with one token, want 1", n)
	}
	// Cached claims are used as they are: a verification key changed under
	// the service would refuse a token verified again, and does not.
	key := s.signer.verifyKey
	s.signer.verifyKey = []byte("another-secret-of-sufficient-length")
	if _, err := authorize(s, bearer(tok), pull); err != nil {
		t.Fatalf("the cached token was verified again: %v", err)
	}
	s.signer.verifyKey = key

	parts := strings.Split(tok, ".")
	raised := goodClaims()
	raised.Access = []Access{Repository("library/alpine", "pull", "push")}
	other := strings.Split(sign(t, jwt.SigningMethodHS256, raised, []byte("another-secret-of-sufficient-length")), ".")
	refusedToken(t, s, bearer(other[0]+"."+other[1]+"."+parts[2]), "a raised payload under the cached token's signature")
	sig := []byte(parts[2])
	sig[len(sig)-2] ^= 1
	refusedToken(t, s, bearer(parts[0]+"."+parts[1]+"."+string(sig)), "the cached token with its signature changed")
	if _, err := authorize(s, bearer(tok), Repository("library/alpine", "push")); status(t, err) != http.StatusUnauthorized {
		t.Errorf("the cached token granted push it does not hold: %v", err)
	}

	// A subject that is gone (a buildset's credentials after it expired):
	// its cached token is refused.
	gone := goodClaims()
	gone.Subject = "buildset-live"
	gtok := sign(t, jwt.SigningMethodHS256, gone, secret)
	if _, err := authorize(s, bearer(gtok), pull); err != nil {
		t.Fatalf("token of a live source user refused: %v", err)
	}
	delete(src.live, "buildset-live")
	refusedToken(t, s, bearer(gtok), "a cached token whose subject is gone")

	// Expired: past exp and the leeway, the cached token is refused and
	// dropped.
	clk.set(t0.Add(10*time.Minute + leeway + time.Second))
	refusedToken(t, s, bearer(tok), "the cached token once expired")
	if _, ok := s.tokens.get(tok, clk.now()); ok {
		t.Error("an expired token is still cached")
	}
}

// TestTokenCacheBounded: however many tokens come, the cache keeps at most
// tokenCacheSize, and every token is still accepted.
func TestTokenCacheBounded(t *testing.T) {
	s := newService(t, testConfig(AnonymousNone))
	for i := range tokenCacheSize + 50 {
		c := goodClaims()
		c.ID = fmt.Sprint(i)
		if _, err := authorize(s, bearer(sign(t, jwt.SigningMethodHS256, c, []byte(testSecret))), Repository("library/alpine", "pull")); err != nil {
			t.Fatalf("token %d: %v", i, err)
		}
	}
	if n := s.tokens.len(); n > tokenCacheSize {
		t.Errorf("token cache holds %d entries, more than %d", n, tokenCacheSize)
	}
}
