package auth

import (
	"crypto/rand"
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// leeway absorbs clock skew between replicas when checking exp, nbf and iat.
const leeway = 30 * time.Second

// claims is the payload of a registry token: the registered claims of
// distribution's spec/auth/jwt.md plus Docker's `access` list. Claims that
// bind a token to more context (Buildset today) are optional fields with
// omitempty, so tokens without them keep their meaning and adding one more
// later touches only this struct, issue and Identity.
type claims struct {
	jwt.RegisteredClaims
	Access   []Access `json:"access"`
	Buildset string   `json:"buildset,omitempty"`

	// granted is Access in canonical names, pooled per resource (merge):
	// what the token grants, worked out once when it is verified.
	granted []Access
}

// issued is a signed token and the times the token response reports.
type issued struct {
	token    string
	issuedAt time.Time
	lifetime time.Duration
}

// issue signs a token for subject (empty for anonymous) granting access.
func (s *Service) issue(subject, buildset string, access []Access) (issued, error) {
	now := s.now().Truncate(time.Second)
	if access == nil {
		access = []Access{} // `"access": []`, never null
	}
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    s.cfg.Issuer,
			Subject:   subject,
			Audience:  jwt.ClaimStrings{s.cfg.Service},
			ExpiresAt: jwt.NewNumericDate(now.Add(s.cfg.TokenLifetime.Std())),
			NotBefore: jwt.NewNumericDate(now),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        rand.Text(),
		},
		Access:   access,
		Buildset: buildset,
	}
	t := jwt.NewWithClaims(s.signer.method, c)
	if s.signer.kid != "" {
		t.Header["kid"] = s.signer.kid
	}
	signed, err := t.SignedString(s.signer.signKey)
	if err != nil {
		return issued{}, err
	}
	return issued{token: signed, issuedAt: now, lifetime: s.cfg.TokenLifetime.Std()}, nil
}

// verify checks a token's algorithm (pinned to the configured key's),
// signature, time claims, audience and issuer, and returns its claims —
// once per token: its claims are then kept until it expires (tokenCache).
// The claims returned are shared: callers do not change them.
func (s *Service) verify(raw string) (*claims, error) {
	now := s.now()
	if c, ok := s.tokens.get(raw, now); ok {
		return c, nil
	}
	c, err := s.verifyFull(raw)
	if err != nil {
		return nil, err
	}
	c.granted = s.canonicalGrants(c)
	s.tokens.put(raw, c, now)
	return c, nil
}

// canonicalGrants reads c's access claim in canonical names: a token issued
// before names were canonical, or by hand, is read the same way; entries
// that do not resolve grant nothing.
func (s *Service) canonicalGrants(c *claims) []Access {
	var out []Access
	for _, a := range c.Access {
		if a.Type == TypeRepository {
			n, err := s.names.Canonical(a.Name, c.Buildset)
			if err != nil {
				continue
			}
			a.Name = n
		}
		out = append(out, a)
	}
	return merge(out)
}

func (s *Service) verifyFull(raw string) (*claims, error) {
	c := &claims{}
	_, err := s.parser.ParseWithClaims(raw, c, func(*jwt.Token) (any, error) {
		return s.signer.verifyKey, nil
	})
	if err != nil {
		return nil, err
	}
	if c.Access == nil {
		return nil, errors.New("token has no access claim")
	}
	return c, nil
}

func newParser(cfg Config, sig *signer, now func() time.Time) *jwt.Parser {
	return jwt.NewParser(
		jwt.WithValidMethods([]string{sig.method.Alg()}),
		jwt.WithAudience(cfg.Service),
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithExpirationRequired(),
		jwt.WithNotBeforeRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(leeway),
		jwt.WithTimeFunc(now),
		jwt.WithStrictDecoding(),
	)
}
