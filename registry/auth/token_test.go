package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// goodClaims are what the test service itself would issue at t0 for a pull
// of library/alpine by writer.
func goodClaims() claims {
	return claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    "shadowreg",
			Subject:   "writer",
			Audience:  jwt.ClaimStrings{"shadowreg"},
			ExpiresAt: jwt.NewNumericDate(t0.Add(10 * time.Minute)),
			NotBefore: jwt.NewNumericDate(t0),
			IssuedAt:  jwt.NewNumericDate(t0),
			ID:        "test",
		},
		Access: []Access{Repository("library/alpine", "pull")},
	}
}

func sign(t *testing.T, m jwt.SigningMethod, c claims, key any) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestForgedTokens(t *testing.T) {
	s := newService(t, testConfig(AnonymousNone))
	pull := Repository("library/alpine", "pull")
	hs := jwt.SigningMethodHS256
	secret := []byte(testSecret)

	mod := func(f func(*claims)) claims {
		c := goodClaims()
		f(&c)
		return c
	}
	tampered := func() string {
		// Raise the actions to push in the payload, keep the signature.
		tok := sign(t, hs, goodClaims(), secret)
		parts := strings.Split(tok, ".")
		raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
		raw = []byte(strings.Replace(string(raw), `["pull"]`, `["pull","push"]`, 1))
		parts[1] = base64.RawURLEncoding.EncodeToString(raw)
		return strings.Join(parts, ".")
	}

	tests := []struct {
		name   string
		token  string
		want   Access
		errStr string // RFC 6750 error in the challenge
	}{
		{"control: valid token", sign(t, hs, goodClaims(), secret), pull, ""},
		{"alg none", sign(t, jwt.SigningMethodNone, goodClaims(), jwt.UnsafeAllowNoneSignatureType), pull, "invalid_token"},
		{"wrong secret", sign(t, hs, goodClaims(), []byte("another-secret-of-sufficient-length")), pull, "invalid_token"},
		{"HS512 with the right secret", sign(t, jwt.SigningMethodHS512, goodClaims(), secret), pull, "invalid_token"},
		{"expired", sign(t, hs, mod(func(c *claims) {
			c.IssuedAt = jwt.NewNumericDate(t0.Add(-time.Hour))
			c.NotBefore = c.IssuedAt
			c.ExpiresAt = jwt.NewNumericDate(t0.Add(-time.Minute))
		}), secret), pull, "invalid_token"},
		{"not yet valid", sign(t, hs, mod(func(c *claims) { c.NotBefore = jwt.NewNumericDate(t0.Add(5 * time.Minute)) }), secret), pull, "invalid_token"},
		{"issued in the future", sign(t, hs, mod(func(c *claims) { c.IssuedAt = jwt.NewNumericDate(t0.Add(5 * time.Minute)) }), secret), pull, "invalid_token"},
		{"within leeway", sign(t, hs, mod(func(c *claims) { c.NotBefore = jwt.NewNumericDate(t0.Add(10 * time.Second)) }), secret), pull, ""},
		{"no exp", sign(t, hs, mod(func(c *claims) { c.ExpiresAt = nil }), secret), pull, "invalid_token"},
		{"no nbf", sign(t, hs, mod(func(c *claims) { c.NotBefore = nil }), secret), pull, "invalid_token"},
		{"wrong audience", sign(t, hs, mod(func(c *claims) { c.Audience = jwt.ClaimStrings{"registry.docker.io"} }), secret), pull, "invalid_token"},
		{"no audience", sign(t, hs, mod(func(c *claims) { c.Audience = nil }), secret), pull, "invalid_token"},
		{"wrong issuer", sign(t, hs, mod(func(c *claims) { c.Issuer = "auth.docker.io" }), secret), pull, "invalid_token"},
		{"no access claim", sign(t, hs, mod(func(c *claims) { c.Access = nil }), secret), pull, "invalid_token"},
		{"unknown subject", sign(t, hs, mod(func(c *claims) { c.Subject = "mallory" }), secret), pull, "invalid_token"},
		{"another repository", sign(t, hs, mod(func(c *claims) { c.Access = []Access{Repository("library/busybox", "pull")} }), secret), pull, "insufficient_scope"},
		{"a prefix of the repository", sign(t, hs, mod(func(c *claims) { c.Access = []Access{Repository("library", "pull", "push")} }), secret), pull, "insufficient_scope"},
		{"lacking push", sign(t, hs, goodClaims(), secret), Repository("library/alpine", "push"), "insufficient_scope"},
		{"tampered payload", tampered(), Repository("library/alpine", "push"), "invalid_token"},
		{"not a JWT", "not-a-token", pull, "invalid_token"},
		{"empty", "", pull, "invalid_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := authorize(s, bearer(tt.token), tt.want)
			if tt.errStr == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if status(t, err) != http.StatusUnauthorized {
				t.Fatalf("accepted or %v", err)
			}
			if ch := err.(*Error).Challenge; !strings.HasSuffix(ch, `error="`+tt.errStr+`"`) {
				t.Errorf("challenge %q, want error=%q", ch, tt.errStr)
			}
		})
	}
}

// TestAlgorithmConfusion: a service with an RSA or ECDSA key must refuse an
// HS256 token whose HMAC key is the public key, in every form an attacker
// could obtain it, and tokens signed by another key of the right kind.
func TestAlgorithmConfusion(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for name, key := range map[string]crypto.Signer{"rsa": rsaKey, "ecdsa": ecKey} {
		t.Run(name, func(t *testing.T) {
			s := newKeyService(t, key)
			pull := Repository("library/alpine", "pull")
			der, _ := x509.MarshalPKIXPublicKey(key.Public())
			pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
			for form, hmacKey := range map[string][]byte{"PEM": pemBytes, "DER": der} {
				tok := sign(t, jwt.SigningMethodHS256, goodClaims(), hmacKey)
				if _, err := authorize(s, bearer(tok), pull); status(t, err) != http.StatusUnauthorized {
					t.Errorf("HS256 with the public key (%s) accepted", form)
				}
			}
			if _, err := authorize(s, bearer(sign(t, jwt.SigningMethodHS256, goodClaims(), []byte(testSecret))), pull); err == nil {
				t.Error("HS256 token accepted by an asymmetric service")
			}
			var other string
			switch key.(type) {
			case *rsa.PrivateKey:
				k, _ := rsa.GenerateKey(rand.Reader, 2048)
				other = sign(t, jwt.SigningMethodRS256, goodClaims(), k)
			case *ecdsa.PrivateKey:
				k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
				other = sign(t, jwt.SigningMethodES256, goodClaims(), k)
			}
			if _, err := authorize(s, bearer(other), pull); err == nil {
				t.Error("token signed by another key accepted")
			}
			// Control: the service's own token works.
			tr := decodeTokenResponse(t, getToken(t, s, credentials["writer"], "repository:library/alpine:pull"))
			if _, err := authorize(s, bearer(tr.Token), pull); err != nil {
				t.Errorf("own token refused: %v", err)
			}
		})
	}
}

// newKeyService writes key as a PKCS#8 PEM file and configures it.
func newKeyService(t *testing.T, key any) *Service {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "token.key")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(AnonymousNone)
	cfg.Secret, cfg.KeyFile = "", path
	return newService(t, cfg)
}

// header decodes a JWT's header.
func header(t *testing.T, token string) map[string]any {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestSecretTokenHeader(t *testing.T) {
	s := newService(t, testConfig(AnonymousNone))
	tr := decodeTokenResponse(t, getToken(t, s, credentials["writer"]))
	h := header(t, tr.Token)
	if h["alg"] != "HS256" || h["kid"] != nil {
		t.Errorf("header %v", h)
	}
}
