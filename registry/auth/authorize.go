package auth

import (
	"context"
	"net/http"
	"strings"
)

// Identity is who a request comes from, as Authenticate found it.
type Identity struct {
	// Name is the configured user name; empty when Anonymous.
	Name      string
	Anonymous bool

	// Buildset is the buildset the identity is bound to (User.Buildset,
	// carried in its tokens); empty when it is bound to none. Names the
	// identity writes without a buildset prefix resolve into it.
	Buildset string

	policy policy

	// viaToken: the identity presented a Bearer token, which grants
	// granted (canonical names, pooled per resource; shared with the
	// token cache, never changed) and nothing more.
	viaToken bool
	granted  []Access

	// refused says why the credentials were not accepted; Authorize
	// answers 401 for such an identity, whatever it asks.
	refused *refusal
	// failed: the credentials could not be checked (the user's source was
	// out of reach); Authorize answers with it (503), never with a 401
	// that a client would not retry.
	failed error
}

// refusal is a failed authentication: the 401's message and RFC 6750
// error code ("" or invalid_token).
type refusal struct{ errCode, msg string }

// Refused reports whether the credentials were refused (a wrong password, a
// forged or expired token) or could not be checked: every request of such
// an identity fails (401, or 503).
func (id *Identity) Refused() bool { return id != nil && (id.refused != nil || id.failed != nil) }

// User is the name to log for the identity: the user, "anonymous", or ""
// for refused credentials.
func (id *Identity) User() string {
	switch {
	case id == nil || id.refused != nil || id.failed != nil:
		return ""
	case id.Anonymous:
		return "anonymous"
	}
	return id.Name
}

// MountsAnywhere reports whether the identity may mount a blob found by
// digest anywhere in the store (a mount without from): only one that may
// pull every repository, bound to no buildset and limited by no prefix —
// others would link content they cannot read.
func (id *Identity) MountsAnywhere() bool {
	return id != nil && !id.Refused() && !id.Anonymous && id.policy.pull && len(id.policy.prefixes) == 0 && id.policy.bound == ""
}

// Authenticate finds who r comes from. It never fails: a request without
// credentials is anonymous; credentials that are refused give an identity
// that Authorize answers with 401. Names in the request are resolved with
// the identity's Buildset before Authorize decides on them.
//
//   - Bearer: a token that is forged, expired, foreign, or whose subject is
//     gone (and anonymous access closed) is refused;
//   - Basic: a wrong password is refused; a user name unknown here counts
//     as no credentials when anonymous is "read" (docker sends its Docker
//     Hub login to every mirror), unless it is one a UserSource owns (an
//     expired buildset's credentials must not quietly pull shared images).
func (s *Service) Authenticate(r *http.Request) *Identity {
	header := r.Header.Get("Authorization")
	scheme, credentials, _ := strings.Cut(header, " ")
	switch {
	case header == "":
		return s.anonymous()
	case strings.EqualFold(scheme, "Bearer"):
		return s.authenticateToken(r, strings.TrimSpace(credentials))
	case strings.EqualFold(scheme, "Basic"):
		user, password, ok := r.BasicAuth()
		if !ok {
			return refused("", "malformed Basic credentials")
		}
		a, res, err := s.passwords.check(r.Context(), user, password)
		switch {
		case err != nil:
			s.log.Warn("auth: cannot look the user up", "remote", r.RemoteAddr, "user", user, "err", err)
			return &Identity{failed: err}
		case res == unknownUser && s.cfg.Anonymous == AnonymousRead:
			return s.anonymous()
		case res != authOK:
			s.log.Info("auth: wrong credentials", "remote", r.RemoteAddr, "user", user)
			return refused("", "wrong user name or password")
		}
		return &Identity{Name: a.Name, Buildset: a.Buildset, policy: a.policy}
	default:
		return refused("", "unsupported authorization scheme")
	}
}

func refused(errCode, msg string) *Identity {
	return &Identity{refused: &refusal{errCode: errCode, msg: msg}}
}

func (s *Service) anonymous() *Identity {
	id := &Identity{Anonymous: true}
	if s.cfg.Anonymous == AnonymousRead {
		id.policy = anonymousPolicy
	}
	return id
}

func (s *Service) authenticateToken(r *http.Request, raw string) *Identity {
	c, err := s.verify(raw)
	if err != nil {
		// The reason (expired, bad signature, wrong audience...) helps an
		// operator; the token itself is never logged.
		s.log.Info("auth: token refused", "remote", r.RemoteAddr, "reason", err.Error())
		return refused("invalid_token", "invalid or expired token")
	}
	id := &Identity{Name: c.Subject, Anonymous: c.Subject == "", Buildset: c.Buildset, viaToken: true}
	// A token outlives the configuration it was issued under (a restart
	// with the same secret): it is honoured only while its subject still
	// exists, or anonymous access is still open, and within what the
	// subject may do now.
	a, ok, err := s.passwords.lookup(r.Context(), c.Subject)
	if err != nil {
		s.log.Warn("auth: cannot look the token's subject up", "remote", r.RemoteAddr, "user", c.Subject, "err", err)
		return &Identity{failed: err}
	}
	if ok && c.Subject != "" && a.Buildset == c.Buildset {
		id.policy = a.policy
	} else if id.Anonymous && s.cfg.Anonymous == AnonymousRead {
		id.policy = anonymousPolicy
	} else {
		s.log.Info("auth: token for an unknown subject", "remote", r.RemoteAddr, "user", c.Subject)
		return refused("invalid_token", "invalid or expired token")
	}
	// Names are decided on in canonical form (verify worked them out).
	id.granted = c.granted
	return id
}

// Authorize decides whether id may do everything in want (canonical names;
// nil or empty for GET /v2/). It returns nil, an *Error (401 with a
// challenge naming want, or 403), or the error of a buildset lookup that
// failed (the request fails; it is not decided on less).
//
//   - refused credentials: 401;
//   - a Bearer token must grant all of want and its subject must still be
//     allowed it; otherwise 401 insufficient_scope, so that clients fetch a
//     token for exactly want, as distribution does;
//   - Basic credentials: a known user lacking the rights is 403 DENIED;
//   - no credentials: with anonymous "read", pulls and the catalog are
//     allowed; anything else, including an empty want, is 401. GET /v2/
//     must challenge anonymous clients even when pulls are open: docker
//     learns the realm only from that answer, and a registry that answers
//     200 there makes `docker login` succeed without checking the password
//     and pushes fail later.
func (s *Service) Authorize(r *http.Request, id *Identity, want []Access) error {
	d := &decider{ctx: r.Context(), chains: s.chains}
	switch {
	case id == nil:
		return s.unauthorized(r, want, "", "authentication required")
	case id.failed != nil:
		return id.failed
	case id.refused != nil:
		return s.unauthorized(r, want, id.refused.errCode, id.refused.msg)
	case id.viaToken:
		if !coversMerged(id.granted, want) {
			return s.unauthorized(r, want, "insufficient_scope", "token does not grant the requested access")
		}
		ok, err := id.policy.permits(d, want)
		if err != nil {
			return err
		}
		if !ok {
			return s.unauthorized(r, want, "insufficient_scope", "token grants more than its subject may do now")
		}
		return nil
	case id.Anonymous:
		if s.cfg.Anonymous != AnonymousRead || len(want) == 0 {
			return s.unauthorized(r, want, "", "authentication required")
		}
		ok, err := anonymousPolicy.permits(d, want)
		if err != nil {
			return err
		}
		if !ok {
			return s.unauthorized(r, want, "", "authentication required")
		}
		return nil
	}
	ok, err := id.policy.permits(d, want)
	if err != nil {
		return err
	}
	if !ok {
		return &Error{Status: http.StatusForbidden, Code: CodeDenied, Message: "requested access to the resource is denied"}
	}
	return nil
}

// Permits reports whether the identity's rights allow a, whatever its
// current token holds: the catalog leaves out what the caller may not pull.
func (s *Service) Permits(ctx context.Context, id *Identity, a Access) (bool, error) {
	if id == nil || id.Refused() {
		return false, nil
	}
	return id.policy.permits(&decider{ctx: ctx, chains: s.chains}, []Access{a})
}

func (s *Service) unauthorized(r *http.Request, want []Access, errCode, msg string) *Error {
	return &Error{
		Status:    http.StatusUnauthorized,
		Code:      CodeUnauthorized,
		Message:   msg,
		Challenge: s.challenge(r, want, errCode),
	}
}
