// Package client is shadowreg's registry client: it moves docker-archive
// tarballs, OCI layouts and plain files in and out of a registry, copies,
// lists, tags and deletes. The protocol is go-containerregistry's
// (pkg/v1/remote, with authn's keychain for credentials): this package only
// decides what to move and where.
package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Options say which registry to talk to and how.
type Options struct {
	Server   string // URL or host:port; http:// means plain HTTP
	Buildset string // when set, names are under buildsets/<id>/
	Username string // with Password: used instead of stored credentials
	Password string
	CAFile   string // PEM bundle trusted beside the system's roots
	Insecure bool   // skip TLS verification
	Progress *Progress
	// UserAgent names the client to the registry.
	UserAgent string
}

// Client is one registry, resolved from Options.
type Client struct {
	opts     Options
	host     string // host:port
	plain    bool   // http://
	keychain authn.Keychain
	tr       http.RoundTripper
}

// New checks the options and builds the transport.
func New(o Options) (*Client, error) {
	if o.Server == "" {
		return nil, fmt.Errorf("--server: give the registry, e.g. --server http://127.0.0.1:5000 (or set SHADOWREG_SERVER)")
	}
	c := &Client{opts: o}
	host := strings.TrimRight(o.Server, "/")
	switch {
	case strings.HasPrefix(host, "http://"):
		c.plain, host = true, strings.TrimPrefix(host, "http://")
	case strings.HasPrefix(host, "https://"):
		host = strings.TrimPrefix(host, "https://")
	}
	if strings.Contains(host, "/") {
		return nil, fmt.Errorf("--server %s: give only the scheme and host, no path", o.Server)
	}
	c.host = host
	tr, err := newTransport(o.CAFile, o.Insecure)
	if err != nil {
		return nil, err
	}
	c.tr = tr
	c.keychain = keychain
	if o.Username != "" {
		c.keychain = staticKeychain{host: host, auth: authn.FromConfig(authn.AuthConfig{Username: o.Username, Password: o.Password})}
	}
	return c, nil
}

// Host is the registry's host:port.
func (c *Client) Host() string { return c.host }

func newTransport(caFile string, insecure bool) (http.RoundTripper, error) {
	tr := remote.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: insecure}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("--ca-file: %w", err)
		}
		pool, _ := x509.SystemCertPool()
		if pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-file %s: no PEM certificate in it", caFile)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	return tr, nil
}

// staticKeychain answers the credentials given on the command line for the
// one registry, and anonymous elsewhere.
type staticKeychain struct {
	host string
	auth authn.Authenticator
}

func (k staticKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	if r.RegistryStr() == k.host {
		return k.auth, nil
	}
	return authn.Anonymous, nil
}

// Path is the repository path a user's name has on the registry: under
// buildsets/<id>/ when a buildset is set.
func (c *Client) Path(s string) string {
	s = strings.TrimPrefix(s, "/")
	if c.opts.Buildset != "" {
		return "buildsets/" + c.opts.Buildset + "/" + s
	}
	return s
}

// Ref parses a repository[:tag|@digest] on the registry.
func (c *Client) Ref(s string) (name.Reference, error) {
	r, err := name.ParseReference(c.host+"/"+c.Path(s), c.nameOpts()...)
	if err != nil {
		return nil, fmt.Errorf("%q is not a repository[:tag|@digest]: %w", s, err)
	}
	return r, nil
}

// Repo parses a repository name on the registry.
func (c *Client) Repo(s string) (name.Repository, error) {
	r, err := name.NewRepository(c.host+"/"+c.Path(s), c.nameOpts()...)
	if err != nil {
		return name.Repository{}, fmt.Errorf("%q is not a repository name: %w", s, err)
	}
	return r, nil
}

func (c *Client) nameOpts() []name.Option {
	var o []name.Option
	if c.plain {
		o = append(o, name.Insecure)
	}
	return o
}

// Display is the name a user knows ref by: without the registry and the
// buildset prefix.
func (c *Client) Display(ref name.Reference) string {
	s := strings.TrimPrefix(ref.Name(), c.host+"/")
	if c.opts.Buildset != "" {
		s = strings.TrimPrefix(s, "buildsets/"+c.opts.Buildset+"/")
	}
	return s
}

func (c *Client) remote(ctx context.Context, extra ...remote.Option) []remote.Option {
	o := []remote.Option{remote.WithContext(ctx), remote.WithTransport(c.tr), remote.WithAuthFromKeychain(c.keychain),
		remote.WithJobs(4)}
	if c.opts.UserAgent != "" {
		o = append(o, remote.WithUserAgent(c.opts.UserAgent))
	}
	return append(o, extra...)
}

// Progress is where transfers report; nil-safe.
func (c *Client) Progress() *Progress { return c.opts.Progress }
