package auth

import (
	"net/http"
	"strings"
)

// Identity is who a request was authorized as.
type Identity struct {
	// Name is the configured user name; empty when Anonymous.
	Name      string
	Anonymous bool

	// Buildset is the buildset the identity is bound to (User.Buildset,
	// carried in its tokens); empty when it is bound to none.
	Buildset string

	policy policy
}

// PullsEverything reports whether the identity may pull every repository:
// no name prefixes limit it. Content found by digest alone (a mount without
// a source) is only for such identities.
func (id *Identity) PullsEverything() bool {
	return id.policy.pull && len(id.policy.prefixes) == 0
}

// Permits reports whether the identity's configuration allows every action
// of a, whatever its current token holds: a catalog handler uses it to leave
// out repositories outside a user's prefixes.
func (id *Identity) Permits(a Access) bool {
	return id.policy.permits([]Access{a})
}

// Authorize decides whether r may do everything in want (nil or empty for
// GET /v2/). On success it returns the identity; otherwise an *Error:
//
//   - Bearer token: a missing, forged, expired or foreign token, or one that
//     does not cover want, is 401 with a challenge naming want, as
//     distribution does: clients then fetch a token for exactly that scope,
//     and give up with the 401 if the token endpoint grants less.
//   - Basic credentials: a wrong password is 401; a valid user lacking the
//     rights is 403 DENIED. A user name unknown here counts as no
//     credentials when anonymous is "read".
//   - No credentials: with anonymous "read", pulls and the catalog are
//     allowed; anything else, including an empty want, is 401 with a
//     challenge. GET /v2/ must challenge anonymous clients even when pulls
//     are open: docker learns the realm only from that answer, and a
//     registry that answers 200 there makes `docker login` succeed without
//     checking the password and pushes fail later.
func (s *Service) Authorize(r *http.Request, want []Access) (*Identity, error) {
	header := r.Header.Get("Authorization")
	scheme, credentials, _ := strings.Cut(header, " ")
	switch {
	case header == "":
		return s.authorizeAnonymous(r, want)
	case strings.EqualFold(scheme, "Bearer"):
		return s.authorizeToken(r, want, strings.TrimSpace(credentials))
	case strings.EqualFold(scheme, "Basic"):
		user, password, ok := r.BasicAuth()
		if !ok {
			return nil, s.unauthorized(r, want, "", "malformed Basic credentials")
		}
		return s.authorizeBasic(r, want, user, password)
	default:
		return nil, s.unauthorized(r, want, "", "unsupported authorization scheme")
	}
}

func (s *Service) authorizeAnonymous(r *http.Request, want []Access) (*Identity, error) {
	if s.cfg.Anonymous == AnonymousRead && len(want) > 0 && anonymousPolicy.permits(want) {
		return &Identity{Anonymous: true, policy: anonymousPolicy}, nil
	}
	return nil, s.unauthorized(r, want, "", "authentication required")
}

func (s *Service) authorizeToken(r *http.Request, want []Access, raw string) (*Identity, error) {
	c, err := s.verify(raw)
	if err != nil {
		// The reason (expired, bad signature, wrong audience...) helps an
		// operator; the token itself is never logged.
		s.log.Info("auth: token refused", "remote", r.RemoteAddr, "reason", err.Error())
		return nil, s.unauthorized(r, want, "invalid_token", "invalid or expired token")
	}
	id := &Identity{Name: c.Subject, Anonymous: c.Subject == "", Buildset: c.Buildset}
	// A token outlives the configuration it was issued under (a restart
	// with the same secret): it is honoured only while its subject still
	// exists, or anonymous access is still open.
	if a, ok := s.passwords.lookup(c.Subject); ok && c.Subject != "" {
		id.policy = a.policy
	} else if id.Anonymous && s.cfg.Anonymous == AnonymousRead {
		id.policy = anonymousPolicy
	} else {
		s.log.Info("auth: token for an unknown subject", "remote", r.RemoteAddr, "user", c.Subject)
		return nil, s.unauthorized(r, want, "invalid_token", "invalid or expired token")
	}
	if !covers(c.Access, want) {
		return nil, s.unauthorized(r, want, "insufficient_scope", "token does not grant the requested access")
	}
	return id, nil
}

func (s *Service) authorizeBasic(r *http.Request, want []Access, user, password string) (*Identity, error) {
	a, res := s.passwords.check(user, password)
	switch {
	case res == unknownUser && s.cfg.Anonymous == AnonymousRead:
		return s.authorizeAnonymous(r, want)
	case res != authOK:
		s.log.Info("auth: wrong credentials", "remote", r.RemoteAddr, "user", user)
		return nil, s.unauthorized(r, want, "", "wrong user name or password")
	case !a.policy.permits(want):
		return nil, &Error{Status: http.StatusForbidden, Code: CodeDenied, Message: "requested access to the resource is denied"}
	}
	return &Identity{Name: a.Name, Buildset: a.Buildset, policy: a.policy}, nil
}

func (s *Service) unauthorized(r *http.Request, want []Access, errCode, msg string) *Error {
	return &Error{
		Status:    http.StatusUnauthorized,
		Code:      CodeUnauthorized,
		Message:   msg,
		Challenge: s.challenge(r, want, errCode),
	}
}
