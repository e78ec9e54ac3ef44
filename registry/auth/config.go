package auth

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/shadowreg/shadowreg/internal/ref"
	"golang.org/x/crypto/bcrypt"
)

// Values of User.Access and Config.Anonymous.
const (
	AccessRead  = "read"
	AccessWrite = "write"

	AnonymousNone = "none"
	AnonymousRead = "read"
)

// Defaults for the optional settings.
const (
	DefaultTokenLifetime = 15 * time.Minute
	DefaultService       = "shadowreg"
	DefaultIssuer        = "shadowreg"

	// MinTokenLifetime is what clients assume anyway: distribution's client
	// treats any expires_in below 60 seconds as 60.
	MinTokenLifetime = 60 * time.Second

	// minSecretLength accepts what zuul-jobs' run-buildset-registry generates
	// (an Ansible password lookup: 20 characters) and refuses toy secrets.
	minSecretLength = 16
)

// Config is the `auth:` section of the registry configuration.
type Config struct {
	Users []User `yaml:"users"`

	// Anonymous is "none" (the default: every request needs credentials) or
	// "read" (anyone may pull and list the catalog).
	Anonymous string `yaml:"anonymous"`

	// Secret signs tokens with HMAC-SHA256 (HS256), as zuul-registry does.
	// Exactly one of Secret and KeyFile is required.
	Secret string `yaml:"secret"`

	// KeyFile is a PEM private key that signs tokens instead: RSA (RS256,
	// at least 2048 bits), ECDSA (P-256 ES256, P-384 ES384, P-521 ES512) or
	// Ed25519 (EdDSA); PKCS#8, PKCS#1 or SEC 1.
	KeyFile string `yaml:"key-file"`

	// TokenLifetime is how long issued tokens stay valid: 15m by default,
	// at least 60s.
	TokenLifetime Duration `yaml:"token-lifetime"`

	// Service is the service name of challenges and the audience of tokens;
	// "shadowreg" by default.
	Service string `yaml:"service"`

	// Issuer is the iss claim of tokens; "shadowreg" by default.
	Issuer string `yaml:"issuer"`
}

// User is one account.
type User struct {
	Name string `yaml:"name"`

	// Password is a bcrypt hash ($2a$, $2b$ or $2y$, as htpasswd -B and
	// `shadowreg hash-password` write them). Anything else is refused at
	// start-up: a hashing tool that failed quietly (Ansible's password_hash
	// without passlib prints "*0") must not become a password.
	Password string `yaml:"password"`

	// PlainPassword is the password in clear, for tests only: saying so is
	// the only way a password that is not a bcrypt hash is accepted.
	// Exactly one of Password and PlainPassword is set.
	PlainPassword string `yaml:"plain-password"`

	// Access is "read" (pull) or "write" (pull, push, delete).
	Access string `yaml:"access"`

	// Prefixes, when set, restrict the user to repositories under these
	// names, compared by whole path components ("team" allows "team/app",
	// not "teamx/app").
	Prefixes []string `yaml:"prefixes"`

	// Buildset optionally binds the user to one buildset. It is carried in
	// the user's tokens and returned in Identity; what it restricts is up to
	// the registry layer.
	Buildset string `yaml:"buildset"`
}

// Validate checks c without touching the file system (the key file is read
// by New). Errors are one line and name the offending key, for example
// `auth.users[1].access: must be "read" or "write"`.
func (c *Config) Validate() error {
	switch c.Anonymous {
	case "", AnonymousNone, AnonymousRead:
	default:
		return fmt.Errorf(`auth.anonymous: must be "none" or "read", not %q`, c.Anonymous)
	}
	switch {
	case c.Secret == "" && c.KeyFile == "":
		return errors.New("auth: one of secret or key-file is required")
	case c.Secret != "" && c.KeyFile != "":
		return errors.New("auth: secret and key-file are mutually exclusive")
	case c.Secret != "" && len(c.Secret) < minSecretLength:
		return fmt.Errorf("auth.secret: must be at least %d characters", minSecretLength)
	}
	if c.TokenLifetime != 0 && c.TokenLifetime.Std() < MinTokenLifetime {
		return fmt.Errorf("auth.token-lifetime: must be at least %s, not %s", MinTokenLifetime, c.TokenLifetime)
	}
	// Both end up inside quoted strings of the WWW-Authenticate header.
	if err := checkQuotable(c.Service); err != nil {
		return fmt.Errorf("auth.service: %w", err)
	}
	if err := checkQuotable(c.Issuer); err != nil {
		return fmt.Errorf("auth.issuer: %w", err)
	}
	if len(c.Users) == 0 && c.Anonymous != AnonymousRead {
		return errors.New(`auth.users: at least one user is required unless anonymous is "read"`)
	}
	seen := make(map[string]bool, len(c.Users))
	for i, u := range c.Users {
		if err := u.validate(); err != nil {
			return fmt.Errorf("auth.users[%d].%w", i, err)
		}
		if seen[u.Name] {
			return fmt.Errorf("auth.users[%d].name: duplicate user %q", i, u.Name)
		}
		seen[u.Name] = true
	}
	return nil
}

// validate returns errors that start with the key ("access: ...") so that
// Config.Validate can prefix the user's index.
func (u *User) validate() error {
	switch {
	case u.Name == "":
		return errors.New("name: required")
	case strings.ContainsAny(u.Name, ":") || strings.IndexFunc(u.Name, isControl) >= 0:
		// Basic auth separates the user from the password at the first colon.
		return fmt.Errorf("name: %q must not contain a colon or control characters", u.Name)
	case u.Password == "" && u.PlainPassword == "":
		return fmt.Errorf("password: required for user %q (a bcrypt hash: `shadowreg hash-password`; or plain-password, for tests)", u.Name)
	case u.Password != "" && u.PlainPassword != "":
		return fmt.Errorf("password: user %q has both password and plain-password; keep one", u.Name)
	case u.Access != AccessRead && u.Access != AccessWrite:
		return fmt.Errorf(`access: must be "read" or "write", not %q`, u.Access)
	}
	if u.Password != "" {
		if err := checkBcrypt(u.Password); err != nil {
			return fmt.Errorf("password: user %q: %v; make one with `shadowreg hash-password`, or write a test password as plain-password", u.Name, err)
		}
	}
	if u.Buildset != "" && !ref.ValidBuildsetID(u.Buildset) {
		return fmt.Errorf("buildset: %q is not a buildset id (lower case letters, digits, '.', '_' and '-', at most 64)", u.Buildset)
	}
	for j, pre := range u.Prefixes {
		if !validPrefix(pre) {
			return fmt.Errorf("prefixes[%d]: %q is not a repository name prefix", j, pre)
		}
		if c, _ := (ref.Names{}).Prefix(pre); u.Buildset != "" && strings.HasPrefix(c+"/", ref.AllBuildsets+"/") {
			return fmt.Errorf("prefixes[%d]: %q names buildsets, but the user is bound to buildset %s: its prefixes limit the repositories inside it", j, pre, u.Buildset)
		}
	}
	return nil
}

// checkBcrypt says why s is not a usable bcrypt hash, without quoting it
// (a hash is a secret too).
func checkBcrypt(s string) error {
	if !isBcrypt(s) {
		return errors.New("not a bcrypt hash (it must start with $2a$, $2b$ or $2y$)")
	}
	if _, err := bcrypt.Cost([]byte(s)); err != nil {
		return fmt.Errorf("invalid bcrypt hash: %v", strings.TrimPrefix(err.Error(), "crypto/bcrypt: "))
	}
	// Cost reads only the prefix: a hash cut short after it still parses
	// there and would never match any password.
	if len(s) != bcryptHashLength {
		return fmt.Errorf("invalid bcrypt hash: %d characters, not %d", len(s), bcryptHashLength)
	}
	if i := strings.LastIndexByte(s, '$'); strings.IndexFunc(s[i+1:], notBcryptBase64) >= 0 {
		return errors.New("invalid bcrypt hash: a character outside bcrypt's base64 alphabet")
	}
	return nil
}

func notBcryptBase64(r rune) bool {
	return !(r == '.' || r == '/' || 'A' <= r && r <= 'Z' || 'a' <= r && r <= 'z' || '0' <= r && r <= '9')
}

// bcryptHashLength is the length of every bcrypt hash: "$2b$10$", a 22
// character salt and a 31 character checksum.
const bcryptHashLength = 60

func checkQuotable(s string) error {
	if strings.ContainsAny(s, `"\`) || strings.IndexFunc(s, isControl) >= 0 {
		return fmt.Errorf("%q must not contain quotes, backslashes or control characters", s)
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// withDefaults returns c with the optional settings filled in.
func (c Config) withDefaults() Config {
	if c.Anonymous == "" {
		c.Anonymous = AnonymousNone
	}
	if c.TokenLifetime == 0 {
		c.TokenLifetime = Duration(DefaultTokenLifetime)
	}
	if c.Service == "" {
		c.Service = DefaultService
	}
	if c.Issuer == "" {
		c.Issuer = DefaultIssuer
	}
	return c
}

// Duration is a time.Duration written in configuration files as "15m" or
// "90s"; a bare number is seconds. It implements encoding.TextUnmarshaler,
// which both YAML libraries and encoding/json honour.
type Duration time.Duration

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText writes d as a Go duration ("15m0s").
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads "15m", "1h30m" or a number of seconds ("900").
func (d *Duration) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n <= math.MaxInt64/int64(time.Second) {
		*d = Duration(time.Duration(n) * time.Second)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q: want a number of seconds or a duration such as 15m", s)
	}
	*d = Duration(v)
	return nil
}
