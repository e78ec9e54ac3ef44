package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shadowreg/shadowreg/registry/upstream"
	"gopkg.in/yaml.v3"
)

// oneLine fails the test unless err is one line that starts with prefix
// and mentions every one of words.
func oneLine(t *testing.T, what string, err error, prefix string, words ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error", what)
		return
	}
	msg := err.Error()
	if strings.ContainsAny(msg, "\n\r") {
		t.Errorf("%s: error is not one line: %q", what, msg)
	}
	if !strings.HasPrefix(msg, prefix) {
		t.Errorf("%s: error %q does not start with %q", what, msg, prefix)
	}
	for _, w := range words {
		if !strings.Contains(msg, w) {
			t.Errorf("%s: error %q does not mention %q", what, msg, w)
		}
	}
}

func TestParseEmpty(t *testing.T) {
	t.Parallel()
	for _, data := range []string{"", "\n", "   \n\n", "# only a comment\n", "---\n", "---\n# comment\n"} {
		c, err := Parse("test.yaml", []byte(data))
		if err != nil {
			t.Errorf("Parse(%q): %v", data, err)
			continue
		}
		if !reflect.DeepEqual(c, defaults()) {
			t.Errorf("Parse(%q) = %+v, want the defaults %+v", data, c, defaults())
		}
		if err := c.Validate(); err != nil {
			t.Errorf("the defaults do not validate: %v", err)
		}
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("the default configuration does not validate: %v", err)
	}
	if c.Listen != "127.0.0.1:5000" || c.DataDir != "./shadowreg-data" || c.Log.Level != "info" || c.Log.Format != "text" ||
		c.Limits.MaxManifestBytes != 4<<20 || c.TLSCert != "" || c.Auth != nil || len(c.Upstreams) != 0 {
		t.Errorf("Load(\"\") = %+v", c)
	}
}

// Every key, set to something other than its default.
func TestParseEveryKey(t *testing.T) {
	t.Parallel()
	c, err := Parse("all.yaml", []byte(`
listen: 0.0.0.0:6000
public-url: https://registry.example.com:6000
data-dir: /var/lib/shadowreg
tls-cert: /etc/shadowreg/cert.pem
tls-key: /etc/shadowreg/key.pem
spool-dir: /var/tmp/spool
log:
  level: debug
  format: json
limits:
  max-manifest-bytes: 8388608
upstreams:
  docker.io:
    url: https://registry-1.docker.io
    username: bot
    password: secret
    ca-file: /etc/ca.pem
    insecure: true
    timeout: 45s
    cache: false
    tag-ttl: 10m
    on-miss: not-found
  quay.io:
    url: https://quay.io
`))
	if err != nil {
		t.Fatal(err)
	}
	no := false
	ttl := Duration(10 * time.Minute)
	want := defaults()
	want.Listen = "0.0.0.0:6000"
	want.PublicURL = "https://registry.example.com:6000"
	want.DataDir = "/var/lib/shadowreg"
	want.TLSCert, want.TLSKey = "/etc/shadowreg/cert.pem", "/etc/shadowreg/key.pem"
	want.SpoolDir = "/var/tmp/spool"
	want.Log = Log{Level: "debug", Format: "json"}
	want.Limits.MaxManifestBytes = 8 << 20
	want.Upstreams = map[string]Upstream{
		"docker.io": {Config: upstream.Config{URL: "https://registry-1.docker.io", Username: "bot", Password: "secret",
			CAFile: "/etc/ca.pem", Insecure: true, Timeout: upstream.Duration(45 * time.Second)},
			Cache: &no, TagTTL: &ttl, OnMiss: "not-found"},
		"quay.io": {Config: upstream.Config{URL: "https://quay.io"}},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Parse =\n%+v\nwant\n%+v", c, want)
	}
	d := c.Upstreams["docker.io"]
	if d.Caching() || d.Fetching() || d.TagTTLOrDefault() != 10*time.Minute {
		t.Errorf("docker.io: Caching %v, Fetching %v, TagTTL %v", d.Caching(), d.Fetching(), d.TagTTLOrDefault())
	}
	q := c.Upstreams["quay.io"]
	if !q.Caching() || !q.Fetching() || q.TagTTLOrDefault() != 5*time.Minute {
		t.Errorf("quay.io defaults: Caching %v, Fetching %v, TagTTL %v", q.Caching(), q.Fetching(), q.TagTTLOrDefault())
	}
}

// Decoding errors are one line that names the key, with its path.
func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, yaml string
		words      []string // the error must mention each
	}{
		{"unknown top-level key", "listn: :5000\n", []string{"line 1", "listn"}},
		{"unknown nested key", "log:\n  levle: debug\n", []string{"line 2", "log.levle"}},
		{"unknown key after others", "listen: :5000\nlog:\n  level: debug\n  formt: json\n", []string{"line 4", "log.formt"}},
		{"unknown key in an upstream", "upstreams:\n  quay.io:\n    url: https://quay.io\n    urll: x\n", []string{"line 4", "upstreams.quay.io.urll"}},
		{"unknown key in a flow mapping", "log: {levle: debug}\n", []string{"log.levle"}},
		{"wrong type: string for a number", "limits:\n  max-manifest-bytes: lots\n", []string{"line 2", "limits.max-manifest-bytes"}},
		{"wrong type: number too large", "limits:\n  max-manifest-bytes: 99999999999999999999\n", []string{"limits.max-manifest-bytes"}},
		{"wrong type: scalar for a mapping", "log: debug\n", []string{"line 1", "log"}},
		{"wrong type: sequence for a string", "listen: [a, b]\n", []string{"listen"}},
		{"wrong type: mapping for a string", "data-dir:\n  a: b\n", []string{"data-dir"}},
		{"wrong type: not a bool", "upstreams:\n  quay.io:\n    url: https://quay.io\n    insecure: maybe\n", []string{"line 4", "upstreams.quay.io.insecure"}},
		{"wrong type: upstreams a list", "upstreams:\n  - quay.io\n", []string{"upstreams"}},
		{"wrong type: value on its own line", "limits:\n  max-manifest-bytes:\n    lots\n", []string{"limits.max-manifest-bytes"}},
		{"wrong type in a flow mapping", "limits: {max-manifest-bytes: lots}\n", []string{"limits.max-manifest-bytes"}},
		{"bad duration", "upstreams:\n  quay.io:\n    url: https://quay.io\n    tag-ttl: soon\n", []string{"upstreams.quay.io.tag-ttl", "soon"}},
		{"bad upstream timeout", "upstreams:\n  quay.io:\n    url: https://quay.io\n    timeout: soon\n", []string{"upstreams.quay.io.timeout", "soon"}},
		{"a document that is not a mapping", "just a string\n", []string{"line 1"}},
		{"syntax error", "listen: :5000\n  bad indent: x\n", []string{"line 2"}},
		{"tabs", "log:\n\tlevel: debug\n", []string{"line 2"}},
		{"duplicate key", "listen: :5000\nlisten: :6000\n", []string{"listen"}},
	}
	for _, tt := range tests {
		_, err := Parse("my.yaml", []byte(tt.yaml))
		oneLine(t, tt.name, err, "config my.yaml: ", tt.words...)
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "shadowreg.yaml")
	if err := os.WriteFile(file, []byte("listen: :7000\nlog:\n  level: warn\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(file)
	if err != nil || c.Listen != ":7000" || c.Log.Level != "warn" || c.DataDir != "./shadowreg-data" {
		t.Errorf("Load(%s) = %+v, %v", file, c, err)
	}
	missing := filepath.Join(dir, "missing.yaml")
	_, err = Load(missing)
	oneLine(t, "missing file", err, "config: ", missing)
	if err := os.WriteFile(file, []byte("listen: :7000\nbogus: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Load(file)
	oneLine(t, "bad file", err, "config "+file+": ", "bogus", "line 2")
}

// Validate's errors name the key whose value is wrong.
func TestValidate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cert := filepath.Join(dir, "cert.pem")
	key := filepath.Join(dir, "key.pem")
	os.WriteFile(cert, []byte("cert"), 0o644)
	os.WriteFile(key, []byte("key"), 0o600)
	up := func(url string) map[string]Upstream {
		return map[string]Upstream{"quay.io": {Config: upstream.Config{URL: url}}}
	}
	neg := Duration(-time.Minute)

	tests := []struct {
		name  string
		edit  func(c *Config)
		words []string // nil: valid
	}{
		{"defaults", func(c *Config) {}, nil},
		{"listen :5000", func(c *Config) { c.Listen = ":5000" }, nil},
		{"listen [::1]:5000", func(c *Config) { c.Listen = "[::1]:5000" }, nil},
		{"tls", func(c *Config) { c.TLSCert, c.TLSKey = cert, key }, nil},
		{"public-url", func(c *Config) { c.PublicURL = "https://r.example.com:5000" }, nil},
		{"public-url with slash", func(c *Config) { c.PublicURL = "http://r.example.com/" }, nil},
		{"upstream", func(c *Config) { c.Upstreams = up("https://quay.io") }, nil},
		{"not-found upstream without url", func(c *Config) {
			c.Upstreams = map[string]Upstream{"quay.io": {OnMiss: "not-found"}}
		}, nil},
		{"bigger manifests", func(c *Config) { c.Limits.MaxManifestBytes = 16 << 20 }, nil},

		{"listen without port", func(c *Config) { c.Listen = "127.0.0.1" }, []string{"listen", "127.0.0.1"}},
		{"listen with empty port", func(c *Config) { c.Listen = "127.0.0.1:" }, []string{"listen"}},
		{"listen empty", func(c *Config) { c.Listen = "" }, []string{"listen"}},
		{"data-dir empty", func(c *Config) { c.DataDir = "" }, []string{"data-dir"}},
		{"storage.driver", func(c *Config) { c.Storage.Driver = "tape" }, []string{"storage.driver", "tape"}},
		{"storage s3 without endpoint", func(c *Config) { c.Storage.Driver = "s3" }, []string{"storage.s3.endpoint"}},
		{"storage s3 without bucket", func(c *Config) {
			c.Storage.Driver, c.Storage.S3.Endpoint = "s3", "http://127.0.0.1:9000"
		}, []string{"storage.s3.bucket"}},
		{"storage s3", func(c *Config) {
			c.Storage.Driver, c.Storage.S3.Endpoint, c.Storage.S3.Bucket = "s3", "http://127.0.0.1:9000", "shadowreg"
		}, nil},
		{"tls-cert alone", func(c *Config) { c.TLSCert = cert }, []string{"tls-cert", "tls-key"}},
		{"tls-key alone", func(c *Config) { c.TLSKey = key }, []string{"tls-cert", "tls-key"}},
		{"tls-cert missing", func(c *Config) { c.TLSCert, c.TLSKey = filepath.Join(dir, "nope.pem"), key }, []string{"tls-cert", "nope.pem"}},
		{"tls-key missing", func(c *Config) { c.TLSCert, c.TLSKey = cert, filepath.Join(dir, "nokey.pem") }, []string{"tls-key", "nokey.pem"}},
		{"log.level", func(c *Config) { c.Log.Level = "verbose" }, []string{"log.level", "verbose"}},
		{"log.level empty", func(c *Config) { c.Log.Level = "" }, []string{"log.level"}},
		{"log.format", func(c *Config) { c.Log.Format = "xml" }, []string{"log.format", "xml"}},
		{"public-url without scheme", func(c *Config) { c.PublicURL = "registry.example.com" }, []string{"public-url"}},
		{"public-url ftp", func(c *Config) { c.PublicURL = "ftp://r.example.com" }, []string{"public-url"}},
		{"public-url with a path", func(c *Config) { c.PublicURL = "https://r.example.com/v2/" }, []string{"public-url"}},
		{"max-manifest-bytes small", func(c *Config) { c.Limits.MaxManifestBytes = 1024 }, []string{"limits.max-manifest-bytes", "1024"}},
		{"max-manifest-bytes zero", func(c *Config) { c.Limits.MaxManifestBytes = 0 }, []string{"limits.max-manifest-bytes"}},
		{"upstream namespace not a host", func(c *Config) {
			c.Upstreams = map[string]Upstream{"myorg": {Config: upstream.Config{URL: "https://quay.io"}}}
		}, []string{"upstreams.myorg"}},
		{"upstream namespace with a path", func(c *Config) {
			c.Upstreams = map[string]Upstream{"quay.io/org": {Config: upstream.Config{URL: "https://quay.io"}}}
		}, []string{"upstreams.quay.io/org"}},
		{"upstream namespace ..", func(c *Config) {
			c.Upstreams = map[string]Upstream{"..": {Config: upstream.Config{URL: "https://quay.io"}}}
		}, []string{"upstreams..."}},
		{"upstream url missing", func(c *Config) { c.Upstreams = up("") }, []string{"upstreams.quay.io.url"}},
		{"upstream url with a path", func(c *Config) { c.Upstreams = up("https://quay.io/v2/") }, []string{"upstreams.quay.io.url"}},
		{"upstream url not http", func(c *Config) { c.Upstreams = up("quay.io") }, []string{"upstreams.quay.io.url"}},
		{"upstream url with credentials", func(c *Config) { c.Upstreams = up("https://u:p@quay.io") }, []string{"upstreams.quay.io.url"}},
		{"upstream username without password", func(c *Config) {
			c.Upstreams = map[string]Upstream{"quay.io": {Config: upstream.Config{URL: "https://quay.io", Username: "u"}}}
		}, []string{"upstreams.quay.io.password"}},
		{"upstream on-miss", func(c *Config) {
			c.Upstreams = map[string]Upstream{"quay.io": {Config: upstream.Config{URL: "https://quay.io"}, OnMiss: "ignore"}}
		}, []string{"upstreams.quay.io.on-miss", "ignore"}},
		{"upstream tag-ttl negative", func(c *Config) {
			c.Upstreams = map[string]Upstream{"quay.io": {Config: upstream.Config{URL: "https://quay.io"}, TagTTL: &neg}}
		}, []string{"upstreams.quay.io.tag-ttl"}},
		{"upstream timeout negative", func(c *Config) {
			c.Upstreams = map[string]Upstream{"quay.io": {Config: upstream.Config{URL: "https://quay.io", Timeout: upstream.Duration(-time.Second)}}}
		}, []string{"upstreams.quay.io.timeout"}},
		{"two names for Docker Hub", func(c *Config) {
			c.Upstreams = map[string]Upstream{
				"docker.io":       {Config: upstream.Config{URL: "https://registry-1.docker.io"}},
				"index.docker.io": {Config: upstream.Config{URL: "https://registry-1.docker.io"}},
			}
		}, []string{"upstreams.", "docker.io", "same namespace"}},
		{"a namespace in two cases", func(c *Config) {
			c.Upstreams = map[string]Upstream{
				"quay.io": {Config: upstream.Config{URL: "https://quay.io"}},
				"Quay.IO": {Config: upstream.Config{URL: "https://quay.io"}},
			}
		}, []string{"upstreams.", "same namespace"}},
	}
	for _, tt := range tests {
		c := defaults()
		// Each case checks one rule; whether the defaults validate as they
		// are is TestDefaults' question.
		c.Storage.Driver = "filesystem"
		tt.edit(c)
		err := c.Validate()
		if tt.words == nil {
			if err != nil {
				t.Errorf("%s: Validate() = %v, want nil", tt.name, err)
			}
			continue
		}
		oneLine(t, tt.name, err, tt.words[0], tt.words[1:]...)
	}
}

func TestNormalizeNamespace(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"docker.io": "docker.io", "index.docker.io": "docker.io", "registry-1.docker.io": "docker.io",
		"Docker.IO": "docker.io", "quay.io": "quay.io", "Quay.IO": "quay.io", "localhost:5000": "localhost:5000",
	} {
		if got := NormalizeNamespace(in); got != want {
			t.Errorf("NormalizeNamespace(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSetUpstream(t *testing.T) {
	t.Parallel()
	c := defaults()
	if err := c.SetUpstream("quay.io=https://quay.io"); err != nil {
		t.Fatal(err)
	}
	if err := c.SetUpstream("docker.io=https://mirror.example.com"); err != nil {
		t.Fatal(err)
	}
	if c.Upstreams["quay.io"].URL != "https://quay.io" || c.Upstreams["docker.io"].URL != "https://mirror.example.com" {
		t.Errorf("Upstreams = %+v", c.Upstreams)
	}
	// A flag overrides the file's url and keeps its other settings.
	c, err := Parse("f", []byte("upstreams:\n  quay.io:\n    url: https://old.example.com\n    on-miss: not-found\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetUpstream("quay.io=https://new.example.com"); err != nil {
		t.Fatal(err)
	}
	if u := c.Upstreams["quay.io"]; u.URL != "https://new.example.com" || u.OnMiss != "not-found" {
		t.Errorf("after --upstream: %+v", u)
	}
	for _, flag := range []string{"", "quay.io", "quay.io=", "=https://quay.io"} {
		oneLine(t, "--upstream "+flag, c.SetUpstream(flag), "--upstream", "NAMESPACE=URL")
	}
}

func TestDuration(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"90s", 90 * time.Second, true}, {"15m", 15 * time.Minute, true}, {"24h", 24 * time.Hour, true},
		{"1h30m", 90 * time.Minute, true}, {"0s", 0, true},
		{"soon", 0, false}, {"10", 0, false}, {"-", 0, false},
	} {
		var v struct {
			D Duration `yaml:"d"`
		}
		err := yaml.Unmarshal([]byte("d: "+tt.in+"\n"), &v)
		if (err == nil) != tt.ok || (tt.ok && time.Duration(v.D) != tt.want) {
			t.Errorf("Duration %q = %v, %v; want %v, ok %v", tt.in, time.Duration(v.D), err, tt.want, tt.ok)
		}
	}
}

func TestParseBytes(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"1024", 1024, true}, {"500MB", 500_000_000, true}, {"10GiB", 10 << 30, true},
		{"1.5KiB", 1536, true}, {" 2 TB ", 2_000_000_000_000, true}, {"7B", 7, true}, {"3KB", 3000, true},
		{"", 0, false}, {"lots", 0, false}, {"-1", 0, false}, {"-1GB", 0, false}, {"5mb", 0, false},
		// Not sizes, though ParseFloat reads them.
		{"NaN", 0, false}, {"Inf", 0, false}, {"+Inf", 0, false}, {"1e30", 0, false}, {"1e19B", 0, false},
	} {
		got, err := ParseBytes(tt.in)
		if (err == nil) != tt.ok || (tt.ok && got != tt.want) {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
		if err == nil && got < 0 {
			t.Errorf("ParseBytes(%q) = %d: a negative size", tt.in, got)
		}
	}
}
