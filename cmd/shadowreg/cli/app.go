package cli

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/shadowreg/shadowreg/internal/ref"
	"github.com/shadowreg/shadowreg/registry"
	"github.com/shadowreg/shadowreg/registry/auth"
	"github.com/shadowreg/shadowreg/registry/buildset"
	"github.com/shadowreg/shadowreg/registry/config"
	"github.com/shadowreg/shadowreg/registry/shadow"
	"github.com/shadowreg/shadowreg/registry/upstream"
	"github.com/shadowreg/shadowreg/storage"
	"github.com/shadowreg/shadowreg/storage/driver"
	"github.com/shadowreg/shadowreg/storage/driver/filesystem"
	"github.com/shadowreg/shadowreg/storage/driver/s3"
	"github.com/shadowreg/shadowreg/storage/driver/swift"
)

// app is a shadowreg assembled from its configuration: the one place where
// the packages are wired together (cmd → registry → auth, buildsets,
// upstreams → storage).
type app struct {
	cfg        *config.Config
	log        *slog.Logger
	store      *storage.Store
	buildsets  *buildset.Manager
	namespaces map[string]*shadow.Namespace
	collect    storage.CollectOptions
	metrics    *prometheus.Registry
	m          *appMetrics
}

func newApp(ctx context.Context, c *config.Config, log *slog.Logger) (*app, error) {
	a := &app{cfg: c, log: log, metrics: prometheus.NewRegistry()}
	a.metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a.m = newAppMetrics(a.metrics)
	drv, err := newDriver(ctx, c)
	if err != nil {
		return nil, err
	}
	// The store asks the buildsets for quotas; the buildsets are built on the
	// store: the closure ties the knot.
	// Object storage is there to be shared by replicas: coordinate garbage
	// collection with them through the bucket or container.
	a.store = storage.New(drv, storage.Options{Logger: log, Shared: c.Storage.Driver != "filesystem", GCPause: a.m.gcPaused,
		Quota: func(ctx context.Context, area string) (int64, error) {
			return a.buildsets.Quota(ctx, area)
		}})
	a.buildsets = buildset.NewManager(a.store, buildset.Options{DefaultTTL: time.Duration(c.Buildsets.DefaultTTL), Logger: log,
		Collected: a.m.collected})
	if a.namespaces, err = a.newNamespaces(); err != nil {
		return nil, err
	}
	a.collect = storage.CollectOptions{
		Grace: time.Duration(c.GC.Grace), UploadMaxAge: time.Duration(c.GC.UploadMaxAge),
		CacheMaxAge: time.Duration(c.GC.CacheMaxAge), CacheMaxBytes: int64(c.GC.CacheMaxBytes),
		ClaimRetention: time.Duration(c.GC.ClaimRetention),
	}
	return a, nil
}

// newDriver opens the configured storage.
func newDriver(ctx context.Context, c *config.Config) (driver.Driver, error) {
	switch c.Storage.Driver {
	case "s3":
		d, err := s3.New(ctx, c.Storage.S3)
		if err != nil {
			return nil, fmt.Errorf("storage.s3: %w", err)
		}
		return d, nil
	case "swift":
		d, err := swift.New(ctx, c.Storage.Swift)
		if err != nil {
			return nil, fmt.Errorf("storage.swift: %w", err)
		}
		return d, nil
	}
	d, err := filesystem.New(c.DataDir)
	if err != nil {
		return nil, fmt.Errorf("data-dir: %w", err)
	}
	return d, nil
}

// newNamespaces builds the fall-through of every configured upstream.
func (a *app) newNamespaces() (map[string]*shadow.Namespace, error) {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "shadowreg_upstream_requests_total", Help: "HTTP requests sent to upstream registries.",
	}, []string{"namespace", "op", "code"})
	a.metrics.MustRegister(requests)
	counter := upstream.CounterFunc(func(ns, op, code string) { requests.WithLabelValues(ns, op, code).Inc() })
	out := map[string]*shadow.Namespace{}
	if len(a.cfg.Upstreams) > 0 {
		// Spools of fetches a crash cut short (drivers that cannot adopt a
		// local file spool in spool-dir). An hour is far beyond any live
		// fetch's idle time.
		if n, b, err := shadow.SweepSpool(a.cfg.SpoolDir, time.Now().Add(-time.Hour)); err != nil {
			a.log.Warn("sweeping old fetch spools failed", "dir", a.cfg.SpoolDir, "err", err)
		} else if n > 0 {
			a.log.Info("removed fetch spools left by an earlier crash", "files", n, "bytes", b)
		}
	}
	for name, u := range a.cfg.Upstreams {
		ns := config.NormalizeNamespace(name)
		var up shadow.Upstream
		if u.URL != "" {
			client, err := upstream.New(ns, u.Config, upstream.Options{Logger: a.log, Requests: counter,
				UserAgent: "shadowreg/" + Version()})
			if err != nil {
				return nil, err
			}
			up = client
		}
		out[ns] = shadow.NewNamespace(ns, a.store, up, shadow.Options{
			Cache: u.Caching(), TagTTL: u.TagTTLOrDefault(), NoFetch: !u.Fetching(),
			SpoolDir: a.cfg.SpoolDir, Logger: a.log, Served: a.m.servedFrom,
		})
		a.log.Info("upstream configured", "namespace", ns, "url", u.URL, "cache", u.Caching(), "on-miss", cmp.Or(u.OnMiss, "fetch"))
	}
	return out, nil
}

// handler builds the HTTP side: the registry, the token endpoint and the
// admin API.
func (a *app) handler() (http.Handler, error) {
	names := ref.Names{BuildsetPrefix: a.cfg.Buildsets.Prefix}
	opts := registry.Options{
		Resolver: registry.NewRouter(a.store, a.namespaces, registry.RouterOptions{
			Local: shadow.Options{Logger: a.log, Served: a.m.servedFrom}, Buildsets: a.buildsets,
			Implicit: a.cfg.Buildsets.Implicit,
		}),
		Names:             names,
		Logger:            a.log,
		Metrics:           a.metrics,
		MaxManifestBytes:  a.cfg.Limits.MaxManifestBytes,
		ClientIdleTimeout: time.Duration(a.cfg.Limits.IdleTimeout),
		Handlers:          map[string]http.Handler{},
		RedirectBlobs: a.cfg.Storage.Driver == "s3" && a.cfg.Storage.S3.Redirect ||
			a.cfg.Storage.Driver == "swift" && a.cfg.Storage.Swift.Redirect,
	}
	if c := a.cfg.Auth; c != nil {
		svc, err := auth.New(*c, auth.Options{PublicURL: a.cfg.PublicURL, Logger: a.log, Users: a.buildsets,
			Names: names, Chains: a.buildsets})
		if err != nil {
			return nil, err
		}
		opts.Authorizer = svc
		opts.Handlers[auth.TokenPath] = svc.TokenHandler()
		a.log.Info("auth on: Docker token flow", "realm", cmp.Or(a.cfg.PublicURL, "<request host>")+auth.TokenPath,
			"users", len(c.Users), "anonymous", cmp.Or(c.Anonymous, auth.AnonymousNone))
	} else {
		a.log.Warn("auth off: anyone who can reach the registry can push, pull and delete; add an auth section to restrict it")
	}
	opts.Handlers[registry.AdminPrefix+"/*"] = registry.NewAdmin(registry.AdminOptions{
		Buildsets: a.buildsets, Store: a.store, Collect: a.collect, Authorizer: opts.Authorizer,
	})
	return registry.New(opts), nil
}

// collectEvery runs garbage collection on the configured schedule until ctx
// ends.
func (a *app) collectEvery(ctx context.Context, every time.Duration) {
	if every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := a.buildsets.Collect(ctx, a.collect); err != nil && ctx.Err() == nil {
				a.log.Error("garbage collection failed", "err", err)
			}
		}
	}
}

// drain lets blob fetches in flight finish, so downloads under way are
// cached rather than wasted, within ctx; then it stops what is left, so no
// detached fetch outlives the server.
func (a *app) drain(ctx context.Context) {
	for _, ns := range a.namespaces {
		if err := ns.Drain(ctx); err != nil {
			a.log.Warn("shutting down with upstream fetches unfinished; cancelling them", "namespace", ns.Name(), "err", err)
		}
		ns.Stop()
	}
}

func newLogger(c config.Log) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}
