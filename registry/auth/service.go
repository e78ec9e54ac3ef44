// Package auth authenticates registry clients and decides what they may do.
//
// It implements Docker's token authentication (distribution's spec/auth
// token.md, jwt.md and scope.md) the way real clients need it: a token
// endpoint (GET with Basic auth, and POST with the OAuth2 password grant;
// a login without scope checks the password), JWTs signed with HS256 (zuul-registry's shared secret) or an
// RSA, ECDSA or Ed25519 key, and Authorize, which the HTTP layer calls for
// every /v2/ request with the accesses the request needs. Rights come from
// configured users (read or write, optionally limited to repository-name
// prefixes) and an optional anonymous read access. The package never sees
// storage.
package auth

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/shadowreg/shadowreg/internal/ref"
)

// TokenPath is where TokenHandler must be mounted: the challenge's realm is
// the public URL followed by this path.
const TokenPath = "/auth/token"

// Options are the parts of a Service that do not come from the config file.
type Options struct {
	// PublicURL is the registry's URL as clients reach it, such as
	// "https://registry.example:5000"; the realm is PublicURL + TokenPath.
	// When empty, the realm is built from each request's Host and scheme
	// (TLS, or an X-Forwarded-Proto of http or https), which is right for
	// Zuul's buildset registries: every node reaches them by an alias whose
	// name the registry cannot know.
	PublicURL string

	// Now is the clock; time.Now when nil.
	Now func() time.Time

	// Logger receives authentication failures (Info) and grants (Debug),
	// never a password, secret or token. Discarded when nil.
	Logger *slog.Logger

	// Users supplies users beyond the configured ones (buildset
	// credentials); nil for none.
	Users UserSource

	// Names resolves the names of token scopes and configured prefixes
	// (the buildset prefix); the zero value is ref's default.
	Names ref.Names

	// Chains tells the buildsets each buildset reads through, for the
	// rights of identities bound to a buildset or limited to buildset
	// prefixes; nil: a buildset reads only itself.
	Chains Chains
}

// Service authenticates clients, issues tokens and authorizes requests.
// It is safe for concurrent use.
type Service struct {
	cfg       Config
	publicURL string
	now       func() time.Time
	log       *slog.Logger
	signer    *signer
	parser    *jwt.Parser
	passwords *passwords
	tokens    *tokenCache
	names     ref.Names
	chains    Chains
}

// New validates cfg, reads the key file if any and returns the Service.
func New(cfg Config, opts Options) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	sig, err := newSigner(cfg)
	if err != nil {
		return nil, err
	}
	s := &Service{
		cfg:       cfg,
		publicURL: strings.TrimRight(opts.PublicURL, "/"),
		now:       opts.Now,
		log:       opts.Logger,
		signer:    sig,
		passwords: newPasswords(cfg.Users, opts.Names),
		tokens:    newTokenCache(),
		names:     opts.Names,
		chains:    opts.Chains,
	}
	s.passwords.source = opts.Users
	if s.publicURL != "" && !strings.HasPrefix(s.publicURL, "http://") && !strings.HasPrefix(s.publicURL, "https://") {
		return nil, fmt.Errorf("auth: public URL %q must start with http:// or https://", opts.PublicURL)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.parser = newParser(cfg, sig, s.now)
	return s, nil
}

// Realm is the token endpoint's URL for a request, as the challenge names it.
func (s *Service) Realm(r *http.Request) string {
	if s.publicURL != "" {
		return s.publicURL + TokenPath
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := strings.ToLower(r.Header.Get("X-Forwarded-Proto")); p == "http" || p == "https" {
		scheme = p
	}
	return scheme + "://" + r.Host + TokenPath
}

// Service returns the service name that challenges and tokens carry.
func (s *Service) Service() string { return s.cfg.Service }

// challenge is the WWW-Authenticate value asking for a token that covers
// want; errCode is "" or RFC 6750's invalid_token or insufficient_scope, set
// only when the client presented a token (containerd then stops retrying the
// same request with a token it was just given).
func (s *Service) challenge(r *http.Request, want []Access, errCode string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Bearer realm=%q,service=%q", s.Realm(r), s.cfg.Service)
	if scope := scopeList(want); scope != "" {
		fmt.Fprintf(&b, ",scope=%q", scope)
	}
	if errCode != "" {
		fmt.Fprintf(&b, ",error=%q", errCode)
	}
	return b.String()
}
