package upstream

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// request describes one logical call upstream; send turns it into tries.
type request struct {
	op      string      // manifest, blob, tags, token: metric label and error text
	method  string      // GET or HEAD: both idempotent, so any try may be repeated
	url     string      //
	what    string      // the object, for errors and logs: "library/alpine:latest"
	scope   string      // token scope; "" = none
	header  http.Header // request-specific headers (Accept, Range)
	limit   int64       // > 0: read the body, at most limit bytes, within the try
	toRealm bool        // a token endpoint request: carries its own credentials
}

// metricOp is the op label of the request counter.
func (r *request) metricOp() string {
	if r.method == http.MethodHead {
		return r.op + "_head"
	}
	return r.op
}

// send runs r until it gets a usable answer: authenticating on a challenge
// (once), retrying connection failures, timeouts, 5xx and 429 with backoff
// (at most c.retries times). A 2xx comes back with its body open when
// r.limit is 0, or read into data; anything else is returned as an error.
func (c *Client) send(ctx context.Context, r *request) (*http.Response, []byte, error) {
	reauthed := false
	for tries := 0; ; tries++ { // bounded: returns once tries reaches c.retries
		authz := ""
		if !r.toRealm {
			a, err := c.auth.authorization(ctx, r.scope)
			if err != nil {
				return nil, nil, err
			}
			authz = a
		}
		resp, data, err := c.attempt(ctx, r, authz)
		if err == nil && resp.StatusCode == http.StatusUnauthorized && !r.toRealm && !reauthed {
			// A challenge: learn how to authenticate and try again at once.
			// Only once: a second 401 means the credentials do not grant access.
			reauthed = true
			if err := c.auth.challenged(resp.Header, r.scope, authz); err != nil {
				return nil, nil, err
			}
			tries--
			continue
		}
		var wait time.Duration
		switch {
		case err != nil:
			if ctx.Err() != nil || !retryable(err) || tries >= c.retries {
				return nil, nil, err
			}
			wait = c.backoffFor(tries)
		case resp.StatusCode >= 200 && resp.StatusCode <= 299:
			return resp, data, nil
		default:
			se := newStatusError(resp.StatusCode, data, r.toRealm)
			err = se
			d, hasRetryAfter := parseRetryAfter(resp.Header.Get("Retry-After"), c.now())
			if hasRetryAfter {
				se.retryAfter = d
			}
			if !retryableStatus(resp.StatusCode) || tries >= c.retries {
				return nil, nil, err
			}
			wait = c.backoffFor(tries)
			if hasRetryAfter {
				if d > maxRetryAfter {
					// Longer than any client waits for an answer: say so now
					// (the registry passes the 429 and its Retry-After on),
					// rather than hold every waiting client and fail later.
					return nil, nil, err
				}
				wait = d // the upstream knows when it will be back
			}
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return nil, nil, err // the caller cannot wait that long: tell it why now
		}
		c.log.Warn("upstream request failed, retrying", "op", r.method+" "+r.op, "what", r.what,
			"try", tries+1, "wait", wait, "err", err)
		if serr := c.sleep(ctx, wait); serr != nil {
			return nil, nil, fmt.Errorf("%w (while waiting to retry after: %v)", serr, err)
		}
	}
}

// attempt sends one try. Its context is cancelled when no headers arrive
// within c.timeout, and later when a body read stalls that long; a streamed
// body is otherwise unbounded. Non-2xx bodies are read (a little) and closed.
func (c *Client) attempt(ctx context.Context, r *request, authz string) (*http.Response, []byte, error) {
	actx, cancel := context.WithCancelCause(ctx)
	var streaming atomic.Bool
	timer := time.AfterFunc(c.timeout, func() {
		if streaming.Load() {
			cancel(&timeoutError{fmt.Sprintf("no data received for %s", c.timeout)})
		} else {
			cancel(&timeoutError{fmt.Sprintf("no response within %s", c.timeout)})
		}
	})
	req, err := http.NewRequestWithContext(actx, r.method, r.url, nil)
	if err != nil {
		timer.Stop()
		cancel(nil)
		return nil, nil, err
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	req.Header.Set("User-Agent", c.userAgent)
	// identity: a client given by Options would otherwise ask for gzip and
	// transparently decompress blobs.
	req.Header.Set("Accept-Encoding", "identity")
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	c.log.Debug("upstream request", "method", r.method, "op", r.op, "what", r.what)
	resp, err := c.http.Do(req)
	fired := !timer.Stop()
	if err == nil && fired {
		resp.Body.Close()
	}
	switch {
	case ctx.Err() != nil: // the caller gave up: its error, not ours
		cancel(nil)
		c.requests.Inc(c.namespace, r.metricOp(), "error")
		return nil, nil, ctx.Err()
	case fired:
		c.requests.Inc(c.namespace, r.metricOp(), "timeout")
		return nil, nil, context.Cause(actx)
	case err != nil:
		cancel(nil)
		c.requests.Inc(c.namespace, r.metricOp(), "error")
		return nil, nil, cleanError(err)
	}
	c.requests.Inc(c.namespace, r.metricOp(), strconv.Itoa(resp.StatusCode))
	streaming.Store(true)
	b := &body{rc: resp.Body, ctx: actx, cancel: cancel, timer: timer, idle: c.timeout}
	resp.Body = b
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		data, _ := readAtMost(b, maxErrorBody) // best effort: only for the message
		b.Close()
		return resp, data, nil
	}
	if r.limit <= 0 {
		return resp, nil, nil
	}
	defer b.Close()
	if resp.ContentLength > r.limit {
		return nil, nil, &tooLargeError{r.limit}
	}
	data, err := readAtMost(b, r.limit)
	if err != nil {
		return nil, nil, err
	}
	return resp, data, nil
}

// readAtMost reads all of r, failing if it holds more than limit bytes.
func readAtMost(r io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, &tooLargeError{limit}
	}
	return data, nil
}

// body is a response body whose reads are each bounded by the idle timeout,
// and which releases its try's context when closed.
type body struct {
	rc     io.ReadCloser
	ctx    context.Context
	cancel context.CancelCauseFunc
	timer  *time.Timer
	idle   time.Duration
}

func (b *body) Read(p []byte) (int, error) {
	// Armed only while blocked in the upstream read: a slow consumer (the
	// client downstream) must not count as a stalled upstream.
	b.timer.Reset(b.idle)
	n, err := b.rc.Read(p)
	b.timer.Stop()
	if err != nil && err != io.EOF && b.ctx.Err() != nil {
		err = context.Cause(b.ctx) // the stall timeout or the caller's cancellation
	}
	return n, err
}

func (b *body) Close() error {
	b.timer.Stop()
	err := b.rc.Close()
	b.cancel(nil)
	return err
}
