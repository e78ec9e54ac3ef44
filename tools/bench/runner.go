package main

import (
	"context"
	"fmt"
	"syscall"
	"time"
)

// result is one target's samples in one case; Err stops its remaining reps (the
// other targets go on, so one broken server still leaves a useful table).
type result struct {
	Key     string
	Target  *Target // nil if it did not start
	Samples []Sample
	Err     error
}

func (r *result) name() string {
	if r.Target != nil {
		return r.Target.Name
	}
	return r.Key
}

type caseResult struct {
	Case             *Case
	Ours, Ref, Limit *result // Limit nil when the case has none
	Profiles         []string
}

// runCase sets up every target, then runs reps interleaved (A B L, A B L, ...) so
// drift on a shared machine (other tenants, page cache, thermal) spreads over all
// targets instead of landing on one.
func runCase(ctx context.Context, l *lab, c *Case) (*caseResult, error) {
	cr := &caseResult{Case: c}
	rs := []*result{{Key: c.Ours}, {Key: c.Ref}}
	if c.Limit != "" {
		rs = append(rs, &result{Key: c.Limit})
	}
	cr.Ours, cr.Ref = rs[0], rs[1]
	if c.Limit != "" {
		cr.Limit = rs[2]
	}
	for _, r := range rs {
		r.Target, r.Err = l.get(ctx, r.Key)
		if r.Err == nil && c.Setup != nil {
			if err := c.Setup(ctx, l, r.Target); err != nil {
				r.Err = fmt.Errorf("setup: %w", err)
			}
		}
		if r.Err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			logf("%-9s %-11s FAILED: %v", c.Key, r.Key, r.Err)
		}
	}
	reps := l.opt.reps
	for rep := range reps {
		// Rotate the order each rep (A B L, B L A, L A B, ...): on this machine the
		// op right after a big write pays for the host's disk backlog, and a fixed
		// order would put that cost on the same target every time.
		for i := range rs {
			r := rs[(i+rep)%len(rs)]
			if r.Err != nil {
				continue
			}
			s, err := runOnce(ctx, l, c, r.Target)
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if err != nil {
				r.Err = fmt.Errorf("rep %d: %w", rep+1, err)
				logf("%-9s %-11s rep %d/%d FAILED: %v", c.Key, r.name(), rep+1, reps, err)
				continue
			}
			r.Samples = append(r.Samples, s)
			logf("%-9s %-11s rep %d/%d  %s %s%s", c.Key, r.name(), rep+1, reps, num(s.Value), c.Unit, extrasLine(c, s))
		}
	}
	if l.opt.profileDir != "" {
		for _, r := range rs[:2] { // the registries, not the limit or baseline
			if r.Err == nil && r.Target.Pprof != "" {
				path, err := profileCase(ctx, l, c, r.Target)
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				if err != nil {
					logf("%-9s %-11s profile FAILED: %v", c.Key, r.name(), err)
					continue
				}
				cr.Profiles = append(cr.Profiles, path)
			}
		}
	}
	return cr, nil
}

// runOnce is one repetition: the case's untimed Prepare, then the timed Run.
func runOnce(ctx context.Context, l *lab, c *Case, t *Target) (Sample, error) {
	if c.Prepare != nil {
		if err := c.Prepare(ctx, l, t); err != nil {
			return Sample{}, fmt.Errorf("prepare: %w", err)
		}
	}
	return runTimed(ctx, l, c, t)
}

// runTimed is one timed Run, bounded by --op-timeout. With --sync, dirty pages
// are flushed first so the previous target's writeback (a 512 MiB blob) is not
// paid for by the next one.
func runTimed(ctx context.Context, l *lab, c *Case, t *Target) (Sample, error) {
	if l.opt.sync {
		syscall.Sync()
	}
	if l.opt.pause > 0 {
		select {
		case <-time.After(l.opt.pause):
		case <-ctx.Done():
			return Sample{}, ctx.Err()
		}
	}
	ctx, cancel := context.WithTimeout(ctx, l.opt.opTimeout)
	defer cancel()
	return c.Run(ctx, l, t)
}

func extrasLine(c *Case, s Sample) string {
	out := ""
	for _, e := range c.Extras {
		if v, ok := s.Extra[e.Key]; ok {
			out += fmt.Sprintf("  %s %s %s", e.Label, num(v), e.Unit)
		}
	}
	return out
}
