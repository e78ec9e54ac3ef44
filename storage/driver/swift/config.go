package swift

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// Config configures the Swift driver (the storage.swift section of
// shadowreg's configuration file).
type Config struct {
	// AuthURL is the identity endpoint: Keystone's (https://keystone:5000/v3)
	// or a v1 auth URL (tempauth, swauth: http://proxy:8080/auth/v1.0).
	AuthURL string `yaml:"auth-url"`
	// AuthVersion is 1 (v1/tempauth) or 3 (Keystone v3); 0 guesses from
	// AuthURL: a path ending in /v1.0 or /v1 is v1, anything else v3.
	AuthVersion int `yaml:"auth-version"`
	// FromEnv takes every unset Keystone setting from the OS_* variables the
	// OpenStack CLI reads (OS_AUTH_URL, OS_USERNAME, OS_PASSWORD,
	// OS_PROJECT_NAME, OS_USER_DOMAIN_NAME, OS_APPLICATION_CREDENTIAL_ID,
	// OS_REGION_NAME, OS_INTERFACE, OS_CACERT, ...), as after sourcing an
	// openrc file.
	FromEnv bool `yaml:"from-env"`

	// Username and Password: Keystone v3 password auth, or the v1 user
	// ("account:user") and key.
	Username string `yaml:"username"`
	UserID   string `yaml:"user-id"`
	Password string `yaml:"password"`
	// The user's domain (v3); "Default" when neither is set.
	UserDomainName string `yaml:"user-domain-name"`
	UserDomainID   string `yaml:"user-domain-id"`
	// The project (v3) the token is scoped to, and its domain.
	ProjectName       string `yaml:"project-name"`
	ProjectID         string `yaml:"project-id"`
	ProjectDomainName string `yaml:"project-domain-name"`
	ProjectDomainID   string `yaml:"project-domain-id"`
	// Application credentials (v3) instead of a password: an ID, or a name
	// with the user, and the secret. Their project is fixed by Keystone.
	ApplicationCredentialID     string `yaml:"application-credential-id"`
	ApplicationCredentialName   string `yaml:"application-credential-name"`
	ApplicationCredentialSecret string `yaml:"application-credential-secret"`
	// Region and Interface pick the object-store endpoint from the v3
	// catalog; Interface is public (default), internal or admin.
	Region    string `yaml:"region"`
	Interface string `yaml:"interface"`

	// Container holds everything; it must exist.
	Container string `yaml:"container"`
	// Prefix is the driver's root inside the container, so it can be shared.
	Prefix string `yaml:"prefix"`
	// CAFile is a PEM bundle trusted in addition to the system roots, for
	// the identity and object-store endpoints alike.
	CAFile string `yaml:"ca-file"`

	// Redirect makes the driver a driver.URLer: clients fetch blobs from
	// TempURLs, straight from Swift. It needs a TempURL key on the account
	// or container (or TempURLKey here).
	Redirect bool `yaml:"redirect"`
	// RedirectExpiry is how long a TempURL stays valid when the caller does
	// not say (a Go duration, default 20m, at most 7 days).
	RedirectExpiry string `yaml:"redirect-expiry"`
	// TempURLKey signs TempURLs; empty reads the container's, then the
	// account's X-*-Meta-Temp-URL-Key at start.
	TempURLKey string `yaml:"tempurl-key"`

	// SegmentSize is the size of a static large object's segments in bytes,
	// and the memory one writer holds per segment: content larger than one
	// segment is stored as segments plus a manifest. Default 32 MiB, at
	// least 1 MiB, at most 5 GiB (Swift's largest object).
	SegmentSize int64 `yaml:"segment-size"`
	// ListingLag bounds how long a new object may be missing from container
	// listings (a Go duration, default 2s): the garbage collector waits
	// twice that after announcing a deletion before it lists the claims of
	// other replicas (driver.ListingLagger). Raise it for clusters whose
	// container servers queue updates.
	ListingLag string `yaml:"listing-lag"`
	// MaxSegments is the cluster's max_manifest_segments (default 1000):
	// a blob written in one stream holds up to MaxSegments*SegmentSize.
	MaxSegments int `yaml:"max-segments"`
}

const (
	defaultRedirectExpiry = 20 * time.Minute
	maxRedirectExpiry     = 7 * 24 * time.Hour
	defaultSegmentSize    = 32 << 20
	minSegmentSize        = 1 << 20
	maxSegmentSize        = 5 << 30 // Swift's largest single object
	defaultMaxSegments    = 1000    // Swift's default max_manifest_segments
	// minTailSegment: a checkpoint uploads its buffer as a segment from this
	// size on and stores a smaller one in the checkpoint object, so that
	// uploads in small chunks do not exhaust the manifest's segments.
	minTailSegment = 5 << 20
)

// Validate checks c without touching the network. Errors are one line and
// name the offending key, e.g. "swift.container: required".
func (c Config) Validate() error {
	if c.AuthURL == "" && !c.FromEnv {
		return errors.New("swift.auth-url: required (or swift.from-env)")
	}
	if c.AuthURL != "" && !strings.HasPrefix(c.AuthURL, "http://") && !strings.HasPrefix(c.AuthURL, "https://") {
		return fmt.Errorf("swift.auth-url: %q: want an http:// or https:// URL", c.AuthURL)
	}
	switch c.AuthVersion {
	case 0, 1, 3:
	default:
		return fmt.Errorf("swift.auth-version: %d: want 1 or 3", c.AuthVersion)
	}
	if c.version() == 1 {
		if c.Username == "" || c.Password == "" {
			return errors.New("swift.username, swift.password: v1 auth needs both (account:user and key)")
		}
	}
	if c.Container == "" {
		return errors.New("swift.container: required")
	}
	if strings.ContainsAny(c.Container, "/") || len(c.Container) > 256 {
		return fmt.Errorf("swift.container: %q: no slash, at most 256 bytes", c.Container)
	}
	if p := strings.Trim(c.Prefix, "/"); p != "" {
		for _, part := range strings.Split(p, "/") {
			if part == "" || part == "." || part == ".." {
				return fmt.Errorf("swift.prefix: %q: empty, \".\" or \"..\" component", c.Prefix)
			}
		}
	}
	switch c.Interface {
	case "", "public", "internal", "admin":
	default:
		return fmt.Errorf("swift.interface: %q: want public, internal or admin", c.Interface)
	}
	if _, err := c.redirectExpiry(); err != nil {
		return err
	}
	if c.SegmentSize != 0 && (c.SegmentSize < minSegmentSize || c.SegmentSize > maxSegmentSize) {
		return fmt.Errorf("swift.segment-size: %d: must be between %d (1 MiB) and %d (5 GiB)", c.SegmentSize,
			minSegmentSize, maxSegmentSize)
	}
	if _, err := c.listingLag(); err != nil {
		return err
	}
	if c.MaxSegments < 0 {
		return fmt.Errorf("swift.max-segments: %d: must be positive", c.MaxSegments)
	}
	if c.CAFile != "" {
		if _, err := os.Stat(c.CAFile); err != nil {
			return fmt.Errorf("swift.ca-file: %v", err)
		}
	}
	return nil
}

// version is the auth version in use: as configured, else guessed.
func (c Config) version() int {
	if c.AuthVersion != 0 {
		return c.AuthVersion
	}
	u := strings.TrimRight(c.AuthURL, "/")
	if strings.HasSuffix(u, "/v1.0") || strings.HasSuffix(u, "/v1") {
		return 1
	}
	return 3
}

func (c Config) segmentSize() int64 {
	if c.SegmentSize == 0 {
		return defaultSegmentSize
	}
	return c.SegmentSize
}

func (c Config) maxSegments() int {
	if c.MaxSegments == 0 {
		return defaultMaxSegments
	}
	return c.MaxSegments
}

const defaultListingLag = 2 * time.Second

func (c Config) listingLag() (time.Duration, error) {
	if c.ListingLag == "" {
		return defaultListingLag, nil
	}
	d, err := time.ParseDuration(c.ListingLag)
	if err != nil || d < 0 || d > 10*time.Minute {
		return 0, fmt.Errorf("swift.listing-lag: %q: want a duration between 0s and 10m", c.ListingLag)
	}
	return d, nil
}

func (c Config) redirectExpiry() (time.Duration, error) {
	if c.RedirectExpiry == "" {
		return defaultRedirectExpiry, nil
	}
	d, err := time.ParseDuration(c.RedirectExpiry)
	if err != nil || d < time.Second || d > maxRedirectExpiry {
		return 0, fmt.Errorf("swift.redirect-expiry: %q: want a duration between 1s and 168h", c.RedirectExpiry)
	}
	return d, nil
}

// root is the object name prefix of everything the driver stores.
func (c Config) root() string {
	p := strings.Trim(c.Prefix, "/")
	if p == "" {
		return ""
	}
	return p + "/"
}
