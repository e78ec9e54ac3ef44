package auth

import (
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

// FuzzVerifyToken: no string panics the verifier, and what verifies was
// signed with the configured algorithm for this issuer and service, and is
// within its lifetime ("alg": "none", a foreign issuer or an expired token
// never pass).
func FuzzVerifyToken(f *testing.F) {
	s, err := New(testConfig(AnonymousRead), Options{Now: func() time.Time { return t0 }})
	if err != nil {
		f.Fatal(err)
	}
	tok, err := s.issue("writer", "", []Access{Repository("library/app", ActionPull)})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tok.token)
	f.Add(signingInput(tok.token) + ".")
	f.Add(strings.Replace(tok.token, ".", "..", 1))
	f.Add("eyJhbGciOiJub25lIn0.eyJhY2Nlc3MiOltdfQ.")
	f.Add("")
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := s.verify(raw)
		if err != nil {
			return
		}
		hdr, _, _ := strings.Cut(raw, ".")
		alg := jwtHeaderAlg(hdr)
		if alg != s.signer.method.Alg() || c.Issuer != s.cfg.Issuer || !slices.Contains([]string(c.Audience), s.cfg.Service) ||
			c.ExpiresAt == nil || !c.ExpiresAt.After(t0) {
			t.Fatalf("verified %q: alg %q, claims %+v", raw, alg, c)
		}
	})
}

// FuzzParseScope: any scope string parses or is refused, and what parses
// prints back as a scope that parses to the same access.
func FuzzParseScope(f *testing.F) {
	for _, s := range []string{"repository:library/app:pull", "repository:quay.io/org/app:pull,push", "registry:catalog:*",
		"repository:a:b:c", "repository::pull", ":::", "repository:app:pull,,push"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, scope string) {
		a, err := ParseScope(scope)
		if err != nil {
			return
		}
		b, err := ParseScope(a.String())
		if err != nil || b.String() != a.String() {
			t.Fatalf("ParseScope(%q) = %v, which reparses as %v, %v", scope, a, b, err)
		}
	})
}

func signingInput(tok string) string {
	i := strings.LastIndex(tok, ".")
	if i < 0 {
		return tok
	}
	return tok[:i]
}

// jwtHeaderAlg decodes a JWT header's alg.
func jwtHeaderAlg(hdr string) string {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(hdr, "="))
	if err != nil {
		return ""
	}
	var h struct {
		Alg string `json:"alg"`
	}
	json.Unmarshal(b, &h)
	return h.Alg
}
