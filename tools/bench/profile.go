package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// profileCase records a CPU profile of t while the case keeps it busy: an extra,
// untimed round (its numbers are not reported) that repeats Run until the
// profile's window closes, so the whole profile covers load. One profile per
// case and target, written as <dir>/<case>-<target>.pprof for `go tool pprof`.
// A case with Prepare (a fresh instance per rep) is profiled over one Run: its
// Prepare comes first, untimed, and the profile ends idle after that Run.
func profileCase(ctx context.Context, l *lab, c *Case, t *Target) (string, error) {
	if err := os.MkdirAll(l.opt.profileDir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(l.opt.profileDir, fmt.Sprintf("%s-%s.pprof", c.Key, t.Name))
	sec := l.opt.profileSeconds
	if c.Prepare != nil {
		if err := c.Prepare(ctx, l, t); err != nil {
			return "", err
		}
	}
	done := make(chan error, 1)
	go func() { done <- fetchProfile(ctx, fmt.Sprintf("%s/profile?seconds=%d", t.Pprof, sec), path, sec) }()
	logf("%-9s %-11s profiling for %ds", c.Key, t.Name, sec)
	if c.Prepare != nil {
		if _, err := runTimed(ctx, l, c, t); err != nil {
			<-done
			return "", err
		}
		return path, <-done
	}
	// Bounded twice: by the profile's end and by a count, in case Run is instant.
	for range 10000 {
		select {
		case err := <-done:
			return path, err
		default:
		}
		if _, err := runTimed(ctx, l, c, t); err != nil {
			<-done
			return "", err
		}
	}
	return path, <-done
}

func fetchProfile(ctx context.Context, u, path string, sec int) error {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(sec+30)*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: &http.Transport{Proxy: nil}}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return httpError("GET "+u, resp)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
