package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Buildsets configures buildsets.
type Buildsets struct {
	// Prefix is the first name component that addresses a buildset:
	// buildsets/<id>/library/alpine.
	Prefix string `yaml:"prefix"`
	// Implicit creates a buildset on the first push into it.
	Implicit bool `yaml:"implicit"`
	// DefaultTTL is the time to live of buildsets created without one.
	DefaultTTL Duration `yaml:"default-ttl"`
}

// GC configures garbage collection.
type GC struct {
	// Interval between collections in the server; 0 turns the schedule
	// off (run `shadowreg prune` instead).
	Interval Duration `yaml:"interval"`
	// Grace keeps content this young even when nothing refers to it yet.
	Grace Duration `yaml:"grace"`
	// UploadMaxAge deletes upload sessions idle for longer.
	UploadMaxAge Duration `yaml:"upload-max-age"`
	// CacheMaxAge evicts upstream content unused for longer; 0: no limit.
	CacheMaxAge Duration `yaml:"cache-max-age"`
	// CacheMaxBytes evicts the least recently used upstream content past
	// this size; 0: no limit.
	CacheMaxBytes Bytes `yaml:"cache-max-bytes"`
	// ClaimRetention (S3, replicas) keeps the claims that references write
	// for the collectors of other replicas; 0: grace, at least 10m.
	ClaimRetention Duration `yaml:"claim-retention"`
}

// Bytes is a size written as a number of bytes or with a unit: 500MB, 10GiB.
type Bytes int64

var byteUnits = []struct {
	suffix string
	mult   int64
}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1}}

// ParseBytes reads a size like 500MB, 10GiB or 1024.
func ParseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range byteUnits {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(num), u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(s, 64)
	v := n * float64(mult)
	if err != nil || n < 0 || math.IsNaN(v) || math.IsInf(v, 0) || v >= math.MaxInt64 {
		return 0, fmt.Errorf("%q is not a size (like 500MB, 10GiB or a number of bytes)", s)
	}
	return int64(v), nil
}

// UnmarshalYAML reads a size.
func (b *Bytes) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseBytes(n.Value)
	if err != nil {
		return err
	}
	*b = Bytes(v)
	return nil
}

func (c *Config) validateBuildsets() error {
	if p := c.Buildsets.Prefix; p == "" || strings.ContainsAny(p, "/:. ") || strings.ToLower(p) != p {
		return fmt.Errorf("buildsets.prefix: %q must be one lower-case name component, like buildsets", p)
	}
	if c.Buildsets.DefaultTTL <= 0 {
		return fmt.Errorf("buildsets.default-ttl: must be positive")
	}
	for key, d := range map[string]Duration{"gc.interval": c.GC.Interval, "gc.grace": c.GC.Grace,
		"gc.upload-max-age": c.GC.UploadMaxAge, "gc.cache-max-age": c.GC.CacheMaxAge,
		"gc.claim-retention": c.GC.ClaimRetention} {
		if d < 0 {
			return fmt.Errorf("%s: must not be negative", key)
		}
	}
	if c.GC.Grace <= 0 {
		return fmt.Errorf("gc.grace: must be positive (the default 1h protects uploads between their blobs and their manifest)")
	}
	return nil
}
