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
	Log    string       `json:"-"` // the process's stdout+stderr, "" if none
	// Info carries facts a dependent maker needs (MinIO's endpoint and keys).
	Info map[string]string `json:"-"`
	dir  string            // the folder its maker got
	stop func()
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
	starts map[string]int // how often each key was started (fresh instances get new folders)
	image  *image         // the pull-through image, set by the upstream's maker
}

func newLab(opt *options, dir string, blob *blobFile) *lab {
	return &lab{opt: opt, dir: dir, blob: blob, makers: makers(), up: map[string]*Target{},
		failed: map[string]error{}, starts: map[string]int{}}
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
	t.Key, t.dir = key, dir
	l.up[key] = t
	l.order = append(l.order, key)
	l.starts[key] = 1
	logf("started %-12s %s  (%s)", key, t.URL, t.Desc)
	return t, nil
}

// fresh replaces t's process with a new one on empty storage (a new folder; the
// old one's data is deleted unless --keep, its log stays). t is updated in place,
// so the case and the lab keep holding the same *Target. Only for targets whose
// data lives in their folder (not S3).
func (l *lab) fresh(ctx context.Context, t *Target) error {
	if t.stop != nil {
		t.stop()
		t.stop = nil
	}
	if !l.opt.keep && t.dir != "" {
		if err := os.RemoveAll(filepath.Join(t.dir, "data")); err != nil {
			return err
		}
	}
	l.starts[t.Key]++
	dir := filepath.Join(l.dir, fmt.Sprintf("%s.%d", t.Key, l.starts[t.Key]))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	nt, err := l.makers[t.Key](ctx, l, t.Key, dir)
	if err != nil {
		return fmt.Errorf("restart %s: %w", t.Key, err)
	}
	nt.Key, nt.dir = t.Key, dir
	*t = *nt
	logf("restarted %-10s %s on empty storage in %s", t.Key, t.URL, dir)
	return nil
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
