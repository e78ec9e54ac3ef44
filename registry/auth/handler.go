package auth

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/shadowreg/shadowreg/internal/errcode"
)

// maxFormSize bounds a POST token request; real ones are well under 1 KiB.
const maxFormSize = 64 << 10

// tokenResponse is what both token requests answer (spec/auth/token.md and
// oauth.md). token and access_token carry the same value: older clients read
// the first, OAuth2 clients the second.
type tokenResponse struct {
	Token       string `json:"token"`
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	IssuedAt    string `json:"issued_at"`
}

// tokenRequest is a token request once its form is known.
type tokenRequest struct {
	user, password string
	hasCreds       bool
	scopes         []string
	oauth          bool // a POST: errors carry OAuth2's fields too
}

// TokenHandler serves the token endpoint at TokenPath:
//
//   - GET ?service=…&scope=…[&scope=…], with Basic credentials or none
//     (spec/auth/token.md; docker 20.10's login adds offline_token=true and
//     client_id, both ignored);
//   - POST grant_type=password&username=…&password=…&scope=…&service=…
//     &client_id=… (spec/auth/oauth.md, the OAuth2 password grant of clients
//     built on distribution's client with ForceOAuth).
//
// A token grants the intersection of the scopes asked and the caller's
// rights, possibly nothing: a partial grant is not an error, the registry
// answers 401 when the token does not suffice. Without a scope (docker
// login) it still checks the credentials. No refresh token is ever issued
// (docker would store it in place of the password and send it back from then
// on), so clients never hold one of ours, and grant_type=refresh_token is
// answered 400 unsupported_grant_type.
func (s *Service) TokenHandler() http.Handler {
	return http.HandlerFunc(s.serveToken)
}

func (s *Service) serveToken(w http.ResponseWriter, r *http.Request) {
	var req tokenRequest
	switch r.Method {
	case http.MethodGet:
		req.scopes = r.URL.Query()["scope"]
		if r.Header.Get("Authorization") != "" {
			var ok bool
			if req.user, req.password, ok = r.BasicAuth(); !ok {
				s.tokenError(w, r, req, http.StatusUnauthorized, "invalid_client", "malformed Basic credentials")
				return
			}
		}
	case http.MethodPost:
		req.oauth = true
		r.Body = http.MaxBytesReader(w, r.Body, maxFormSize)
		if err := r.ParseForm(); err != nil {
			s.tokenError(w, r, req, http.StatusBadRequest, "invalid_request", "malformed form")
			return
		}
		req.scopes = r.Form["scope"]
		switch gt := r.Form.Get("grant_type"); gt {
		case "password":
			req.user, req.password = r.Form.Get("username"), r.Form.Get("password")
			if req.user == "" && req.password == "" {
				req.user, req.password, _ = r.BasicAuth() // RFC 6749 allows the client's Basic header
			}
		case "refresh_token":
			s.tokenError(w, r, req, http.StatusBadRequest, "unsupported_grant_type",
				"this registry issues no refresh tokens; use grant_type=password")
			return
		case "":
			s.tokenError(w, r, req, http.StatusBadRequest, "invalid_request", "grant_type is required")
			return
		default:
			s.tokenError(w, r, req, http.StatusBadRequest, "unsupported_grant_type", "unsupported grant_type "+gt)
			return
		}
	default:
		w.Header().Set("Allow", "GET, POST")
		s.tokenError(w, r, req, http.StatusMethodNotAllowed, "invalid_request", "use GET or POST")
		return
	}
	req.hasCreds = req.user != "" || req.password != ""
	s.grant(w, r, req)
}

func (s *Service) grant(w http.ResponseWriter, r *http.Request, req tokenRequest) {
	asked, errs := ParseScopes(req.scopes)
	for _, err := range errs {
		s.log.Debug("auth: ignoring scope", "remote", r.RemoteAddr, "error", err.Error())
	}

	var (
		pol      policy
		subject  string
		buildset string
	)
	switch {
	case req.hasCreds:
		a, res, err := s.passwords.check(r.Context(), req.user, req.password)
		switch {
		case err != nil:
			s.log.Warn("auth: cannot look the user up", "remote", r.RemoteAddr, "user", req.user, "err", err)
			s.tokenError(w, r, req, http.StatusServiceUnavailable, "temporarily_unavailable", "cannot check credentials now, retry later")
			return
		case res == authOK:
			pol, subject, buildset = a.policy, a.Name, a.Buildset
		case res == unknownUser && s.cfg.Anonymous == AnonymousRead:
			// docker sends its Docker Hub login to every mirror: a name
			// that means nothing here gets what anyone gets.
			pol = anonymousPolicy
		default:
			s.log.Info("auth: wrong credentials", "remote", r.RemoteAddr, "user", req.user)
			s.tokenError(w, r, req, http.StatusUnauthorized, "invalid_grant", "wrong user name or password")
			return
		}
	case s.cfg.Anonymous == AnonymousRead:
		pol = anonymousPolicy
	default:
		s.tokenError(w, r, req, http.StatusUnauthorized, "invalid_client", "authentication required")
		return
	}

	// Decided on, and issued for, canonical names: a token for "alpine"
	// grants docker.io/library/alpine, whichever spelling a request then
	// uses (for buildset credentials, the one in their buildset).
	scopes := s.canonicalScopes(r, asked, buildset)
	granted, err := pol.grants(&decider{ctx: r.Context(), chains: s.chains}, scopes)
	if err != nil {
		s.log.Error("auth: deciding a token's grants", "error", err.Error())
		s.tokenError(w, r, req, http.StatusServiceUnavailable, "temporarily_unavailable", "cannot decide access now, retry later")
		return
	}
	tok, err := s.issue(subject, buildset, granted)
	if err != nil {
		s.log.Error("auth: signing a token", "error", err.Error())
		s.tokenError(w, r, req, http.StatusInternalServerError, "server_error", "cannot sign a token")
		return
	}
	if s.log.Enabled(r.Context(), slog.LevelDebug) { // scopeList only when it is logged
		s.log.Debug("auth: token issued", "remote", r.RemoteAddr, "user", subject, "granted", scopeList(granted))
	}
	writeJSON(w, r, http.StatusOK, tokenResponse{
		Token:       tok.token,
		AccessToken: tok.token,
		TokenType:   "Bearer",
		ExpiresIn:   int(tok.lifetime / time.Second),
		IssuedAt:    tok.issuedAt.UTC().Format(time.RFC3339),
	})
}

// tokenError answers a token request with the registry error body and, for
// POST, OAuth2's error fields (errcode.Write, the one error writer). A 401
// names the Basic scheme so that a person trying the endpoint with curl
// learns what it wants.
func (s *Service) tokenError(w http.ResponseWriter, r *http.Request, req tokenRequest, status int, oauthCode, msg string) {
	code := errcode.Unsupported // 400 and 405: the OCI spec has no closer code
	e := errcode.New(code, "%s", msg)
	switch status {
	case http.StatusUnauthorized:
		e.Code = errcode.Unauthorized
		e.WithHeader("WWW-Authenticate", `Basic realm="`+s.cfg.Service+`"`)
	case http.StatusInternalServerError:
		e.Code = errcode.Unknown
	case http.StatusServiceUnavailable:
		e.Code = errcode.Unavailable
		e.WithHeader("Retry-After", errcode.RetryAfter)
	}
	e.WithStatus(status).WithHeader("Cache-Control", "no-store")
	if req.oauth {
		e.OAuth = oauthCode
	}
	errcode.Write(w, r, e)
}

// canonicalScopes resolves the names of repository scopes; a name that
// does not resolve is left out (it grants nothing) and logged.
func (s *Service) canonicalScopes(r *http.Request, asked []Access, bound string) []Access {
	out := make([]Access, 0, len(asked))
	for _, a := range asked {
		if a.Type == TypeRepository {
			n, err := s.names.Canonical(a.Name, bound)
			if err != nil {
				s.log.Debug("auth: ignoring scope", "remote", r.RemoteAddr, "error", err.Error())
				continue
			}
			a.Name = n
		}
		out = append(out, a)
	}
	return out
}
