package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// ErrNotFound is wrapped by errors about content the upstream does not have:
// a 404, or the registry error codes MANIFEST_UNKNOWN, BLOB_UNKNOWN and
// NAME_UNKNOWN whatever the status.
var ErrNotFound = errors.New("not found")

// ErrUnauthorized is wrapped when the upstream refuses access: a 401 or 403
// after authenticating as configured, a token endpoint refusing the
// credentials, or a challenge for credentials that are not configured.
// Docker Hub answers so for repositories that do not exist, so a caller may
// treat it as a miss; it is not ErrNotFound because a wrong password must not
// look like missing content.
var ErrUnauthorized = errors.New("unauthorized")

// Error is an upstream failure: unreachable, timed out, an error status, or an
// answer that cannot be used (a digest mismatch, an oversized manifest).
type Error struct {
	Upstream string // Client.Name(): "docker.io (https://registry-1.docker.io)"
	Op       string // "GET manifest library/alpine:latest"
	Status   int    // the upstream's HTTP status; 0 when no usable answer came
	Err      error
}

func (e *Error) Error() string {
	return "upstream " + e.Upstream + ": " + e.Op + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// Timeout reports whether the upstream did not answer in time (the per
// request timeout, a stalled body, or the caller's deadline), for a 504.
func (e *Error) Timeout() bool {
	var t interface{ Timeout() bool }
	return errors.As(e.Err, &t) && t.Timeout()
}

// IsUnavailable reports whether err is the upstream's fault rather than a
// miss or the caller's own cancellation: unreachable, timed out, 5xx, 429,
// refused credentials, or bad content. The registry answers those with
// 502/503/504 (see Error.Status and Error.Timeout) instead of 404.
func IsUnavailable(err error) bool {
	var e *Error
	if !errors.As(err, &e) || errors.Is(err, ErrNotFound) || errors.Is(err, context.Canceled) {
		return false
	}
	switch s := e.Status; {
	case s == 0, s >= 500, s == http.StatusTooManyRequests, s == http.StatusRequestTimeout:
		return true
	case s == http.StatusUnauthorized, s == http.StatusForbidden:
		return true // the upstream is configured here, so refused access is ours to fix
	}
	return false // other 4xx: the request itself was wrong (a name the upstream rejects)
}

// statusError is an upstream's error status with the codes of its body.
type statusError struct {
	code   int    // HTTP status
	text   string // "404 Not Found: MANIFEST_UNKNOWN: manifest unknown"
	sentry error  // ErrNotFound, ErrUnauthorized or nil, for errors.Is
	// retryAfter is what the upstream's Retry-After said (a 429 or 503);
	// 0 when it said nothing.
	retryAfter time.Duration
}

// RateLimited reports whether err is the upstream rate limiting us (429),
// and for how long it asked us to wait (0 when it did not say). The
// registry passes that on to its client rather than answer 502.
func RateLimited(err error) (retryAfter time.Duration, ok bool) {
	var s *statusError
	if !errors.As(err, &s) || s.code != http.StatusTooManyRequests {
		return 0, false
	}
	return s.retryAfter, true
}

func (e *statusError) Error() string { return e.text }
func (e *statusError) Unwrap() error { return e.sentry }

// statusOf returns the HTTP status carried by err, 0 if none.
func statusOf(err error) int {
	var s *statusError
	if errors.As(err, &s) {
		return s.code
	}
	return 0
}

// newStatusError builds the error for a non-2xx answer. body is the start of
// the response body, which registries fill with {"errors":[{code,message}]}.
// A token endpoint's 404 is not a missing image: token says so.
func newStatusError(code int, body []byte, token bool) *statusError {
	e := &statusError{code: code, text: fmt.Sprintf("%d %s", code, http.StatusText(code))}
	var doc struct {
		Errors []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	unknown := false
	if json.Unmarshal(body, &doc) == nil {
		for i, d := range doc.Errors {
			if i == 3 { // enough to tell what happened; the rest would bloat logs
				break
			}
			e.text += ": " + oneLine(d.Code+": "+d.Message, 200)
			switch d.Code {
			case "MANIFEST_UNKNOWN", "BLOB_UNKNOWN", "NAME_UNKNOWN":
				unknown = true
			}
		}
	}
	switch {
	case token && (code == http.StatusUnauthorized || code == http.StatusForbidden):
		e.sentry = ErrUnauthorized
	case token:
	case code == http.StatusNotFound || unknown:
		e.sentry = ErrNotFound
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		e.sentry = ErrUnauthorized
	}
	return e
}

// oneLine keeps upstream-provided text to one short line, so that a hostile
// or broken upstream cannot forge log lines or flood error messages.
func oneLine(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}

// cleanError drops the *url.Error layer of an http.Client error: it repeats
// the method and URL that Error.Op already names.
func cleanError(err error) error {
	var u *url.Error
	if errors.As(err, &u) {
		return u.Err
	}
	return err
}

// tooLargeError is an answer larger than the client accepts.
type tooLargeError struct{ limit int64 }

func (e *tooLargeError) Error() string {
	return fmt.Sprintf("response larger than %d bytes", e.limit)
}

// timeoutError is the per-request timeout firing (no headers, or a stalled
// body); it is retryable and reported as a timeout.
type timeoutError struct{ msg string }

func (e *timeoutError) Error() string { return e.msg }
func (e *timeoutError) Timeout() bool { return true }
