// Package swift stores shadowreg's content in an OpenStack Swift container,
// the object store of OpenStack clouds (where Zuul's large deployments run,
// and where zuul-registry and Keppel keep their images).
//
// It uses gophercloud v2, the OpenStack SDK for Go that the OpenStack
// community maintains (Kubernetes' cloud provider, Terraform's provider):
// Keystone v3 with passwords and application credentials, v1/tempauth, the
// service catalog, token renewal and TempURL signing come with it. Object
// requests go through its ProviderClient (request.go), which re-authenticates
// on a 401, so the driver can set the headers and query parameters of static
// large objects itself.
//
// Content larger than a segment is a static large object (SLO): segments
// plus a manifest, since Swift refuses single objects over 5 GiB. The driver
// keeps no state in the process: a writer's progress lives in the container
// (layout.go), so replicas share one container and a chunked upload begun on
// one is finished on another.
package swift

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/objects"

	"github.com/shadowreg/shadowreg/storage/driver"
)

// name is the driver's name in logs and errors.
const name = "swift"

// contentType is what Swift hands out with TempURLs; the registry sets the
// real media type on its own responses.
const contentType = "application/octet-stream"

// Driver implements driver.Driver and driver.URLer on a container.
type Driver struct {
	sc          *gophercloud.ServiceClient
	container   string
	layout      layout
	segmentSize int64
	maxSegments int
	redirect    bool
	expiry      time.Duration
	tempURLKey  string
	listingLag  time.Duration
	noBulk      atomic.Bool // the cluster has no bulk middleware: delete one by one
}

var (
	_ driver.Driver        = (*Driver)(nil)
	_ driver.URLer         = (*Driver)(nil)
	_ driver.ListingLagger = (*Driver)(nil)
)

// New authenticates and checks that the container exists (and, with
// redirects, that a TempURL key is there to sign with).
func New(ctx context.Context, c Config) (*Driver, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	sc, err := connect(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	expiry, _ := c.redirectExpiry() // checked by Validate
	lag, _ := c.listingLag()
	d := &Driver{listingLag: lag,
		sc: sc, container: c.Container, layout: newLayout(c.root()),
		segmentSize: c.segmentSize(), maxSegments: c.maxSegments(),
		redirect: c.Redirect, expiry: expiry, tempURLKey: c.TempURLKey,
	}
	hdr, err := d.call(ctx, req{method: http.MethodHead, ok: []int{200, 204}})
	if isNotFound(err) {
		return nil, fmt.Errorf("%s: container %q does not exist at %s", name, c.Container, sc.Endpoint)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: checking container %q at %s: %w", name, c.Container, sc.Endpoint, err)
	}
	if d.redirect && d.tempURLKey == "" {
		if d.tempURLKey = hdr.Get("X-Container-Meta-Temp-Url-Key"); d.tempURLKey == "" {
			ahdr, err := d.accountHeader(ctx)
			if err != nil {
				return nil, fmt.Errorf("%s: reading the account's TempURL key: %w", name, err)
			}
			d.tempURLKey = ahdr.Get("X-Account-Meta-Temp-Url-Key")
		}
		if d.tempURLKey == "" {
			return nil, fmt.Errorf("%s: swift.redirect: no TempURL key on container %q or its account (set one, or swift.tempurl-key)",
				name, c.Container)
		}
	}
	return d, nil
}

func (d *Driver) accountHeader(ctx context.Context) (http.Header, error) {
	resp, err := d.sc.ProviderClient.Request(ctx, http.MethodHead, d.sc.Endpoint,
		&gophercloud.RequestOpts{OkCodes: []int{200, 204}, KeepResponseBody: true})
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	return resp.Header, nil
}

// ListingLag implements driver.ListingLagger: container listings are
// updated after a PUT returns (see delete.go).
func (d *Driver) ListingLag() time.Duration { return d.listingLag }

// Name implements driver.Driver.
func (d *Driver) Name() string { return name }

// GetContent implements driver.Driver.
func (d *Driver) GetContent(ctx context.Context, path string) ([]byte, error) {
	rc, err := d.Reader(ctx, path, 0)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, d.wrap("get", path, err)
	}
	return b, nil
}

// PutContent implements driver.Driver: one PUT, which Swift applies
// atomically and durably (it answers once a quorum has it). It does not look
// for a large object it replaces (a HEAD on every small write): the store
// never puts small content over a blob's path, and Writer.Commit and Move,
// which do replace large objects, remove the old segments.
func (d *Driver) PutContent(ctx context.Context, path string, content []byte) error {
	if err := validate(path); err != nil {
		return err
	}
	if int64(len(content)) > maxSegmentSize {
		return fmt.Errorf("%s: put %s: %d bytes is more than one object holds (use Writer)", name, path, len(content))
	}
	// 202 is Swift's answer to a PUT that lost to a concurrent one with a
	// newer timestamp (the proxy turns the object servers' 409 into it): the
	// path holds that writer's whole content, as if ours had been written
	// and then replaced — what PutContent promises concurrent writers.
	_, err := d.call(ctx, req{method: http.MethodPut, name: d.layout.data(path),
		header: map[string]string{"Content-Type": contentType}, body: content, etag: true, ok: []int{201, 202}})
	return d.wrap("put", path, err)
}

// Reader implements driver.Driver: a ranged GET streamed from Swift, which
// joins a large object's segments on its side.
func (d *Driver) Reader(ctx context.Context, path string, offset int64) (io.ReadCloser, error) {
	if err := validate(path); err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, fmt.Errorf("%s: read %s: negative offset %d", name, path, offset)
	}
	r := req{method: http.MethodGet, name: d.layout.data(path), ok: []int{200, 206}}
	if offset > 0 {
		r.header = map[string]string{"Range": fmt.Sprintf("bytes=%d-", offset)}
	}
	resp, err := d.do(ctx, r)
	if err == nil {
		return resp.Body, nil
	}
	// Swift refuses a range that starts at the end (416); the contract wants
	// an empty reader there.
	if offset > 0 && status(err) == http.StatusRequestedRangeNotSatisfiable {
		fi, serr := d.Stat(ctx, path)
		switch {
		case serr != nil:
			return nil, serr
		case fi.IsDir:
			return nil, notFound(path, "is a directory")
		case offset == fi.Size:
			return io.NopCloser(strings.NewReader("")), nil
		}
		return nil, fmt.Errorf("%s: read %s: offset %d beyond size %d", name, path, offset, fi.Size)
	}
	return nil, d.wrap("read", path, err)
}

// Stat implements driver.Driver: a HEAD, else a "directory" when the
// listing shows any name below path/.
func (d *Driver) Stat(ctx context.Context, path string) (driver.FileInfo, error) {
	if err := validate(path); err != nil {
		return driver.FileInfo{}, err
	}
	hdr, err := d.call(ctx, req{method: http.MethodHead, name: d.layout.data(path), ok: []int{200}})
	if err == nil {
		size, _ := strconv.ParseInt(hdr.Get("Content-Length"), 10, 64)
		mod, _ := http.ParseTime(hdr.Get("Last-Modified"))
		return driver.FileInfo{Path: path, Size: size, ModTime: mod}, nil
	}
	if !isNotFound(err) {
		return driver.FileInfo{}, d.wrap("stat", path, err)
	}
	found, err := d.anyBelow(ctx, d.layout.dataDir(path))
	if err != nil {
		return driver.FileInfo{}, d.wrap("stat", path, err)
	}
	if !found {
		return driver.FileInfo{}, notFound(path, "")
	}
	return driver.FileInfo{Path: path, IsDir: true}, nil
}

// List implements driver.Driver: one delimited listing of path/.
func (d *Driver) List(ctx context.Context, path string) ([]string, error) {
	if err := validate(path); err != nil {
		return nil, err
	}
	var out []string
	err := d.list(ctx, d.layout.dataDir(path), "/", func(e entry) bool {
		out = append(out, strings.TrimSuffix(d.layout.pathOf(e.Name+e.Subdir), "/"))
		return true
	})
	if err != nil {
		return nil, d.wrap("list", path, err)
	}
	if len(out) == 0 {
		return nil, notFound(path, "")
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// Walk implements driver.Driver with one recursive listing, which Swift
// returns in byte order of name: lexical order of path.
func (d *Driver) Walk(ctx context.Context, path string, fn func(driver.FileInfo) error) error {
	if err := validate(path); err != nil {
		return err
	}
	var ferr error
	err := d.list(ctx, d.layout.dataDir(path), "", func(e entry) bool {
		ferr = fn(driver.FileInfo{Path: d.layout.pathOf(e.Name), Size: e.Bytes, ModTime: e.modTime()})
		return ferr == nil
	})
	if errors.Is(ferr, driver.SkipAll) {
		return nil
	}
	if ferr != nil {
		return ferr
	}
	return d.wrap("walk", path, err)
}

// URLFor implements driver.URLer: a TempURL for GET when redirects are
// enabled. It does not check that path exists (callers Stat first); expiry
// <= 0 takes the configured default.
func (d *Driver) URLFor(ctx context.Context, path string, expiry time.Duration) (string, error) {
	if !d.redirect {
		return "", fmt.Errorf("%s: redirects are disabled (swift.redirect)", name)
	}
	if err := validate(path); err != nil {
		return "", err
	}
	if expiry <= 0 {
		expiry = d.expiry
	}
	expiry = min(expiry, maxRedirectExpiry)
	u, err := objects.CreateTempURL(ctx, d.sc, d.container, d.layout.data(path), objects.CreateTempURLOpts{
		Method: objects.GET, TTL: int(expiry.Seconds()), TempURLKey: d.tempURLKey, Digest: "sha256",
	})
	if err != nil {
		return "", d.wrap("tempurl", path, err)
	}
	return u, nil
}
