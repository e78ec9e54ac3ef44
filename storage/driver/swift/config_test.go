package swift

import (
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	ok := Config{AuthURL: "https://keystone.example.com:5000/v3", Container: "registry"}
	if err := ok.Validate(); err != nil {
		t.Fatalf("minimal config: %v", err)
	}
	tests := []struct {
		name string
		edit func(*Config)
		want string // the error starts with this; "" for valid
	}{
		{"NoAuthURL", func(c *Config) { c.AuthURL = "" }, "swift.auth-url: required"},
		{"FromEnv", func(c *Config) { c.AuthURL, c.FromEnv = "", true }, ""},
		{"BadAuthURL", func(c *Config) { c.AuthURL = "keystone:5000" }, "swift.auth-url:"},
		{"BadVersion", func(c *Config) { c.AuthVersion = 2 }, "swift.auth-version:"},
		{"V1NoKey", func(c *Config) { c.AuthURL = "http://proxy:8080/auth/v1.0"; c.Username = "a:b" }, "swift.username, swift.password:"},
		{"V1", func(c *Config) { c.AuthURL = "http://proxy:8080/auth/v1.0"; c.Username, c.Password = "a:b", "k" }, ""},
		{"NoContainer", func(c *Config) { c.Container = "" }, "swift.container: required"},
		{"SlashContainer", func(c *Config) { c.Container = "a/b" }, "swift.container:"},
		{"BadPrefix", func(c *Config) { c.Prefix = "a/../b" }, "swift.prefix:"},
		{"Interface", func(c *Config) { c.Interface = "internal" }, ""},
		{"BadInterface", func(c *Config) { c.Interface = "private" }, "swift.interface:"},
		{"BadExpiry", func(c *Config) { c.RedirectExpiry = "200h" }, "swift.redirect-expiry:"},
		{"SmallSegments", func(c *Config) { c.SegmentSize = 1000 }, "swift.segment-size:"},
		{"HugeSegments", func(c *Config) { c.SegmentSize = 6 << 30 }, "swift.segment-size:"},
		{"MissingCA", func(c *Config) { c.CAFile = "/no/such/ca.pem" }, "swift.ca-file:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.edit(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.want)):
				t.Errorf("Validate = %v, want %q...", err, tt.want)
			}
		})
	}
}

func TestAuthVersionGuess(t *testing.T) {
	for u, want := range map[string]int{
		"http://p:8080/auth/v1.0": 1, "http://p:8080/auth/v1.0/": 1, "http://p/v1": 1,
		"https://k:5000/v3": 3, "https://k:5000": 3,
	} {
		if got := (Config{AuthURL: u}).version(); got != want {
			t.Errorf("version(%s) = %d, want %d", u, got, want)
		}
	}
}

func TestWithEnv(t *testing.T) {
	t.Setenv("OS_AUTH_URL", "https://k:5000/v3")
	t.Setenv("OS_APPLICATION_CREDENTIAL_ID", "id")
	t.Setenv("OS_APPLICATION_CREDENTIAL_SECRET", "s")
	t.Setenv("OS_INTERFACE", "internalURL")
	t.Setenv("OS_REGION_NAME", "RegionOne")
	c := Config{Region: "Mine", FromEnv: true}.withEnv()
	if c.AuthURL != "https://k:5000/v3" || c.ApplicationCredentialID != "id" || c.Interface != "internal" || c.Region != "Mine" {
		t.Errorf("withEnv = %+v: want the OS_* values, the configured region kept", c)
	}
	o := c.authOptions()
	if o.ApplicationCredentialSecret != "s" || o.Scope != nil || !o.AllowReauth {
		t.Errorf("authOptions = %+v", o)
	}
}
