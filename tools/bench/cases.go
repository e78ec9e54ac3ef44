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
	// Setup prepares a target once, untimed (e.g. pushes what a pull needs).
	Setup func(ctx context.Context, l *lab, t *Target) error
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
// taking the median (rates, latencies).
type Extra struct {
	Key, Label, Unit string
	Sum              bool
}

// Goal is the target printed next to the numbers; one of the two is set.
// Every case so far is higher-is-better.
type Goal struct {
	VsLimit float64 // ours >= VsLimit × machine limit
	VsRef   float64 // ours >= VsRef × reference
}

func (g Goal) String() string {
	switch {
	case g.VsLimit > 0:
		return fmt.Sprintf(">= %.0f%% of limit", 100*g.VsLimit)
	case g.VsRef > 0:
		return fmt.Sprintf(">= %.1fx reference", g.VsRef)
	}
	return ""
}

// allCases lists the cases in run order.
func allCases(o *options) []*Case {
	return []*Case{pushCase(o), pullCase(o), manifestCase(o)}
}

const blobRepo = "bench/blob"

func mbps(size int64, d time.Duration) float64 { return float64(size) / 1e6 / d.Seconds() }

func pushCase(o *options) *Case {
	mode := "chunked, no Content-Length"
	if !o.chunked {
		mode = "Content-Length"
	}
	return &Case{
		Key: "push", Name: "blob push (" + mode + ")", Unit: "MB/s",
		Goal: Goal{VsLimit: 0.90},
		Ours: o.oursKey(), Ref: "reference", Limit: "limit",
		Run: func(ctx context.Context, l *lab, t *Target) (Sample, error) {
			d, err := pushBlob(ctx, t.Client, t.URL, blobRepo, l.blob, o.chunked)
			return Sample{Value: mbps(l.blob.Size, d)}, err
		},
	}
}

func pullCase(o *options) *Case {
	return &Case{
		Key: "pull", Name: "blob pull", Unit: "MB/s",
		Goal: Goal{VsLimit: 0.95},
		Ours: o.oursKey(), Ref: "reference", Limit: "limit",
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
}
