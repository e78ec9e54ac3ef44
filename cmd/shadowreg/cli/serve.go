package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/shadowreg/shadowreg/registry"
	"github.com/shadowreg/shadowreg/registry/auth"
	"github.com/shadowreg/shadowreg/registry/config"
	"github.com/shadowreg/shadowreg/registry/shadow"
	"github.com/shadowreg/shadowreg/registry/upstream"
	"github.com/shadowreg/shadowreg/storage"
	"github.com/shadowreg/shadowreg/storage/driver/filesystem"
	"github.com/spf13/cobra"
)

type serveOptions struct {
	configFile string
	listen     string
	dataDir    string
	upstreams  []string
}

func newServeCmd() *cobra.Command {
	o := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the registry",
		Long: `Run the registry. Without --config it runs on the embedded default:
listening on 127.0.0.1:5000 with its data in ./shadowreg-data.`,
		Args: cobra.NoArgs,
		RunE: o.run,
	}
	f := cmd.Flags()
	f.StringVarP(&o.configFile, "config", "c", "", "configuration file (YAML; see config.example.yaml)")
	f.StringVar(&o.listen, "listen", "", "address to serve on, host:port (overrides listen)")
	f.StringVar(&o.dataDir, "data-dir", "", "folder for the registry's data (overrides data-dir)")
	f.StringArrayVar(&o.upstreams, "upstream", nil, "NAMESPACE=URL: fall through to this upstream for the namespace (repeatable), e.g. docker.io=https://registry-1.docker.io")
	return cmd
}

// config loads the file or the default and applies the flags.
func (o *serveOptions) config() (*config.Config, error) {
	c, err := config.Load(o.configFile)
	if err != nil {
		return nil, err
	}
	if o.listen != "" {
		c.Listen = o.listen
	}
	if o.dataDir != "" {
		c.DataDir = o.dataDir
	}
	for _, u := range o.upstreams {
		if err := c.SetUpstream(u); err != nil {
			return nil, err
		}
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return c, nil
}

func (o *serveOptions) run(cmd *cobra.Command, _ []string) error {
	c, err := o.config()
	if err != nil {
		return err
	}
	log := newLogger(c.Log)
	ctx := cmd.Context()

	drv, err := filesystem.New(c.DataDir)
	if err != nil {
		return fmt.Errorf("data-dir: %w", err)
	}
	store := storage.New(drv, storage.Options{Logger: log})

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	namespaces, err := newNamespaces(c, store, log, reg)
	if err != nil {
		return err
	}
	opts := registry.Options{
		Resolver:         registry.NewRouter(store, namespaces, shadow.Options{Logger: log}),
		Logger:           log,
		Metrics:          reg,
		MaxManifestBytes: c.Limits.MaxManifestBytes,
		Handlers:         map[string]http.Handler{},
	}
	if c.Auth != nil {
		svc, err := auth.New(*c.Auth, auth.Options{PublicURL: c.PublicURL, Logger: log})
		if err != nil {
			return err
		}
		opts.Authorizer = svc
		opts.Handlers[auth.TokenPath] = svc.TokenHandler()
		log.Info("auth on: Docker token flow", "realm", cmp.Or(c.PublicURL, "<request host>")+auth.TokenPath,
			"users", len(c.Auth.Users), "anonymous", cmp.Or(c.Auth.Anonymous, auth.AnonymousNone))
	} else {
		log.Warn("auth off: anyone who can reach the registry can push, pull and delete; add an auth section to restrict it")
	}
	srv := registry.New(opts)

	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	hs := &http.Server{
		Handler: srv,
		// No overall read or write timeout: blob bodies stream for as long
		// as they take. Headers must come promptly, and idle keep-alive
		// connections are closed eventually.
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	scheme := "http"
	if c.TLSCert != "" {
		scheme = "https"
	}
	log.Info("shadowreg serving", "version", Version(), "address", scheme+"://"+ln.Addr().String(),
		"storage", "filesystem", "data-dir", c.DataDir)
	if c.TLSCert == "" {
		log.Warn("serving plain HTTP: clients need insecure-registry settings; set tls-cert and tls-key for HTTPS")
	}

	errc := make(chan error, 1)
	go func() {
		if c.TLSCert != "" {
			errc <- hs.ServeTLS(ln, c.TLSCert, c.TLSKey)
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: waiting for requests in flight")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// newNamespaces builds the fall-through of every configured upstream.
func newNamespaces(c *config.Config, store *storage.Store, log *slog.Logger, reg *prometheus.Registry) (map[string]*shadow.Namespace, error) {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "shadowreg_upstream_requests_total", Help: "HTTP requests sent to upstream registries.",
	}, []string{"namespace", "op", "code"})
	reg.MustRegister(requests)
	counter := upstream.CounterFunc(func(ns, op, code string) { requests.WithLabelValues(ns, op, code).Inc() })
	out := map[string]*shadow.Namespace{}
	for name, u := range c.Upstreams {
		ns := config.NormalizeNamespace(name)
		var up shadow.Upstream
		if u.URL != "" {
			client, err := upstream.New(ns, u.Config, upstream.Options{Logger: log, Requests: counter,
				UserAgent: "shadowreg/" + Version()})
			if err != nil {
				return nil, err
			}
			up = client
		}
		out[ns] = shadow.NewNamespace(ns, store, up, shadow.Options{
			Cache: u.Caching(), TagTTL: u.TagTTLOrDefault(), NoFetch: !u.Fetching(),
			SpoolDir: c.SpoolDir, Logger: log,
		})
		log.Info("upstream configured", "namespace", ns, "url", u.URL, "cache", u.Caching(), "on-miss", cmp.Or(u.OnMiss, "fetch"))
	}
	return out, nil
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
