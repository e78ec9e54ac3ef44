// Package config loads and validates shadowreg's configuration: one YAML
// file (or the embedded default) plus command-line overrides. Every problem
// is reported as one line that names the key and says what is wrong, and
// nothing here panics.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/shadowreg/shadowreg/registry/auth"
	"github.com/shadowreg/shadowreg/storage/driver/s3"
	"github.com/shadowreg/shadowreg/storage/driver/swift"
	"gopkg.in/yaml.v3"
)

// Default is the configuration shadowreg runs with when no file is given:
// loopback only (nothing is exposed by accident), data in ./shadowreg-data.
const Default = `
listen: 127.0.0.1:5000
data-dir: ./shadowreg-data
`

// Config is the whole configuration. config.example.yaml documents every
// key; keep the two in step (a test checks that the example loads and sets
// every key).
type Config struct {
	// Listen is the address the registry serves on, host:port.
	Listen string `yaml:"listen"`
	// PublicURL is how clients reach the registry (scheme://host[:port]);
	// the token realm is built from it. Empty: from each request's Host.
	PublicURL string `yaml:"public-url"`
	// DataDir is the filesystem storage root.
	DataDir string `yaml:"data-dir"`
	// Storage picks the storage driver.
	Storage Storage `yaml:"storage"`
	// TLSCert and TLSKey switch the listener to HTTPS.
	TLSCert string `yaml:"tls-cert"`
	TLSKey  string `yaml:"tls-key"`
	// Log configures the structured log on stderr.
	Log Log `yaml:"log"`
	// Limits bound what clients may send.
	Limits Limits `yaml:"limits"`
	// Auth turns authentication on; nil leaves the registry open.
	Auth *auth.Config `yaml:"auth"`
	// Upstreams maps namespaces (docker.io, quay.io, …) to the registries
	// their misses fall through to.
	Upstreams map[string]Upstream `yaml:"upstreams"`
	// Buildsets configures per-buildset areas.
	Buildsets Buildsets `yaml:"buildsets"`
	// GC configures garbage collection.
	GC GC `yaml:"gc"`
	// DebugListen serves Go's /debug/pprof profiles on a separate address
	// (keep it on loopback); empty: off.
	DebugListen string `yaml:"debug-listen"`
	// SpoolDir holds blobs being fetched from upstreams when the storage
	// cannot adopt local files (S3); default: the system's temp folder.
	SpoolDir string `yaml:"spool-dir"`
}

// Storage picks where content lives.
type Storage struct {
	// Driver is "filesystem" (under data-dir), "s3" or "swift".
	Driver string `yaml:"driver"`
	// S3 configures the s3 driver.
	S3 s3.Config `yaml:"s3"`
	// Swift configures the swift driver (OpenStack Swift).
	Swift swift.Config `yaml:"swift"`
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

// Limits bound requests.
type Limits struct {
	MaxManifestBytes int64 `yaml:"max-manifest-bytes"`
	// HeaderTimeout is how long a client may take to send a request's
	// headers.
	HeaderTimeout Duration `yaml:"header-timeout"`
	// IdleTimeout cuts a request body that sends no byte, or a response the
	// client takes no byte of, for this long; transfers that move at any
	// rate are never cut.
	IdleTimeout Duration `yaml:"idle-timeout"`
}

// Duration is a time.Duration written as "90s", "15m", "24h".
type Duration time.Duration

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("%q is not a duration (like 90s, 15m or 24h)", n.Value)
	}
	*d = Duration(v)
	return nil
}

// Load reads the configuration from file, or the embedded default when file
// is "". The result is not validated yet: apply flag overrides, then call
// Validate.
func Load(file string) (*Config, error) {
	data := []byte(Default)
	name := "default configuration"
	if file != "" {
		var err error
		if data, err = os.ReadFile(file); err != nil {
			return nil, fmt.Errorf("config: %v", err)
		}
		name = file
	}
	return Parse(name, data)
}

// Parse decodes a configuration. Unknown keys are errors: a typo must not
// silently leave a setting at its default.
func Parse(name string, data []byte) (*Config, error) {
	c := defaults()
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("config %s: %s", name, firstLine(err))
	}
	if len(root.Content) == 0 {
		return c, nil // an empty file: all defaults
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		return nil, fmt.Errorf("config %s: %s", name, explain(&root, err))
	}
	return c, nil
}

func defaults() *Config {
	return &Config{
		Listen:  "127.0.0.1:5000",
		DataDir: "./shadowreg-data",
		Storage: Storage{Driver: "filesystem"},
		Log:     Log{Level: "info", Format: "text"},
		Limits: Limits{MaxManifestBytes: 4 << 20, HeaderTimeout: Duration(30 * time.Second),
			IdleTimeout: Duration(time.Minute)},
		Buildsets: Buildsets{Prefix: "buildsets", DefaultTTL: Duration(24 * time.Hour)},
		GC: GC{Interval: Duration(time.Hour), Grace: Duration(time.Hour),
			UploadMaxAge: Duration(24 * time.Hour)},
	}
}

// Validate checks the values and returns the first problem as one line.
func (c *Config) Validate() error {
	if _, port, err := net.SplitHostPort(c.Listen); err != nil || port == "" {
		return fmt.Errorf("listen: %q is not host:port (for example 127.0.0.1:5000 or :5000)", c.Listen)
	}
	switch c.Storage.Driver {
	case "filesystem":
		if c.DataDir == "" {
			return errors.New("data-dir: must name a folder for the registry's data")
		}
	case "s3":
		if err := c.Storage.S3.Validate(); err != nil {
			return fmt.Errorf("storage.%w", err)
		}
	case "swift":
		if err := c.Storage.Swift.Validate(); err != nil {
			return fmt.Errorf("storage.%w", err)
		}
	default:
		return fmt.Errorf("storage.driver: %q is not filesystem, s3 or swift", c.Storage.Driver)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("tls-cert, tls-key: give both to serve HTTPS, or neither")
	}
	for key, f := range map[string]string{"tls-cert": c.TLSCert, "tls-key": c.TLSKey} {
		if f != "" {
			if _, err := os.Stat(f); err != nil {
				return fmt.Errorf("%s: %v", key, err)
			}
		}
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log.level: %q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return fmt.Errorf("log.format: %q is not text or json", c.Log.Format)
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return fmt.Errorf("public-url: %q is not scheme://host[:port], for example https://registry.example.com:5000", c.PublicURL)
		}
	}
	if c.Auth != nil {
		if err := c.Auth.Validate(); err != nil {
			return err
		}
	}
	if err := c.validateBuildsets(); err != nil {
		return err
	}
	if err := c.validateUpstreams(); err != nil {
		return err
	}
	if c.Limits.MaxManifestBytes < 4<<20 {
		return fmt.Errorf("limits.max-manifest-bytes: %d is below 4194304, the least the OCI spec asks a registry to accept", c.Limits.MaxManifestBytes)
	}
	if c.Limits.HeaderTimeout <= 0 || c.Limits.IdleTimeout <= 0 {
		return fmt.Errorf("limits: header-timeout and idle-timeout must be positive durations (like 30s); they bound slow clients")
	}
	return nil
}

// explain turns a yaml.v3 decode error into one line that names the key.
// yaml.v3 reports type errors with the value's line and an unknown field
// with its name and line; errors from custom decoders (durations, sizes)
// come without either, so the key is found by the value they quote.
func explain(root *yaml.Node, err error) string {
	var te *yaml.TypeError
	if !errors.As(err, &te) || len(te.Errors) == 0 {
		msg := firstLine(err)
		if m := quotedRE.FindStringSubmatch(msg); m != nil {
			if path, line := locate(root, nil, func(k, v *yaml.Node) bool {
				return v.Kind == yaml.ScalarNode && v.Value == m[1]
			}); path != nil {
				return fmt.Sprintf("line %d: %s: %s", line, dotted(path), msg)
			}
		}
		return msg
	}
	msg := te.Errors[0] // "line 3: field listn not found in type config.Config"
	var line int
	fmt.Sscanf(msg, "line %d:", &line)
	if _, rest, ok := strings.Cut(msg, "field "); ok && strings.Contains(rest, " not found in type ") {
		field, _, _ := strings.Cut(rest, " not found")
		key := field
		if path, _ := locate(root, nil, func(k, _ *yaml.Node) bool { return k.Value == field && k.Line == line }); path != nil {
			key = dotted(path)
		}
		return fmt.Sprintf("line %d: unknown key %q", line, key)
	}
	_, detail, _ := strings.Cut(msg, ": ")
	if path, _ := locate(root, nil, func(_, v *yaml.Node) bool { return v.Line == line }); path != nil {
		return fmt.Sprintf("line %d: %s: %s", line, dotted(path), detail)
	}
	return msg
}

var quotedRE = regexp.MustCompile(`"([^"]*)"`)

// locate finds the deepest mapping entry for which match holds,
// and returns its key path and the line of its value.
func locate(n *yaml.Node, path []string, match func(k, v *yaml.Node) bool) ([]string, int) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			if p, l := locate(c, path, match); p != nil {
				return p, l
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := append(append([]string{}, path...), k.Value)
			// Deepest first: in a flow mapping every key shares a line.
			if found, l := locate(v, p, match); found != nil {
				return found, l
			}
			if match(k, v) {
				return p, v.Line
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := append(append([]string{}, path...), fmt.Sprintf("[%d]", i))
			if found, l := locate(c, p, match); found != nil {
				return found, l
			}
		}
	}
	return nil, 0
}

// dotted writes a key path as auth.users[1].access.
func dotted(path []string) string {
	return strings.ReplaceAll(strings.Join(path, "."), ".[", "[")
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return strings.TrimPrefix(s, "yaml: ")
}
