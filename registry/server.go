// Package registry speaks the OCI distribution API over HTTP. It turns
// requests into calls on a Repository (found by a Resolver) and storage
// errors into OCI error bodies; it stores nothing itself.
package registry

import (
	"context"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/shadowreg/shadowreg/registry/auth"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Options configure a Server.
type Options struct {
	// Resolver maps request names to repositories. Required.
	Resolver Resolver
	// Logger receives one structured line per request (successful reads at
	// debug level, everything else at info) and errors.
	Logger *slog.Logger
	// Metrics registers the server's collectors and is served at /metrics.
	// nil disables metrics.
	Metrics *prometheus.Registry
	// MaxManifestBytes bounds a pushed manifest (413 above). 0 means 4 MiB,
	// the least the OCI spec asks registries to accept.
	MaxManifestBytes int64
	// RedirectBlobs answers blob GETs with a 307 to the storage's own URL
	// when the driver offers one (presigned S3 URLs).
	RedirectBlobs bool
	// Authorizer checks every request; nil leaves the registry open.
	Authorizer Authorizer
	// Handlers adds handlers outside /v2/ (the token endpoint, the
	// buildset API), keyed by chi pattern ("/auth/token", "/shadowreg/v1/*").
	Handlers map[string]http.Handler
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Authorizer decides whether a request may do what it asks: nil and the
// caller's identity, or an *auth.Error (401 with a challenge, 403).
// *auth.Service implements it.
type Authorizer interface {
	Authorize(r *http.Request, want []auth.Access) (*auth.Identity, error)
}

type identityKey struct{}

// IdentityFrom returns who the request was authorized as; nil when the
// registry runs without auth.
func IdentityFrom(ctx context.Context) *auth.Identity {
	id, _ := ctx.Value(identityKey{}).(*auth.Identity)
	return id
}

// Server is the HTTP side of shadowreg.
type Server struct {
	opts    Options
	log     *slog.Logger
	metrics *metrics
	handler http.Handler
}

// New builds a server.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxManifestBytes <= 0 {
		opts.MaxManifestBytes = 4 << 20
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{opts: opts, log: opts.Logger, metrics: newMetrics(opts.Metrics)}
	r := chi.NewRouter()
	r.Use(s.observe)
	r.HandleFunc("/v2", s.v2)
	r.HandleFunc("/v2/*", s.v2)
	if opts.Metrics != nil {
		r.Handle("/metrics", promhttp.HandlerFor(opts.Metrics, promhttp.HandlerOpts{}))
	}
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	for _, p := range slices.Sorted(maps.Keys(opts.Handlers)) {
		r.Handle(p, opts.Handlers[p])
	}
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, errorf("NOT_FOUND", "no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, errorf("UNSUPPORTED", "%s is not supported on %s", r.Method, r.URL.Path))
	})
	s.handler = r
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// handlerFunc is a handler that returns its error; the adapter writes it.
type handlerFunc func(w http.ResponseWriter, r *http.Request, rt route) error

// v2 dispatches every /v2/ request by the shape of its path and its method.
func (s *Server) v2(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	rest := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/v2"), "/")
	rt, ok := parseRoute(rest)
	if !ok {
		writeError(w, r, errorf("NOT_FOUND", "no such endpoint: %s %s", r.Method, r.URL.Path))
		return
	}
	setRoute(r, rt.kind)
	h, needs := s.handlerFor(r, rt)
	if h == nil {
		writeError(w, r, errorf("UNSUPPORTED", "%s is not supported on %s", r.Method, r.URL.Path))
		return
	}
	if s.opts.Authorizer != nil {
		id, err := s.opts.Authorizer.Authorize(r, needs)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), identityKey{}, id))
	}
	if err := h(w, r, rt); err != nil {
		s.fail(w, r, err)
	}
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	e := asError(err)
	setErrorCode(r, e.Code)
	if e.Status >= 500 {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "code", e.Code, "err", err)
	}
	writeError(w, r, e)
}

// handlerFor picks the handler for a route and method, with the access the
// request needs: pull to read, push to write, delete to delete; a mount also
// needs pull on the repository it mounts from.
func (s *Server) handlerFor(r *http.Request, rt route) (handlerFunc, []auth.Access) {
	read := r.Method == http.MethodGet || r.Method == http.MethodHead
	pull := []auth.Access{auth.Repository(rt.name, auth.ActionPull)}
	push := []auth.Access{auth.Repository(rt.name, auth.ActionPull, auth.ActionPush)}
	del := []auth.Access{auth.Repository(rt.name, auth.ActionDelete)}
	switch rt.kind {
	case routeBase:
		if read {
			return s.base, nil
		}
	case routeCatalog:
		if read {
			return s.catalog, []auth.Access{auth.Catalog()}
		}
	case routeTags:
		if read {
			return s.tagsList, pull
		}
	case routeReferrers:
		if read {
			return s.referrers, pull
		}
	case routeBlob:
		switch {
		case read:
			return s.blobGet, pull
		case r.Method == http.MethodDelete:
			return s.blobDelete, del
		}
	case routeUploads:
		if r.Method == http.MethodPost {
			if from := r.URL.Query().Get("from"); from != "" && r.URL.Query().Get("mount") != "" {
				push = append(push, auth.Repository(from, auth.ActionPull))
			}
			return s.uploadStart, push
		}
	case routeUpload:
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			return s.uploadStatus, pull // as distribution: reading progress is a read
		case http.MethodPatch:
			return s.uploadPatch, push
		case http.MethodPut:
			return s.uploadPut, push
		case http.MethodDelete:
			return s.uploadCancel, push
		}
	case routeManifest:
		switch {
		case read:
			return s.manifestGet, pull
		case r.Method == http.MethodPut:
			return s.manifestPut, push
		case r.Method == http.MethodDelete:
			return s.manifestDelete, del
		}
	}
	return nil, nil
}

func (s *Server) base(w http.ResponseWriter, r *http.Request, _ route) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", "2")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write([]byte("{}"))
	}
	return nil
}

func (s *Server) repo(r *http.Request, name string) (Repository, error) {
	return s.opts.Resolver.Repository(r, name)
}
