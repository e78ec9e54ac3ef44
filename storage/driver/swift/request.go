package swift

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/gophercloud/gophercloud/v2"

	"github.com/shadowreg/shadowreg/storage/driver"
)

// req is one request on an object of the container, or on the container
// itself when name is "".
type req struct {
	method string
	name   string
	query  url.Values
	header map[string]string
	body   []byte // sent with its MD5 as ETag when etag is set
	etag   bool
	ok     []int
}

// objectURL is the URL of object name in the container, each path segment
// escaped.
func (d *Driver) objectURL(name string) string {
	u := d.sc.Endpoint + url.PathEscape(d.container)
	if name == "" {
		return u
	}
	return u + "/" + escapePath(name)
}

// retries is how often an idempotent request is retried after the store
// failed on its side (5xx, a broken connection): gophercloud retries only
// 429/498, and one proxy restart should not fail a push.
const retries = 2

// do sends r and returns the response, its body open (the caller closes
// it). Answers outside r.ok are errors, after retries for outages.
func (d *Driver) do(ctx context.Context, r req) (*http.Response, error) {
	u := d.objectURL(r.name)
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	h := map[string]string{"Accept": "*/*"}
	for k, v := range r.header {
		h[k] = v
	}
	if r.etag {
		sum := md5.Sum(r.body)
		h["ETag"] = hex.EncodeToString(sum[:])
	}
	for i := 0; ; i++ {
		opts := &gophercloud.RequestOpts{MoreHeaders: h, OkCodes: r.ok, KeepResponseBody: true}
		if r.body != nil || r.method == http.MethodPut {
			opts.RawBody = bytes.NewReader(r.body)
		}
		resp, err := d.sc.ProviderClient.Request(ctx, r.method, u, opts)
		if err == nil || i == retries || !isUnavailable(err) || ctx.Err() != nil {
			return resp, err
		}
		t := time.NewTimer(time.Duration(100<<i) * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
	}
}

// call sends r and drops the response body.
func (d *Driver) call(ctx context.Context, r req) (http.Header, error) {
	resp, err := d.do(ctx, r)
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.Header, nil
}

// put stores b at name with one PUT, checked against its MD5.
func (d *Driver) put(ctx context.Context, name string, b []byte, header map[string]string) (etag string, err error) {
	h := map[string]string{"Content-Type": contentType}
	for k, v := range header {
		h[k] = v
	}
	hdr, err := d.call(ctx, req{method: http.MethodPut, name: name, header: h, body: b, etag: true, ok: []int{201}})
	if err != nil {
		return "", err
	}
	return strings.Trim(hdr.Get("Etag"), `"`), nil
}

// getSmall reads a whole small object, at most limit bytes.
func (d *Driver) getSmall(ctx context.Context, name string, query url.Values, limit int64) ([]byte, http.Header, error) {
	resp, err := d.do(ctx, req{method: http.MethodGet, name: name, query: query, ok: []int{200}})
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, nil, err
	}
	if int64(len(b)) > limit {
		return nil, nil, fmt.Errorf("%s: %s: larger than %d bytes", name, name, limit)
	}
	return b, resp.Header, nil
}

// entry is one line of a JSON container listing: an object, or a subdir
// when listing with a delimiter.
type entry struct {
	Name         string `json:"name"`
	Bytes        int64  `json:"bytes"`
	LastModified string `json:"last_modified"`
	Subdir       string `json:"subdir"`
}

func (e entry) modTime() time.Time {
	t, _ := time.Parse("2006-01-02T15:04:05.999999", e.LastModified)
	return t
}

// listPage is how many names one listing request returns (Swift's maximum).
const listPage = 10000

// list calls fn for every name below prefix, in byte order, page by page;
// fn returning false stops it. With delim, names past it fold into subdirs.
func (d *Driver) list(ctx context.Context, prefix, delim string, fn func(entry) bool) error {
	marker := ""
	for {
		q := url.Values{"format": {"json"}, "prefix": {prefix}, "limit": {fmt.Sprint(listPage)}}
		if delim != "" {
			q.Set("delimiter", delim)
		}
		if marker != "" {
			q.Set("marker", marker)
		}
		b, _, err := d.getSmall(ctx, "", q, 64<<20)
		if err != nil {
			return err
		}
		var page []entry
		if err := json.Unmarshal(b, &page); err != nil {
			return fmt.Errorf("container listing: %v", err)
		}
		for _, e := range page {
			if !fn(e) {
				return nil
			}
			marker = e.Name + e.Subdir // one of them is set
		}
		if len(page) < listPage {
			return ctx.Err()
		}
	}
}

// anyBelow reports whether any name starts with prefix: one listing
// request of one name.
func (d *Driver) anyBelow(ctx context.Context, prefix string) (bool, error) {
	q := url.Values{"format": {"json"}, "prefix": {prefix}, "limit": {"1"}}
	b, _, err := d.getSmall(ctx, "", q, 1<<20)
	if err != nil {
		return false, err
	}
	var page []entry
	if err := json.Unmarshal(b, &page); err != nil {
		return false, fmt.Errorf("container listing: %v", err)
	}
	return len(page) > 0, nil
}

// status is the HTTP status of a Swift answer in err, or 0.
func status(err error) int {
	var ue gophercloud.ErrUnexpectedResponseCode
	if errors.As(err, &ue) {
		return ue.Actual
	}
	return 0
}

func isNotFound(err error) bool { return status(err) == http.StatusNotFound }

// isUnavailable: Swift could not be reached or failed on its side (a
// refused or broken connection, a timeout, a 5xx), as opposed to refusing
// the request.
func isUnavailable(err error) bool {
	// A 401 whose renewal failed: unavailable when the identity service is.
	var re *gophercloud.ErrUnableToReauthenticate
	if errors.As(err, &re) {
		return isUnavailable(re.ErrReauth)
	}
	if s := status(err); s != 0 {
		return s >= 500 || s == http.StatusTooManyRequests
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false // the caller gave up; not the store's fault
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE)
}

// wrap adds the driver, the operation and the path to err (nil stays nil).
func (d *Driver) wrap(op, path string, err error) error {
	if err == nil {
		return nil
	}
	if isNotFound(err) {
		return notFound(path, "")
	}
	if isUnavailable(err) {
		return fmt.Errorf("%s: %s %s: %w: %w", name, op, path, driver.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %s %s: %w", name, op, path, err)
}

// notFound wraps driver.ErrNotFound for path, keeping why in the message.
func notFound(path, why string) error {
	if why == "" {
		return driver.NotFound(name, path)
	}
	return fmt.Errorf("%s: %s: %s: %w", name, path, why, driver.ErrNotFound)
}
