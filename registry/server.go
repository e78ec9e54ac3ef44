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

	"github.com/shadowreg/shadowreg/internal/ref"
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
	// ClientIdleTimeout cuts a request body that sends no byte, or a blob
	// response the client takes no byte of, for this long (slowloris);
	// 0: no such deadline.
	ClientIdleTimeout time.Duration
	// RedirectBlobs answers blob GETs with a 307 to the storage's own URL
	// when the driver offers one (presigned S3 URLs).
	RedirectBlobs bool
	// Authorizer checks every request; nil leaves the registry open.
	Authorizer Authorizer
	// Names resolves the repository names of requests (the buildset
	// prefix); the zero value is ref's default.
	Names ref.Names
	// Handlers adds handlers outside /v2/ (the token endpoint, the
	// buildset API), keyed by chi pattern ("/auth/token", "/shadowreg/v1/*").
	Handlers map[string]http.Handler
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Authorizer finds who a request comes from and decides what it may do,
// on canonical names. *auth.Service implements it.
type Authorizer interface {
	// Authenticate never fails: refused credentials give an identity that
	// Authorize answers with 401.
	Authenticate(r *http.Request) *auth.Identity
	// Authorize returns nil, an *auth.Error (401 with a challenge, 403), or
	// the error of a lookup that failed (the request fails closed).
	Authorize(r *http.Request, id *auth.Identity, want []auth.Access) error
	// Permits reports whether id's rights allow a (for filtering lists).
	Permits(ctx context.Context, id *auth.Identity, a auth.Access) (bool, error)
}

// IdentityFrom returns who the request was authorized as; nil when the
// registry runs without auth. It is kept with the request's log fields
// (requestInfo), which every request has already, rather than in a
// context of its own: deriving one copies the request.
func IdentityFrom(ctx context.Context) *auth.Identity {
	if ri, ok := ctx.Value(infoKey{}).(*requestInfo); ok {
		return ri.id
	}
	return nil
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
	r.Use(s.limitBodies)
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
type handlerFunc func(w http.ResponseWriter, r *http.Request, req *request) error

// request is a /v2/ request once resolved: its route, the canonical target
// it reads or writes, and who asks. Handlers see only the target, never the
// name as written, so that what was authorized is what they act on.
type request struct {
	route
	target ref.Target     // for routes with a name
	viaNS  bool           // ?ns= took part in resolving it
	from   *ref.Target    // a mount's source (?mount=&from=), when it resolves
	id     *auth.Identity // nil without auth
}

// bound is the buildset the caller's credentials are bound to.
func (req *request) bound() string {
	if req.id == nil {
		return ""
	}
	return req.id.Buildset
}

// v2 dispatches every /v2/ request by the shape of its path and its method:
// it resolves the name once (ref), decides on the canonical target, then
// hands the target to the handler.
func (s *Server) v2(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	rest := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/v2"), "/")
	rt, ok := parseRoute(rest)
	if !ok {
		writeError(w, r, errorf("NOT_FOUND", "no such endpoint: %s %s", r.Method, r.URL.Path))
		return
	}
	setRoute(r, rt.kind)
	h, need := s.handlerFor(r, rt)
	if h == nil {
		writeError(w, r, errorf("UNSUPPORTED", "%s is not supported on %s", r.Method, r.URL.Path))
		return
	}
	req := &request{route: rt}
	if s.opts.Authorizer != nil {
		req.id = s.opts.Authorizer.Authenticate(r)
		setUser(r, req.id.User())
	}
	if err := s.resolve(r, req); err != nil {
		if req.id.Refused() {
			// Refused credentials learn nothing of names: 401 first.
			err = s.opts.Authorizer.Authorize(r, req.id, nil)
		}
		s.fail(w, r, err)
		return
	}
	if s.opts.Authorizer != nil {
		if err := s.opts.Authorizer.Authorize(r, req.id, need.accesses(req)); err != nil {
			s.fail(w, r, err)
			return
		}
		setIdentity(r, req.id)
	}
	if err := h(w, r, req); err != nil {
		s.fail(w, r, err)
	}
}

// resolve finds the canonical target of the request's name, and of a
// mount's source, with ?ns= and the caller's buildset.
func (s *Server) resolve(r *http.Request, req *request) error {
	if req.kind == routeBase || req.kind == routeCatalog {
		return nil // the routes without a repository
	}
	q := r.URL.Query()
	t, err := s.opts.Names.Resolve(req.name, q.Get("ns"), req.bound())
	if err != nil {
		return err
	}
	req.target, req.viaNS = t, q.Get("ns") != ""
	setTarget(r, t)
	if from := q.Get("from"); req.kind == routeUploads && q.Get("mount") != "" && from != "" {
		// A source that does not resolve is a miss, not an error: the
		// client pushes the blob instead.
		if f, err := s.opts.Names.Resolve(from, q.Get("ns"), req.bound()); err == nil {
			req.from = &f
		}
	}
	return nil
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	e := asError(err)
	setErrorCode(r, string(e.Code))
	if e.HTTPStatus() >= 500 {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "code", e.Code, "err", err)
	}
	writeError(w, r, e)
}

// need is the access a route asks for on its target.
type need int

const (
	needNothing need = iota // GET /v2/: any valid credentials
	needPull
	needPush // pull and push; a mount also pull on its source
	needDelete
	needCatalog
)

// pullOnly is the actions of needPull, shared by every pull: Authorize
// only reads them.
var pullOnly = []string{auth.ActionPull}

// accesses are the canonical accesses a request needs.
func (n need) accesses(req *request) []auth.Access {
	t := req.target.String()
	switch n {
	case needPull:
		return []auth.Access{auth.Repository(t, pullOnly...)}
	case needPush:
		want := []auth.Access{auth.Repository(t, auth.ActionPull, auth.ActionPush)}
		if req.from != nil {
			want = append(want, auth.Repository(req.from.String(), auth.ActionPull))
		}
		return want
	case needDelete:
		return []auth.Access{auth.Repository(t, auth.ActionDelete)}
	case needCatalog:
		return []auth.Access{auth.Catalog()}
	}
	return nil
}

// handlerFor picks the handler for a route and method, with the access the
// request needs: pull to read, push to write, delete to delete.
func (s *Server) handlerFor(r *http.Request, rt route) (handlerFunc, need) {
	read := r.Method == http.MethodGet || r.Method == http.MethodHead
	switch rt.kind {
	case routeBase:
		if read {
			return s.base, needNothing
		}
	case routeCatalog:
		if read {
			return s.catalog, needCatalog
		}
	case routeTags:
		if read {
			return s.tagsList, needPull
		}
	case routeReferrers:
		if read {
			return s.referrers, needPull
		}
	case routeBlob:
		switch {
		case read:
			return s.blobGet, needPull
		case r.Method == http.MethodDelete:
			return s.blobDelete, needDelete
		}
	case routeUploads:
		if r.Method == http.MethodPost {
			return s.uploadStart, needPush
		}
	case routeUpload:
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			return s.uploadStatus, needPull // as distribution: reading progress is a read
		case http.MethodPatch:
			return s.uploadPatch, needPush
		case http.MethodPut:
			return s.uploadPut, needPush
		case http.MethodDelete:
			return s.uploadCancel, needPush
		}
	case routeManifest:
		switch {
		case read:
			return s.manifestGet, needPull
		case r.Method == http.MethodPut:
			return s.manifestPut, needPush
		case r.Method == http.MethodDelete:
			return s.manifestDelete, needDelete
		}
	}
	return nil, needNothing
}

func (s *Server) base(w http.ResponseWriter, r *http.Request, _ *request) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", "2")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write([]byte("{}"))
	}
	return nil
}

// repo opens the request's target; write says the request writes to it
// (an implicit buildset may then be created).
func (s *Server) repo(r *http.Request, req *request) (Repository, error) {
	write := r.Method != http.MethodGet && r.Method != http.MethodHead
	return s.opts.Resolver.Repository(r.Context(), req.target, write)
}
