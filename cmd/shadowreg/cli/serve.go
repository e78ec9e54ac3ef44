package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/shadowreg/shadowreg/registry/config"
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
	a, err := newApp(ctx, c, log)
	if err != nil {
		return err
	}
	handler, err := a.handler()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	hs := &http.Server{
		Handler: handler,
		// No overall read or write timeout: blob bodies stream for as long
		// as they take, and the registry cuts only those that stall
		// (limits.idle-timeout). Headers must come promptly, and idle
		// keep-alive connections are closed eventually.
		ReadHeaderTimeout: time.Duration(c.Limits.HeaderTimeout),
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	scheme := "http"
	if c.TLSCert != "" {
		scheme = "https"
	}
	log.Info("shadowreg serving", "version", Version(), "address", scheme+"://"+ln.Addr().String(),
		"storage", c.Storage.Driver, "data-dir", c.DataDir, "gc_interval", time.Duration(c.GC.Interval))
	if c.TLSCert == "" {
		log.Warn("serving plain HTTP: clients need insecure-registry settings; set tls-cert and tls-key for HTTPS")
	}
	if g := time.Duration(c.GC.Grace); g < time.Minute {
		log.Warn("gc.grace is under a minute: a blob pushed before its manifest may be collected in between", "grace", g)
	}
	if c.DebugListen != "" {
		go serveDebug(c.DebugListen, log)
	}
	gcCtx, stopGC := context.WithCancel(ctx)
	defer stopGC()
	go a.collectEvery(gcCtx, time.Duration(c.GC.Interval))

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
	log.Info("shutting down: waiting for requests and upstream fetches in flight")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	a.drain(shutdownCtx)
	return nil
}

// serveDebug serves Go's profiles on their own listener, so they are never
// exposed on the registry's address.
func serveDebug(addr string, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	log.Info("profiles served", "address", "http://"+addr+"/debug/pprof/")
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	if err := srv.ListenAndServe(); err != nil {
		log.Error("debug listener stopped", "err", err)
	}
}
