package config

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/shadowreg/shadowreg/internal/ref"
	"github.com/shadowreg/shadowreg/registry/upstream"
)

// Upstream is one namespace's upstream registry.
type Upstream struct {
	upstream.Config `yaml:",inline"`
	// Cache keeps fetched content; default on.
	Cache *bool `yaml:"cache"`
	// OnMiss is what a miss does: "fetch" from the upstream (default), or
	// "not-found", a 404 that makes clients fall back along their own
	// mirror list, for operators who do not want the registry to reach out.
	OnMiss string `yaml:"on-miss"`
	// TagTTL is how long a cached tag is served before it is revalidated
	// against the upstream; default 5m.
	TagTTL *Duration `yaml:"tag-ttl"`
}

// Caching reports whether the upstream's content is cached.
func (u Upstream) Caching() bool { return u.Cache == nil || *u.Cache }

// Fetching reports whether misses go to the upstream.
func (u Upstream) Fetching() bool { return u.OnMiss == "" || u.OnMiss == "fetch" }

// TagTTLOrDefault is the tag TTL, defaulted.
func (u Upstream) TagTTLOrDefault() time.Duration {
	if u.TagTTL == nil {
		return 5 * time.Minute
	}
	return time.Duration(*u.TagTTL)
}

// NormalizeNamespace maps a configured namespace to the name shadowreg
// files it under (ref.Namespace: lower case, Docker Hub's aliases to
// docker.io); validateUpstreams has checked it.
func NormalizeNamespace(ns string) string {
	n, ok := ref.Namespace(ns)
	if !ok {
		return strings.ToLower(ns)
	}
	return n
}

func (c *Config) validateUpstreams() error {
	seen := map[string]string{}
	for _, ns := range slices.Sorted(maps.Keys(c.Upstreams)) {
		u := c.Upstreams[ns]
		key := "upstreams." + ns
		if _, ok := ref.Namespace(ns); !ok {
			return fmt.Errorf("%s: %q is not a registry host name (like docker.io, quay.io or localhost:5000)", key, ns)
		}
		norm := NormalizeNamespace(ns)
		if other, dup := seen[norm]; dup {
			return fmt.Errorf("%s: configures the same namespace as upstreams.%s", key, other)
		}
		seen[norm] = ns
		switch u.OnMiss {
		case "", "fetch":
			if err := u.Config.Validate(key); err != nil {
				return err
			}
		case "not-found":
			if u.URL != "" {
				if err := u.Config.Validate(key); err != nil {
					return err
				}
			}
		default:
			return fmt.Errorf("%s.on-miss: %q is not fetch or not-found", key, u.OnMiss)
		}
		if u.TagTTL != nil && *u.TagTTL < 0 {
			return fmt.Errorf("%s.tag-ttl: must not be negative", key)
		}
	}
	return nil
}

// SetUpstream applies a --upstream NAMESPACE=URL flag.
func (c *Config) SetUpstream(flag string) error {
	ns, url, ok := strings.Cut(flag, "=")
	if !ok || ns == "" || url == "" {
		return fmt.Errorf("--upstream %q: write NAMESPACE=URL, for example docker.io=https://registry-1.docker.io", flag)
	}
	if c.Upstreams == nil {
		c.Upstreams = map[string]Upstream{}
	}
	u := c.Upstreams[ns]
	u.URL = url
	c.Upstreams[ns] = u
	return nil
}
