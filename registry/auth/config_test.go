package auth

import (
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// makeOne ends every error about a password that is not a usable hash.
const makeOne = "make one with `shadowreg hash-password`, or write a test password as plain-password"

func TestValidate(t *testing.T) {
	ok := func(f func(*Config)) Config {
		c := testConfig(AnonymousNone)
		f(&c)
		return c
	}
	user := func(i int, f func(*User)) Config {
		return ok(func(c *Config) { f(&c.Users[i]) })
	}
	tests := []struct {
		cfg  Config
		want string // "" = valid
	}{
		{testConfig(AnonymousNone), ""},
		{testConfig(AnonymousRead), ""},
		{testConfig(""), ""},
		{Config{Anonymous: AnonymousRead, Secret: testSecret}, ""},
		{ok(func(c *Config) { c.Anonymous = "write" }), `auth.anonymous: must be "none" or "read", not "write"`},
		{ok(func(c *Config) { c.Secret = "" }), "auth: one of secret or key-file is required"},
		{ok(func(c *Config) { c.KeyFile = "/x.pem" }), "auth: secret and key-file are mutually exclusive"},
		{ok(func(c *Config) { c.Secret = "short" }), "auth.secret: must be at least 16 characters"},
		{ok(func(c *Config) { c.TokenLifetime = Duration(30 * time.Second) }), "auth.token-lifetime: must be at least 1m0s, not 30s"},
		{ok(func(c *Config) { c.TokenLifetime = Duration(time.Minute) }), ""},
		{ok(func(c *Config) { c.Service = `a"b` }), `auth.service: "a\"b" must not contain quotes, backslashes or control characters`},
		{ok(func(c *Config) { c.Issuer = "a\nb" }), `auth.issuer: "a\nb" must not contain quotes, backslashes or control characters`},
		{ok(func(c *Config) { c.Users = nil }), `auth.users: at least one user is required unless anonymous is "read"`},
		{user(1, func(u *User) { u.Access = "admin" }), `auth.users[1].access: must be "read" or "write", not "admin"`},
		{user(1, func(u *User) { u.Access = "" }), `auth.users[1].access: must be "read" or "write", not ""`},
		{user(0, func(u *User) { u.Name = "" }), "auth.users[0].name: required"},
		{user(0, func(u *User) { u.Name = "a:b" }), `auth.users[0].name: "a:b" must not contain a colon or control characters`},
		{user(2, func(u *User) { u.Password = "" }), "auth.users[2].password: required for user \"team\" (a bcrypt hash: `shadowreg hash-password`; or plain-password, for tests)"},
		{user(2, func(u *User) { u.Password = "$2y$10$tooshort" }), "auth.users[2].password: user \"team\": invalid bcrypt hash: hashedSecret too short to be a bcrypted password; " + makeOne},
		// What Ansible's password_hash('bcrypt') prints without passlib.
		{user(2, func(u *User) { u.Password = "*0" }), "auth.users[2].password: user \"team\": not a bcrypt hash (it must start with $2a$, $2b$ or $2y$); " + makeOne},
		{user(1, func(u *User) { u.PlainPassword, u.Password = u.Password, "reader-pw" }), "auth.users[1].password: user \"reader\": not a bcrypt hash (it must start with $2a$, $2b$ or $2y$); " + makeOne},
		{user(2, func(u *User) { u.Password = u.Password[:59] }), "auth.users[2].password: user \"team\": invalid bcrypt hash: 59 characters, not 60; " + makeOne},
		{user(2, func(u *User) { u.Password = u.Password + "x" }), "auth.users[2].password: user \"team\": invalid bcrypt hash: 61 characters, not 60; " + makeOne},
		{user(2, func(u *User) { u.Password = u.Password[:59] + "!" }), "auth.users[2].password: user \"team\": invalid bcrypt hash: a character outside bcrypt's base64 alphabet; " + makeOne},
		{user(2, func(u *User) { u.PlainPassword = "team-pw" }), `auth.users[2].password: user "team" has both password and plain-password; keep one`},
		{user(2, func(u *User) { u.PlainPassword, u.Password = "team-pw", "" }), ""},
		{user(2, func(u *User) { u.Name = "writer" }), `auth.users[2].name: duplicate user "writer"`},
		{user(2, func(u *User) { u.Prefixes = []string{"team", "a/../b"} }), `auth.users[2].prefixes[1]: "a/../b" is not a repository name prefix`},
		{user(2, func(u *User) { u.Prefixes = []string{"/"} }), `auth.users[2].prefixes[0]: "/" is not a repository name prefix`},
		{user(2, func(u *User) { u.Prefixes = []string{"quay.io/org/", "localhost:5000"} }), ""},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("Validate() = %q, want %q", got, tt.want)
		}
		if strings.Contains(got, "\n") {
			t.Errorf("multi-line error %q", got)
		}
		// New refuses exactly what Validate refuses.
		if _, err := New(tt.cfg, Options{}); (err == nil) != (tt.want == "") {
			t.Errorf("New error %v for Validate %q", err, tt.want)
		}
	}
}

func TestConfigYAML(t *testing.T) {
	const doc = `
users:
  - name: zuul
    password: "$2b$10$abcdefghijklmnopqrstuuKfOwfQD3i5XqTNOcjSjgJR6Q8pWyiYC"
    access: write
    prefixes: [team/, quay.io/org]
    buildset: bs-42
anonymous: read
secret: a-secret-of-twenty-chars
token-lifetime: 5m
service: buildset-registry
issuer: zuul
`
	var c Config
	if err := yaml.Unmarshal([]byte(doc), &c); err != nil {
		t.Fatal(err)
	}
	u := c.Users[0]
	if u.Name != "zuul" || u.Access != "write" || len(u.Prefixes) != 2 || u.Buildset != "bs-42" || !isBcrypt(u.Password) {
		t.Errorf("user %+v", u)
	}
	if c.Anonymous != "read" || c.Secret == "" || c.TokenLifetime.Std() != 5*time.Minute || c.Service != "buildset-registry" || c.Issuer != "zuul" {
		t.Errorf("config %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}

	for in, want := range map[string]time.Duration{"token-lifetime: 900": 900 * time.Second, "token-lifetime: 1h30m": 90 * time.Minute, `token-lifetime: "90s"`: 90 * time.Second} {
		var c Config
		if err := yaml.Unmarshal([]byte(in), &c); err != nil || c.TokenLifetime.Std() != want {
			t.Errorf("%s: %v, %v", in, c.TokenLifetime, err)
		}
	}
	if err := yaml.Unmarshal([]byte("token-lifetime: soon"), &c); err == nil {
		t.Error("a bad duration was accepted")
	}
	out, _ := yaml.Marshal(Config{TokenLifetime: Duration(15 * time.Minute)})
	if !strings.Contains(string(out), "token-lifetime: 15m0s") {
		t.Errorf("marshal: %s", out)
	}
}

func TestDefaults(t *testing.T) {
	c := testConfig("").withDefaults()
	if c.Anonymous != AnonymousNone || c.TokenLifetime.Std() != DefaultTokenLifetime || c.Service != "shadowreg" || c.Issuer != "shadowreg" {
		t.Errorf("defaults %+v", c)
	}
}
