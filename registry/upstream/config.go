package upstream

import (
	"crypto/x509"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Config is one upstream registry, one per namespace in the registry config.
type Config struct {
	URL      string   `yaml:"url"`      // https://registry-1.docker.io, no path
	Username string   `yaml:"username"` // with Password: Basic auth, or the token realm's credentials
	Password string   `yaml:"password"`
	CAFile   string   `yaml:"ca-file"`  // PEM certificates added to the system pool
	Insecure bool     `yaml:"insecure"` // skip TLS verification
	Timeout  Duration `yaml:"timeout"`  // wait for response headers, and for each read of a body; 0 = 30s
}

// DefaultTimeout is Config.Timeout when unset.
const DefaultTimeout = 30 * time.Second

// Duration is a time.Duration written as "30s" or "2m" in the config (a bare
// number is seconds). It decodes through encoding.TextUnmarshaler, which YAML
// and JSON decoders both honour, so this package needs no YAML library.
type Duration time.Duration

// MarshalText writes the duration as time.Duration.String does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads "30s", "1m30s" or a number of seconds.
func (d *Duration) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if n, err := strconv.ParseInt(s, 10, 32); err == nil {
		*d = Duration(time.Duration(n) * time.Second)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q (write e.g. 30s or 2m)", s)
	}
	*d = Duration(v)
	return nil
}

// Validate checks c and returns a one-line error naming the offending key
// under key, e.g. "upstreams.quay.io.url: must be an http(s) URL".
func (c Config) Validate(key string) error {
	k := func(field string) string { return key + "." + field }
	if c.URL == "" {
		return fmt.Errorf("%s: required", k("url"))
	}
	u, err := url.Parse(c.URL)
	if err == nil && u.User != nil {
		return fmt.Errorf("%s: must not contain credentials (set username and password)", k("url"))
	}
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// The value is not echoed: a malformed URL may still hold a password.
		return fmt.Errorf("%s: must be an http(s) URL such as https://registry-1.docker.io", k("url"))
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		// The distribution API lives at /v2/ on the host's root; a path here
		// is almost always a pasted "/v2/" or an image name.
		return fmt.Errorf("%s: must be scheme://host[:port] without a path, got %q", k("url"), c.URL)
	}
	if c.Username != "" && c.Password == "" {
		return fmt.Errorf("%s: required when username is set", k("password"))
	}
	if c.Password != "" && c.Username == "" {
		return fmt.Errorf("%s: required when password is set", k("username"))
	}
	if c.Timeout < 0 {
		return fmt.Errorf("%s: must not be negative", k("timeout"))
	}
	if c.CAFile != "" {
		if c.Insecure {
			return fmt.Errorf("%s: cannot be combined with ca-file (insecure skips verification)", k("insecure"))
		}
		if _, err := loadCAs(c.CAFile, x509.NewCertPool()); err != nil {
			return fmt.Errorf("%s: %v", k("ca-file"), err)
		}
	}
	return nil
}

// loadCAs adds the PEM certificates of file to pool.
func loadCAs(file string, pool *x509.CertPool) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no PEM certificate in %s", file)
	}
	return pool, nil
}
