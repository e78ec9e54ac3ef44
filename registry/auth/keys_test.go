package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeyFiles(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	pkcs8 := func(k any) *pem.Block {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return &pem.Block{Type: "PRIVATE KEY", Bytes: der}
	}
	sec1, _ := x509.MarshalECPrivateKey(p256)
	ecParams := []byte("-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n")

	tests := []struct {
		name string
		pem  []byte
		alg  string
	}{
		{"RSA PKCS#8", pem.EncodeToMemory(pkcs8(rsaKey)), "RS256"},
		{"RSA PKCS#1", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}), "RS256"},
		{"ECDSA P-256 PKCS#8", pem.EncodeToMemory(pkcs8(p256)), "ES256"},
		{"ECDSA P-256 SEC 1 after parameters", append(ecParams, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})...), "ES256"},
		{"ECDSA P-384", pem.EncodeToMemory(pkcs8(p384)), "ES384"},
		{"Ed25519", pem.EncodeToMemory(pkcs8(edKey)), "EdDSA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newService(t, keyConfig(t, tt.pem))
			tr := decodeTokenResponse(t, getToken(t, s, credentials["writer"], "repository:a:pull,push"))
			h := header(t, tr.Token)
			if h["alg"] != tt.alg || h["kid"] == nil || h["kid"] == "" {
				t.Errorf("header %v, want alg %s and a kid", h, tt.alg)
			}
			if _, err := authorize(s, bearer(tr.Token), Repository("a", "push")); err != nil {
				t.Errorf("own token refused: %v", err)
			}
			// Another service with the same key accepts it (replicas).
			if _, err := authorize(newService(t, keyConfig(t, tt.pem)), bearer(tr.Token), Repository("a", "push")); err != nil {
				t.Errorf("replica refused the token: %v", err)
			}
		})
	}
}

func TestKeyFileErrors(t *testing.T) {
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	der224, _ := x509.MarshalPKCS8PrivateKey(p224)
	cert := "-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n"
	tests := []struct {
		name, pem, want string
	}{
		{"small RSA", string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(small)})), "at least 2048"},
		{"P-224", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der224})), "P-224"},
		{"certificate only", cert, "no PEM private key"},
		{"not PEM", "hello", "no PEM private key"},
		{"corrupt key", "-----BEGIN PRIVATE KEY-----\nMA==\n-----END PRIVATE KEY-----\n", "PRIVATE KEY"},
		{"encrypted", "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMA==\n-----END ENCRYPTED PRIVATE KEY-----\n", "encrypted"},
	}
	for _, tt := range tests {
		cfg := keyConfig(t, []byte(tt.pem))
		_, err := New(cfg, Options{})
		if err == nil || !strings.HasPrefix(err.Error(), "auth.key-file: ") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want auth.key-file: …%s…", tt.name, err, tt.want)
		}
	}
	cfg := testConfig(AnonymousNone)
	cfg.Secret, cfg.KeyFile = "", filepath.Join(t.TempDir(), "missing.key")
	if _, err := New(cfg, Options{}); err == nil || !strings.HasPrefix(err.Error(), "auth.key-file: ") {
		t.Errorf("missing file: %v", err)
	}
}

func keyConfig(t *testing.T, pemBytes []byte) Config {
	t.Helper()
	path := filepath.Join(t.TempDir(), "token.key")
	if err := os.WriteFile(path, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(AnonymousNone)
	cfg.Secret, cfg.KeyFile = "", path
	return cfg
}
