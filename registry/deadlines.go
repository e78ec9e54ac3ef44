package registry

import (
	"io"
	"net/http"
	"os"
	"time"
)

// Deadlines against slow clients (slowloris). net/http's ReadHeaderTimeout
// and IdleTimeout cover headers and idle keep-alive connections; bodies have
// none, since a blob may take as long as it takes. What bounds them instead
// is progress: a request body that sends no byte for IdleTimeout, or a
// response whose client takes no write (at most sendChunk) within it, is
// cut. A large transfer at any real rate is never cut; a stalled one holds
// its connection, goroutine and upload for about IdleTimeout.

// sendChunk is how much of a file goes out under one write deadline: large
// enough that sendfile does the work in few calls, small enough that a slow
// but moving client gets a fresh deadline often. A client must take it
// within the idle timeout: 1 MiB a minute by default, a floor far below any
// real transfer.
const sendChunk = 1 << 20

// idleBody is a request body whose every read must make progress within
// idle. The read deadline is lifted when the body ends: net/http then reads
// the connection in the background to notice a client leaving, and a
// deadline expiring there would cancel the request while the handler is
// still committing what it read.
type idleBody struct {
	io.ReadCloser
	ctl  *http.ResponseController
	idle time.Duration
	done bool
}

func (b *idleBody) Read(p []byte) (int, error) {
	if b.done {
		return b.ReadCloser.Read(p)
	}
	_ = b.ctl.SetReadDeadline(time.Now().Add(b.idle)) // unsupported by test recorders: no deadline
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.done = true
		_ = b.ctl.SetReadDeadline(time.Time{})
	}
	return n, err
}

// limitBodies gives every request body an idle deadline.
func (s *Server) limitBodies(next http.Handler) http.Handler {
	idle := s.opts.ClientIdleTimeout
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if idle > 0 && r.Body != nil && r.Body != http.NoBody {
			b := &idleBody{ReadCloser: r.Body, ctl: http.NewResponseController(w), idle: idle}
			r.Body = b
			defer func() {
				if !b.done {
					_ = b.ctl.SetReadDeadline(time.Time{})
				}
			}()
		}
		next.ServeHTTP(w, r)
	})
}

// idleWriter is a response whose every write must be taken by the client
// within idle. The deadline is set just before bytes go out, never while a
// cold blob waits for its upstream, so only the client's own stalling
// counts against it.
type idleWriter struct {
	w    http.ResponseWriter
	ctl  *http.ResponseController
	idle time.Duration
}

func newIdleWriter(w http.ResponseWriter, idle time.Duration) *idleWriter {
	return &idleWriter{w: w, ctl: http.NewResponseController(w), idle: idle}
}

func (w *idleWriter) arm() {
	if w.idle > 0 {
		_ = w.ctl.SetWriteDeadline(time.Now().Add(w.idle))
	}
}

// done lifts the write deadline, so the connection's next request starts
// without one.
func (w *idleWriter) done() {
	if w.idle > 0 {
		_ = w.ctl.SetWriteDeadline(time.Time{})
	}
}

func (w *idleWriter) Write(p []byte) (int, error) {
	w.arm()
	return w.w.Write(p)
}

// ReadFrom sends src; call it directly (io.Copy would hand it the file's
// WriteTo wrapper instead of the file). A file (stored blobs, a fetch's spool) goes in
// chunks, each under a fresh deadline, through the underlying writer's
// ReadFrom (sendfile); a LimitedReader is unwrapped so its file still
// reaches sendfile. Anything else may block between reads (a cold blob
// holding a byte back until it is verified), so it is copied with the
// deadline armed on each write only.
func (w *idleWriter) ReadFrom(src io.Reader) (int64, error) {
	remain := int64(-1)
	inner := src
	if lr, ok := src.(*io.LimitedReader); ok {
		inner, remain = lr.R, lr.N
	}
	f, ok := inner.(*os.File)
	if !ok {
		if wt, ok := src.(io.WriterTo); ok {
			// A fetch's spool reader: it waits for bytes itself and hands
			// its file back here a stretch at a time.
			return wt.WriteTo(w)
		}
		return io.Copy(writerOnly{w}, src)
	}
	if remain >= 0 {
		lr := src.(*io.LimitedReader)
		defer func() { lr.N = remain }()
	}
	var total int64
	for remain != 0 {
		chunk := int64(sendChunk)
		if remain > 0 {
			chunk = min(chunk, remain)
		}
		w.arm()
		n, err := io.Copy(w.w, io.LimitReader(f, chunk))
		total += n
		if remain > 0 {
			remain -= n
		}
		if err != nil {
			return total, err
		}
		if n < chunk {
			return total, nil // the file ended
		}
	}
	return total, nil
}

// writerOnly hides ReadFrom, so io.Copy uses Write (and its deadline).
type writerOnly struct{ w *idleWriter }

func (o writerOnly) Write(p []byte) (int, error) { return o.w.Write(p) }
