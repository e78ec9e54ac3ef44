package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// The auth case: manifest GETs from many clients with a Bearer token (ours
// column) and with Basic credentials (ref column), against the same server
// without auth (the baseline). Every authenticated request is checked by the
// server: a token's signature and claims, a password's bcrypt hash; both are
// cached after the first check, so the goal is the open rate.
const (
	benchUser     = "bench"
	benchPassword = "bench-password"
	benchSecret   = "bench-secret-for-hs256-tokens"
)

func authCase(o *options) *Case {
	c := manifestCase(o)
	c.Key, c.Name = "auth", fmt.Sprintf("manifest GET x%d, authenticated", o.conc)
	c.Ours, c.Ref, c.Limit, c.Base = "shadowreg-bearer", "shadowreg-basic", o.oursKey(""), "no auth"
	c.Goal = Goal{VsLimit: 0.9}
	return c
}

// authConfig is the auth section of a shadowreg config for the bench user:
// a bcrypt hash, as production configs have it (the password cache matters).
func authConfig() (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(benchPassword), bcrypt.DefaultCost)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("auth:\n  users:\n    - name: %s\n      password: %q\n      access: write\n"+
		"  anonymous: none\n  secret: %s\n  token-lifetime: 1h\n", benchUser, h, benchSecret), nil
}

// authenticate makes every request of t's client carry credentials: Basic,
// or a Bearer token for the bench repositories fetched once here.
func authenticate(ctx context.Context, t *Target, kind string) error {
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(benchUser+":"+benchPassword))
	header := basic
	if kind == "bearer" {
		q := url.Values{"service": {"shadowreg"}, "scope": {"repository:" + manifestRepo + ":pull,push"}}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.URL+"/auth/token?"+q.Encode(), nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", basic)
		resp, err := t.Client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return httpError("token", resp)
		}
		var tr struct {
			Token string `json:"token"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil || tr.Token == "" {
			return fmt.Errorf("token response: %v", err)
		}
		header = "Bearer " + tr.Token
	}
	t.Client.Transport = authTransport{base: t.Client.Transport, header: header}
	t.Desc += ", auth " + strings.Fields(header)[0]
	return nil
}

type authTransport struct {
	base   http.RoundTripper
	header string
}

// RoundTrip adds the credentials to a copy of r (a RoundTripper must not
// change its request) unless r carries them already.
func (a authTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get("Authorization") == a.header {
		return a.base.RoundTrip(r)
	}
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", a.header)
	return a.base.RoundTrip(r)
}
