package auth

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// What Authenticate and Authorize cost a manifest GET, without the rest of
// the request: a Bearer token (cached after its first check) and Basic
// credentials with a bcrypt hash (cached after the first bcrypt).
func BenchmarkAuthorizePull(b *testing.B) {
	hash, err := bcrypt.GenerateFromPassword([]byte("bench-password"), bcrypt.MinCost)
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(Config{
		Secret: "bench-secret-for-hs256-tokens",
		Users:  []User{{Name: "bench", Password: string(hash), Access: AccessWrite}},
	}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	basicHeader := basic("bench", "bench-password")
	q := url.Values{"service": {"shadowreg"}, "scope": {"repository:bench/app:pull"}}
	r := httptest.NewRequest(http.MethodGet, TokenPath+"?"+q.Encode(), nil)
	r.Header.Set("Authorization", basicHeader)
	w := httptest.NewRecorder()
	s.TokenHandler().ServeHTTP(w, r)
	var tr struct{ Token string }
	if err := json.NewDecoder(w.Body).Decode(&tr); w.Code != http.StatusOK || err != nil {
		b.Fatalf("token: %d %v", w.Code, err)
	}
	want := []Access{Repository(canon("bench/app"), ActionPull)}
	for _, bc := range []struct{ name, header string }{{"bearer", bearer(tr.Token)}, {"basic", basicHeader}} {
		b.Run(bc.name, func(b *testing.B) {
			r := httptest.NewRequest(http.MethodGet, "/v2/bench/app/manifests/latest", nil)
			r.Header.Set("Authorization", bc.header)
			b.ReportAllocs()
			for b.Loop() {
				id := s.Authenticate(r)
				if err := s.Authorize(r, id, want); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
