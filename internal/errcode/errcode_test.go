package errcode

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
)

type coder struct{}

func (coder) Error() string { return "upstream down: dial tcp 10.0.0.1:443" }
func (coder) OCIError() *Error {
	return New(Unavailable, "upstream down").WithStatus(http.StatusBadGateway)
}

func TestFrom(t *testing.T) {
	for _, tt := range []struct {
		err    error
		code   Code
		status int
	}{
		{New(TagInvalid, "x"), TagInvalid, 400},
		{fmt.Errorf("wrapped: %w", New(TagInvalid, "x").WithStatus(499)), TagInvalid, 499},
		{coder{}, Unavailable, 502},
		{fmt.Errorf("fetching: %w", coder{}), Unavailable, 502},
		{context.Canceled, Unavailable, 503},
		{fmt.Errorf("put: %w", syscall.ENOSPC), Unavailable, 507},
		{errors.New("boom"), Unknown, 500},
	} {
		e := From(tt.err)
		if e.Code != tt.code || e.HTTPStatus() != tt.status {
			t.Errorf("From(%v) = %s %d, want %s %d", tt.err, e.Code, e.HTTPStatus(), tt.code, tt.status)
		}
		if _, answer := tt.err.(*Error); !answer && e.Cause != tt.err {
			t.Errorf("From(%v) lost the cause: %v", tt.err, e.Cause)
		}
	}
	// A copy: adding a header to one answer does not change the error.
	orig := New(Denied, "no").WithHeader("A", "1")
	c := From(orig)
	c.WithHeader("B", "2")
	if orig.Header.Get("B") != "" {
		t.Error("From returned the error itself, not a copy")
	}
	// The cause is for the log only.
	if e := From(coder{}); e.Message != "upstream down" {
		t.Errorf("message %q", e.Message)
	}
	for _, c := range Codes() {
		if s := c.Status(); s < 400 || s > 599 {
			t.Errorf("%s: status %d", c, s)
		}
	}
}

func TestWrite(t *testing.T) {
	rec := httptest.NewRecorder()
	rec.Header().Set("Docker-Content-Digest", "sha256:x")
	e := New(Unauthorized, "wrong password").WithHeader("WWW-Authenticate", "Basic realm=x")
	e.OAuth = "invalid_grant"
	Write(rec, httptest.NewRequest(http.MethodPost, "/auth/token", nil), e)
	if rec.Code != 401 || rec.Header().Get("Docker-Content-Digest") != "" || rec.Header().Get("WWW-Authenticate") != "Basic realm=x" {
		t.Errorf("%d %v", rec.Code, rec.Header())
	}
	var body struct {
		Errors []struct{ Code, Message string } `json:"errors"`
		Error  string                           `json:"error"`
		Desc   string                           `json:"error_description"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || len(body.Errors) != 1 || body.Errors[0].Code != "UNAUTHORIZED" ||
		body.Error != "invalid_grant" || body.Desc != "wrong password" {
		t.Errorf("body %s: %v", rec.Body, err)
	}
}
