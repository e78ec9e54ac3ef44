package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"os"

	"github.com/golang-jwt/jwt/v5"
	"github.com/shadowreg/shadowreg/registry/certs"
)

// signer holds the token key and the one algorithm that goes with it.
// Verification accepts that algorithm only: pinning it is what defeats
// `alg: none` and the RS256-to-HS256 confusion (an HMAC "signed" with the
// public key).
type signer struct {
	method    jwt.SigningMethod
	signKey   any
	verifyKey any
	kid       string // key id header for asymmetric keys, for a later rotation
}

func newSigner(c Config) (*signer, error) {
	if c.Secret != "" {
		key := []byte(c.Secret)
		return &signer{method: jwt.SigningMethodHS256, signKey: key, verifyKey: key}, nil
	}
	data, err := os.ReadFile(c.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("auth.key-file: %w", err)
	}
	key, err := parsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("auth.key-file: %s: %w", c.KeyFile, err)
	}
	s, err := signerFor(key)
	if err != nil {
		return nil, fmt.Errorf("auth.key-file: %s: %w", c.KeyFile, err)
	}
	return s, nil
}

// signerFor picks the algorithm that key's type and size call for.
func signerFor(key crypto.Signer) (*signer, error) {
	s := &signer{signKey: key, verifyKey: key.Public()}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("RSA key of %d bits: at least 2048 are required", k.N.BitLen())
		}
		s.method = jwt.SigningMethodRS256
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			s.method = jwt.SigningMethodES256
		case elliptic.P384():
			s.method = jwt.SigningMethodES384
		case elliptic.P521():
			s.method = jwt.SigningMethodES512
		default:
			return nil, fmt.Errorf("unsupported ECDSA curve %s", k.Curve.Params().Name)
		}
	case ed25519.PrivateKey:
		s.method = jwt.SigningMethodEdDSA
	default:
		return nil, fmt.Errorf("unsupported key type %T", key)
	}
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(der)
	s.kid = base64.RawURLEncoding.EncodeToString(sum[:])
	return s, nil
}

// parsePrivateKey reads a PEM private key (certs.ParsePrivateKey: the same
// parser `shadowreg cert` uses for CA keys).
func parsePrivateKey(data []byte) (crypto.Signer, error) { return certs.ParsePrivateKey(data) }
