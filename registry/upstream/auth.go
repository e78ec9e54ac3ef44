package upstream

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// defaultTokenLifetime is the token spec's lifetime when expires_in is absent.
const defaultTokenLifetime = 60 * time.Second

// authenticator holds what a Client learnt about authenticating upstream:
// nothing until the first 401, then Basic, or Bearer with a token per scope.
type authenticator struct {
	c        *Client
	username string
	password string
	flight   singleflight.Group // one token request per scope at a time

	mu      sync.Mutex
	scheme  string           // "", "basic" or "bearer", from the last challenge
	realm   string           // bearer: token endpoint
	service string           // bearer: service parameter
	tokens  map[string]token // bearer: by our scope
	asked   map[string]string
}

type token struct {
	value   string
	expires time.Time // when to stop using it (a margin before the real expiry)
}

// authorization returns the Authorization header for a request needing
// scope, fetching a token when the upstream uses bearer tokens and none is
// cached. Before the first challenge it is "": requests go out anonymous,
// which also keeps credentials from upstreams that never ask for them.
func (a *authenticator) authorization(ctx context.Context, scope string) (string, error) {
	a.mu.Lock()
	scheme, realm, service := a.scheme, a.realm, a.service
	tok, ok := a.tokens[scope]
	extra := a.asked[scope]
	a.mu.Unlock()
	switch scheme {
	case "basic":
		return "Basic " + a.basic(), nil
	case "bearer":
		if ok && a.c.now().Before(tok.expires) {
			return "Bearer " + tok.value, nil
		}
		v, err := a.fetchShared(ctx, realm, service, scope, extra)
		if err != nil {
			return "", err
		}
		return "Bearer " + v, nil
	}
	return "", nil
}

func (a *authenticator) basic() string {
	return base64.StdEncoding.EncodeToString([]byte(a.username + ":" + a.password))
}

// challenged learns from a 401's WWW-Authenticate how to authenticate. sent
// is the Authorization header of the refused request: a refused token is
// dropped, refused Basic credentials are final.
func (a *authenticator) challenged(h http.Header, scope, sent string) error {
	chs := parseChallenges(h.Values("WWW-Authenticate"))
	var bearer, basic *challenge
	for i := range chs {
		switch chs[i].scheme {
		case "bearer":
			bearer = &chs[i]
		case "basic":
			basic = &chs[i]
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case bearer != nil:
		realm := bearer.params["realm"]
		u, err := url.Parse(realm)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return &statusError{code: http.StatusUnauthorized, sentry: ErrUnauthorized,
				text: fmt.Sprintf("401 Unauthorized: bearer challenge with an invalid realm %q", oneLine(realm, 200))}
		}
		if realm != a.realm || bearer.params["service"] != a.service {
			clear(a.tokens) // tokens of another service are useless
			a.asked = map[string]string{}
		}
		a.scheme, a.realm, a.service = "bearer", realm, bearer.params["service"]
		if s := bearer.params["scope"]; s != "" && s != scope {
			a.asked[scope] = s // ask for what the upstream said it needs, too
		}
		if t, ok := a.tokens[scope]; ok && "Bearer "+t.value == sent {
			delete(a.tokens, scope) // expired or revoked upstream before our margin
		}
		return nil
	case basic != nil:
		if a.username == "" {
			return &statusError{code: http.StatusUnauthorized, sentry: ErrUnauthorized,
				text: "401 Unauthorized: the upstream asks for Basic credentials and none are configured"}
		}
		if strings.HasPrefix(sent, "Basic ") {
			return &statusError{code: http.StatusUnauthorized, sentry: ErrUnauthorized,
				text: "401 Unauthorized: the upstream refused the configured credentials"}
		}
		a.scheme = "basic"
		return nil
	}
	return &statusError{code: http.StatusUnauthorized, sentry: ErrUnauthorized,
		text: "401 Unauthorized without a Basic or Bearer challenge"}
}

// fetchShared fetches a token once for all concurrent callers of a scope.
// The fetch runs detached from any one caller's context (its own timeouts
// and retries bound it), so that the first caller giving up does not fail
// the others; each caller still stops waiting when its context ends.
func (a *authenticator) fetchShared(ctx context.Context, realm, service, scope, extra string) (string, error) {
	key := realm + "\x00" + service + "\x00" + scope
	ch := a.flight.DoChan(key, func() (any, error) {
		// A flight that ended between our caller's cache miss and this
		// one's start has cached a token: use it rather than ask again.
		a.mu.Lock()
		t, ok := a.tokens[scope]
		same := a.realm == realm && a.service == service
		a.mu.Unlock()
		if ok && same && a.c.now().Before(t.expires) {
			return t.value, nil
		}
		t, err := a.fetch(context.WithoutCancel(ctx), realm, service, scope, extra)
		if err != nil {
			return nil, err
		}
		a.mu.Lock()
		if a.realm == realm && a.service == service {
			a.tokens[scope] = t
		}
		a.mu.Unlock()
		return t.value, nil
	})
	select {
	case <-ctx.Done():
		return "", ctx.Err()
	case res := <-ch:
		if res.Err != nil {
			return "", res.Err
		}
		return res.Val.(string), nil
	}
}

// fetch gets a token from the realm (the token spec's GET flow), sending the
// configured credentials if any.
func (a *authenticator) fetch(ctx context.Context, realm, service, scope, extra string) (token, error) {
	c := a.c
	u, _ := url.Parse(realm) // checked when the challenge was parsed
	q := u.Query()
	if service != "" {
		q.Set("service", service)
	}
	for _, s := range []string{scope, extra} {
		if s != "" {
			q.Add("scope", s)
		}
	}
	u.RawQuery = q.Encode()
	r := &request{op: "token", method: http.MethodGet, url: u.String(), what: "for " + scope,
		toRealm: true, limit: 1 << 20, header: http.Header{"Accept": {"application/json"}}}
	if a.username != "" {
		if u.Scheme == "http" && !strings.HasPrefix(c.base, "http://") {
			return token{}, fmt.Errorf("token for %s: refusing to send credentials to plain-http realm %s", scope, u.Host)
		}
		r.header.Set("Authorization", "Basic "+a.basic())
	}
	start := c.now() // the token's life counts from before the request: safe against slow answers and skewed clocks
	_, data, err := c.send(ctx, r)
	if err != nil {
		return token{}, fmt.Errorf("token from %s: %w", u.Host, err)
	}
	var doc struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return token{}, fmt.Errorf("token from %s: invalid JSON: %v", u.Host, err)
	}
	v := doc.Token
	if v == "" {
		v = doc.AccessToken
	}
	if v == "" {
		return token{}, fmt.Errorf("token from %s: %w: answer has no token", u.Host, ErrUnauthorized)
	}
	life := defaultTokenLifetime
	if doc.ExpiresIn > 0 {
		life = time.Duration(min(doc.ExpiresIn, 1<<31)) * time.Second
	}
	// Stop using it a little early so that a request never leaves with a
	// token that expires on the way.
	margin := min(life/5, 30*time.Second)
	c.log.Debug("upstream token fetched", "scope", scope, "expires_in", life)
	return token{value: v, expires: start.Add(life - margin)}, nil
}

// challenge is one WWW-Authenticate challenge; scheme and parameter names
// are lower-cased, as both are case-insensitive.
type challenge struct {
	scheme string
	params map[string]string
}

// parseChallenges parses WWW-Authenticate header values (RFC 7235): each
// value may hold several challenges, and quoted values may hold commas
// (scope="repository:a:pull,push") and backslash escapes.
func parseChallenges(values []string) []challenge {
	var out []challenge
	for _, v := range values {
		out = append(out, parseChallengeValue(v)...)
	}
	return out
}

func parseChallengeValue(s string) []challenge {
	var out []challenge
	p := &lexer{s: s}
	for n := 0; n < 64 && !p.done(); n++ { // bounded: a header holds few challenges
		p.skip(" \t,")
		scheme := p.token()
		if scheme == "" {
			if p.done() {
				break
			}
			p.i++ // not a token: skip the byte rather than loop on it
			continue
		}
		ch := challenge{scheme: strings.ToLower(scheme), params: map[string]string{}}
		// Parameters: name=value pairs separated by commas. A token that is
		// not followed by '=' starts the next challenge.
		for m := 0; m < 64; m++ {
			p.skip(" \t,")
			save := p.i
			name := p.token()
			p.skip(" \t")
			if name == "" || !p.eat('=') {
				p.i = save
				break
			}
			p.skip(" \t")
			var val string
			if p.peek() == '"' {
				val = p.quoted()
			} else {
				val = p.token68()
			}
			ch.params[strings.ToLower(name)] = val
		}
		out = append(out, ch)
	}
	return out
}

type lexer struct {
	s string
	i int
}

func (p *lexer) done() bool { return p.i >= len(p.s) }

func (p *lexer) peek() byte {
	if p.done() {
		return 0
	}
	return p.s[p.i]
}

func (p *lexer) eat(b byte) bool {
	if p.peek() == b && !p.done() {
		p.i++
		return true
	}
	return false
}

func (p *lexer) skip(set string) {
	for !p.done() && strings.IndexByte(set, p.s[p.i]) >= 0 {
		p.i++
	}
}

// token reads an RFC 7230 token.
func (p *lexer) token() string {
	start := p.i
	for !p.done() && isTokenChar(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

// token68 reads an unquoted parameter value: up to a comma or space.
func (p *lexer) token68() string {
	start := p.i
	for !p.done() && p.s[p.i] != ',' && p.s[p.i] != ' ' && p.s[p.i] != '\t' {
		p.i++
	}
	return p.s[start:p.i]
}

// quoted reads a quoted string; an unterminated one runs to the end.
func (p *lexer) quoted() string {
	p.i++ // opening quote
	var b strings.Builder
	for !p.done() {
		c := p.s[p.i]
		p.i++
		switch {
		case c == '"':
			return b.String()
		case c == '\\' && !p.done():
			b.WriteByte(p.s[p.i])
			p.i++
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
