package upstream

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/shadowreg/shadowreg/internal/ref"
)

// Defaults for the zero values of Options.
const (
	DefaultRetries         = 3
	DefaultResumes         = 5
	DefaultBackoff         = 250 * time.Millisecond
	DefaultMaxManifestSize = 4 << 20
	DefaultUserAgent       = "shadowreg"
)

const (
	maxBackoff    = 10 * time.Second // cap of the exponential backoff
	maxRetryAfter = 30 * time.Second // cap of an upstream's Retry-After
	maxRedirects  = 10
	maxErrorBody  = 64 << 10 // bytes of an error body kept for the message
)

// Options tune a Client; the zero value is ready for production.
type Options struct {
	// HTTPClient sends the requests; nil builds one from the Config's TLS
	// settings. A given client is copied and its CheckRedirect replaced (to
	// keep Authorization off other hosts); its Timeout, if any, bounds whole
	// bodies, so leave it 0 and use Config.Timeout.
	HTTPClient *http.Client
	Logger     *slog.Logger     // nil discards
	Now        func() time.Time // clock for token expiry and Retry-After dates; nil = time.Now
	Retries    int              // retries of a failed request after the first try; 0 = 3, <0 = none
	Resumes    int              // resumptions of a broken blob stream; 0 = 5, <0 = none
	Backoff    time.Duration    // first retry delay, doubled each retry (with jitter); 0 = 250ms
	// MaxManifestSize is the largest manifest accepted; 0 = 4 MiB.
	MaxManifestSize int64
	UserAgent       string // "" = "shadowreg"
	// Requests counts every HTTP request sent upstream; nil counts nothing.
	Requests RequestCounter
}

// Client reads from one upstream registry. It is safe for concurrent use.
type Client struct {
	namespace   string
	name        string
	base        string // scheme://host[:port], no trailing slash
	http        *http.Client
	log         *slog.Logger
	now         func() time.Time
	sleep       func(context.Context, time.Duration) error // replaced by tests
	retries     int
	resumes     int
	backoff     time.Duration
	timeout     time.Duration
	maxManifest int64
	userAgent   string
	requests    RequestCounter
	auth        *authenticator
}

// New returns the client of the upstream serving namespace (the registry's
// host name as clients know it: "docker.io", "quay.io").
func New(namespace string, cfg Config, opts Options) (*Client, error) {
	ns, ok := ref.Namespace(namespace)
	if !ok {
		return nil, fmt.Errorf("upstream: %q is not a registry host name", namespace)
	}
	namespace = ns
	if err := cfg.Validate("upstreams." + namespace); err != nil {
		return nil, err
	}
	c := &Client{
		namespace: namespace,
		base:      strings.TrimSuffix(cfg.URL, "/"),

		log:         opts.Logger,
		now:         opts.Now,
		sleep:       sleepCtx,
		retries:     pick(opts.Retries, DefaultRetries),
		resumes:     pick(opts.Resumes, DefaultResumes),
		backoff:     opts.Backoff,
		timeout:     time.Duration(cfg.Timeout),
		maxManifest: opts.MaxManifestSize,
		userAgent:   opts.UserAgent,
		requests:    opts.Requests,
	}
	c.name = namespace + " (" + c.base + ")"
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.log = c.log.With("upstream", namespace)
	if c.now == nil {
		c.now = time.Now
	}
	if c.backoff <= 0 {
		c.backoff = DefaultBackoff
	}
	if c.timeout == 0 {
		c.timeout = DefaultTimeout
	}
	if c.maxManifest <= 0 {
		c.maxManifest = DefaultMaxManifestSize
	}
	if c.userAgent == "" {
		c.userAgent = DefaultUserAgent
	}
	if c.requests == nil {
		c.requests = CounterFunc(func(string, string, string) {})
	}
	if opts.HTTPClient != nil {
		hc := *opts.HTTPClient
		c.http = &hc
	} else {
		t, err := newTransport(cfg)
		if err != nil {
			return nil, fmt.Errorf("upstreams.%s: %w", namespace, err)
		}
		c.http = &http.Client{Transport: t}
	}
	c.http.CheckRedirect = checkRedirect
	c.auth = &authenticator{c: c, username: cfg.Username, password: cfg.Password, tokens: map[string]token{}, asked: map[string]string{}}
	return c, nil
}

// pick maps an Options count to its value: 0 = def, negative = none.
func pick(n, def int) int {
	switch {
	case n == 0:
		return def
	case n < 0:
		return 0
	}
	return n
}

// Name names the upstream in errors and logs: "docker.io (https://registry-1.docker.io)".
func (c *Client) Name() string { return c.name }

// Namespace returns the namespace the client serves.
func (c *Client) Namespace() string { return c.namespace }

// repoName validates repo (ref's grammar, which also keeps a name from
// smuggling "..", "?" or "#" into request URLs) and applies Docker Hub's
// implicit "library/".
func (c *Client) repoName(repo string) (string, error) {
	p, ok := ref.NormalizePath(c.namespace, repo)
	if !ok {
		return "", fmt.Errorf("upstream %s: invalid repository name %q", c.name, oneLine(repo, 300))
	}
	return p, nil
}

// parseRef tells a tag from a digest reference; the digest is "" for a tag.
func (c *Client) parseRef(reference string) (digest.Digest, error) {
	if strings.Contains(reference, ":") {
		d, err := digest.Parse(reference)
		if err != nil {
			return "", fmt.Errorf("upstream %s: invalid digest %q: %v", c.name, oneLine(reference, 200), err)
		}
		return d, nil
	}
	if !ref.ValidTag(reference) {
		return "", fmt.Errorf("upstream %s: invalid tag %q", c.name, oneLine(reference, 200))
	}
	return "", nil
}

// checkDigest rejects digests that are malformed or of an algorithm this
// binary cannot compute (content could then never be verified).
func (c *Client) checkDigest(d digest.Digest) error {
	if err := d.Validate(); err != nil {
		return fmt.Errorf("upstream %s: invalid digest %q: %v", c.name, oneLine(string(d), 200), err)
	}
	return nil
}

// endpoint is the URL of /v2/<repo>/<kind>/<ref>.
func (c *Client) endpoint(repo, kind, ref string) string {
	return c.base + "/v2/" + repo + "/" + kind + "/" + ref
}

// pullScope is the token scope every request of this package needs.
func pullScope(repo string) string { return "repository:" + repo + ":pull" }

// refString writes repo:tag or repo@digest for messages.
func refString(repo, ref string) string {
	if strings.Contains(ref, ":") {
		return repo + "@" + ref
	}
	return repo + ":" + ref
}

// fail wraps err from request r into the *Error callers get.
func (c *Client) fail(r *request, err error) error {
	return &Error{Upstream: c.name, Op: r.method + " " + r.op + " " + r.what, Status: statusOf(err), Err: err}
}
