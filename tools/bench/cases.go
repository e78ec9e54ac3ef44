package main

import (
	"context"
	"fmt"
	"time"
)

// Case is one measurement, run on the ours/ref (and optional limit) targets
// interleaved: rep 1 on each, rep 2 on each, ... A new case is one more value
// from a constructor below plus its entry in allCases.
type Case struct {
	Key   string // --cases name
	Name  string // row label
	Unit  string
	Goal  Goal
	Ours  string // target keys (see makers)
	Ref   string
	Limit string // "" when the case has no machine limit
	// Lower: lower values are better (times); otherwise higher (throughput).
	Lower bool
	// Base, when set, labels the Limit column: the target there is a baseline
	// (e.g. "direct": the same pull without a cache), not a machine limit, and
	// the table shows ours/base and ref/base as ratios.
	Base string
	// Blob: the case uses the bench blob (the run writes it only if some case does).
	Blob bool
	// Setup prepares a target once, untimed (e.g. pushes what a pull needs).
	Setup func(ctx context.Context, l *lab, t *Target) error
	// Prepare runs before every timed repetition, untimed (e.g. a fresh instance).
	Prepare func(ctx context.Context, l *lab, t *Target) error
	// Run is one timed repetition.
	Run func(ctx context.Context, l *lab, t *Target) (Sample, error)
	// Extras are secondary numbers a Run reports in Sample.Extra, shown as sub-rows.
	Extras []Extra
}

// Sample is one repetition's result: the headline value and named extras.
type Sample struct {
	Value float64
	Extra map[string]float64
}

// Extra describes one secondary metric. Sum: add over reps (counts) instead of
// taking the median (rates, latencies). NoRatio: no ours/ref (counts that may be 0).
type Extra struct {
	Key, Label, Unit string
	Sum, NoRatio     bool
}

// Goal is the target printed next to the numbers; at most one is set.
type Goal struct {
	VsLimit    float64 // ours >= VsLimit × machine limit
	VsRef      float64 // ours >= VsRef × reference
	MaxVsLimit float64 // ours <= MaxVsLimit × the Limit column (a time vs its baseline)
}

func (c *Case) goalText() string {
	g := c.Goal
	switch {
	case g.VsLimit > 0 && c.Base != "":
		return fmt.Sprintf(">= %.2fx %s", g.VsLimit, c.Base)
	case g.VsLimit > 0:
		return fmt.Sprintf(">= %.0f%% of limit", 100*g.VsLimit)
	case g.VsRef > 0:
		return fmt.Sprintf(">= %.1fx reference", g.VsRef)
	case g.MaxVsLimit > 0:
		base := c.Base
		if base == "" {
			base = "limit"
		}
		return fmt.Sprintf("<= %.2fx %s", g.MaxVsLimit, base)
	}
	return ""
}

// allCases lists the cases in run order. Groups usable in --cases: "all",
// "fs" (push, pull, manifest, auth), "pt" (pull-through), "s3".
func allCases(o *options) []*Case {
	cold, warm := pullThroughCases(o)
	return []*Case{pushCase(o, ""), pullCase(o, ""), manifestCase(o), authCase(o), cold, warm, pushCase(o, "s3"), pullCase(o, "s3"),
		pushCase(o, "swift"), pullCase(o, "swift")}
}

var caseGroups = map[string][]string{
	"all": {"push", "pull", "manifest", "auth", "pt-cold", "pt-warm", "s3-push", "s3-pull", "swift-push", "swift-pull"},
	"fs":  {"push", "pull", "manifest", "auth"},
	"pt":  {"pt-cold", "pt-warm"},
	"s3":  {"s3-push", "s3-pull"},
	// shadowreg on Swift against shadowreg on S3 (MinIO), same machine
	"swift": {"swift-push", "swift-pull"},
}

const blobRepo = "bench/blob"

func mbps(size int64, d time.Duration) float64 { return float64(size) / 1e6 / d.Seconds() }

// pushCase and pullCase are the blob cases on filesystem storage (variant "",
// next to the machine limit) or on S3 (variant "s3": MinIO behind both registries,
// no limit column).
func pushCase(o *options, variant string) *Case {
	mode := "chunked, no Content-Length"
	if !o.chunked {
		mode = "Content-Length"
	}
	c := &Case{
		Key: "push", Name: "blob push (" + mode + ")", Unit: "MB/s", Blob: true,
		Goal: Goal{VsLimit: 0.90},
		Ours: o.oursKey(""), Ref: "reference", Limit: "limit",
		Run: func(ctx context.Context, l *lab, t *Target) (Sample, error) {
			d, err := pushBlob(ctx, t.Client, t.URL, blobRepo, l.blob, o.chunked)
			return Sample{Value: mbps(l.blob.Size, d)}, err
		},
	}
	if variant == "s3" {
		c.Key, c.Name, c.Goal = "s3-push", "S3: "+c.Name, Goal{}
		c.Ours, c.Ref, c.Limit = o.oursKey("s3"), "reference-s3", ""
	}
	if variant == "swift" {
		c.Key, c.Name, c.Goal = "swift-push", "Swift vs S3: "+c.Name, Goal{}
		c.Ours, c.Ref, c.Limit = "shadowreg-swift", "shadowreg-s3", ""
	}
	return c
}

func pullCase(o *options, variant string) *Case {
	c := &Case{
		Key: "pull", Name: "blob pull", Unit: "MB/s", Blob: true,
		Goal: Goal{VsLimit: 0.95},
		Ours: o.oursKey(""), Ref: "reference", Limit: "limit",
		// Push the blob untimed unless the push case already did, so pull runs alone too.
		Setup: func(ctx context.Context, l *lab, t *Target) error {
			ok, err := blobExists(ctx, t.Client, t.URL, blobRepo, l.blob.Digest)
			if err != nil || ok {
				return err
			}
			_, err = pushBlob(ctx, t.Client, t.URL, blobRepo, l.blob, o.chunked)
			return err
		},
		Run: func(ctx context.Context, l *lab, t *Target) (Sample, error) {
			d, err := pullBlob(ctx, t.Client, t.URL, blobRepo, l.blob, o.verify, make([]byte, 1<<20))
			return Sample{Value: mbps(l.blob.Size, d)}, err
		},
	}
	if variant == "s3" {
		c.Key, c.Name, c.Goal = "s3-pull", "S3: blob pull", Goal{}
		if o.s3Redirect {
			c.Name += " (307 to MinIO)"
		}
		c.Ours, c.Ref, c.Limit = o.oursKey("s3"), "reference-s3", ""
	}
	if variant == "swift" {
		c.Key, c.Name, c.Goal = "swift-pull", "Swift vs S3: blob pull", Goal{}
		c.Ours, c.Ref, c.Limit = "shadowreg-swift", "shadowreg-s3", ""
	}
	return c
}
