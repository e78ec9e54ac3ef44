package registry

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/shadowreg/shadowreg/internal/ref"
	"github.com/shadowreg/shadowreg/registry/auth"
)

// requestInfo is filled in while a request is handled, for its log line and
// metrics.
type requestInfo struct {
	route  string
	code   string         // OCI error code, if the request failed
	user   string         // who asked ("anonymous"; "" without auth or for refused credentials)
	target *ref.Target    // what the request read or wrote, canonical
	id     *auth.Identity // who it was authorized as (IdentityFrom); nil without auth
}

type infoKey struct{}

func setRoute(r *http.Request, kind string) {
	if ri, ok := r.Context().Value(infoKey{}).(*requestInfo); ok {
		ri.route = kind
	}
}

func setUser(r *http.Request, user string) {
	if ri, ok := r.Context().Value(infoKey{}).(*requestInfo); ok {
		ri.user = user
	}
}

func setIdentity(r *http.Request, id *auth.Identity) {
	if ri, ok := r.Context().Value(infoKey{}).(*requestInfo); ok {
		ri.id = id
	}
}

func setTarget(r *http.Request, t ref.Target) {
	if ri, ok := r.Context().Value(infoKey{}).(*requestInfo); ok {
		ri.target = &t
	}
}

func setErrorCode(r *http.Request, code string) {
	if ri, ok := r.Context().Value(infoKey{}).(*requestInfo); ok {
		ri.code = code
	}
}

// observe logs every request as one structured line and counts it.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.opts.Now()
		ri := &requestInfo{route: "other"}
		r = r.WithContext(context.WithValue(r.Context(), infoKey{}, ri))
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					// A deliberate abort (a blob stream that broke, a client
					// gone): net/http drops the connection, quietly.
					s.metrics.observe(r.Method, ri.route, 499, rec.bytes, r.ContentLength, s.opts.Now().Sub(start))
					panic(p)
				}
				s.log.Error("handler panicked", "method", r.Method, "path", r.URL.Path, "panic", p)
				if !rec.wrote {
					writeError(rec, r, errorf("UNKNOWN", "internal error"))
				}
			}
			elapsed := s.opts.Now().Sub(start)
			s.metrics.observe(r.Method, ri.route, rec.status, rec.bytes, r.ContentLength, elapsed)
			level := slog.LevelInfo
			if rec.status < 400 && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
				level = slog.LevelDebug // pulls are the bulk of traffic
			}
			if !s.log.Enabled(r.Context(), level) {
				return
			}
			attrs := []slog.Attr{
				slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.Int("status", rec.status), slog.Int64("bytes", rec.bytes),
				slog.Duration("duration", elapsed.Round(time.Microsecond)),
				slog.String("remote", r.RemoteAddr),
			}
			if ri.user != "" {
				attrs = append(attrs, slog.String("user", ri.user))
			}
			if t := ri.target; t != nil {
				// What was decided on and acted on, whatever the spelling
				// in the path (which the query string can change).
				attrs = append(attrs, slog.String("area", t.Area()), slog.String("namespace", t.Namespace),
					slog.String("repository", t.Path))
			}
			if ri.code != "" {
				attrs = append(attrs, slog.String("code", ri.code))
			}
			s.log.LogAttrs(r.Context(), level, "request", attrs...)
		}()
		next.ServeHTTP(rec, r)
	})
}

// recorder notes the status and size of a response. It forwards ReadFrom so
// that io.Copy from a file still reaches net/http's sendfile path, and
// Flush for streamed responses.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	wrote  bool
}

func (w *recorder) WriteHeader(status int) {
	if !w.wrote {
		w.status, w.wrote = status, true
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *recorder) Write(p []byte) (int, error) {
	w.wrote = true
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

func (w *recorder) ReadFrom(src io.Reader) (int64, error) {
	w.wrote = true
	var n int64
	var err error
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(src)
	} else {
		n, err = io.Copy(w.ResponseWriter, src)
	}
	w.bytes += n
	return n, err
}

func (w *recorder) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }
