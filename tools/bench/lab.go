package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
)

// Target is one server under test: a registry or a machine-limit server. Cases only
// see this; how it was started (binary, config, backend) stays in its maker.
type Target struct {
	Key    string       `json:"key"`             // lab key, e.g. "shadowreg", "reference", "limit"
	Name   string       `json:"name"`            // column label
	Desc   string       `json:"desc"`            // one line for the header: binary, version, config
	URL    string       `json:"url"`             // base URL, http://127.0.0.1:PORT
	Pprof  string       `json:"pprof,omitempty"` // base of net/http/pprof (…/debug/pprof), "" if none
	Client *http.Client `json:"-"`
	stop   func()
}

// maker starts a target whose data lives in dir (empty, on the bench filesystem).
type maker func(ctx context.Context, l *lab, key, dir string) (*Target, error)

// lab starts targets on first use and stops all of them at the end, so a run that
// selects only some cases starts only the servers those cases need, and a new
// backend (MinIO, an upstream registry) is one more maker.
type lab struct {
	opt    *options
	dir    string // run directory: blob, every target's data and logs
	blob   *blobFile
	makers map[string]maker
	up     map[string]*Target
	failed map[string]error // a target that failed to start is not retried per case
	order  []string
}

func newLab(opt *options, dir string, blob *blobFile) *lab {
	return &lab{opt: opt, dir: dir, blob: blob, makers: makers(), up: map[string]*Target{}, failed: map[string]error{}}
}

// get returns the running target for key, starting it if needed.
func (l *lab) get(ctx context.Context, key string) (*Target, error) {
	if t, ok := l.up[key]; ok {
		return t, nil
	}
	if err, ok := l.failed[key]; ok {
		return nil, err
	}
	mk, ok := l.makers[key]
	if !ok {
		return nil, fmt.Errorf("no target %q", key)
	}
	dir := filepath.Join(l.dir, key)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	t, err := mk(ctx, l, key, dir)
	if err != nil {
		err = fmt.Errorf("start %s: %w", key, err)
		if ctx.Err() == nil {
			l.failed[key] = err
		}
		return nil, err
	}
	t.Key = key
	l.up[key] = t
	l.order = append(l.order, key)
	logf("started %-10s %s  (%s)", t.Name, t.URL, t.Desc)
	return t, nil
}

// stopAll stops targets in reverse start order (dependencies such as an upstream
// registry or MinIO are started first, so they go last).
func (l *lab) stopAll() {
	for _, key := range slices.Backward(l.order) {
		if t := l.up[key]; t.stop != nil {
			t.stop()
		}
	}
	l.up, l.order = map[string]*Target{}, nil
}

// running lists the started targets in start order, for the report header.
func (l *lab) running() []*Target {
	var ts []*Target
	for _, k := range l.order {
		ts = append(ts, l.up[k])
	}
	return ts
}
