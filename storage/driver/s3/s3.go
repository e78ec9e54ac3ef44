// Package s3 stores shadowreg's content in an S3-compatible object store
// (AWS S3, MinIO, Ceph RGW).
//
// It uses minio-go v7: a small client, written S3-compatible-first (path-style
// addressing, custom endpoints and CAs are first-class), whose Core type
// exposes the raw multipart primitives (NewMultipartUpload, PutObjectPart,
// CompleteMultipartUpload) that a streaming, resumable writer needs.
//
// The driver keeps no state in the process: several registry replicas share
// a bucket, and an upload begun on one is continued on another. A writer's
// progress therefore lives in the bucket, beside the content, in keys that
// List, Walk and Stat never see (see layout.go).
package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/shadowreg/shadowreg/storage/driver"
)

// name is the driver's name in logs and errors.
const name = "s3"

// Driver implements driver.Driver and driver.URLer on a bucket.
type Driver struct {
	core     *minio.Core
	bucket   string
	layout   layout
	partSize int64
	copyPart int64 // objects above it are copied in parts of it (tests lower it)
	redirect bool
	expiry   time.Duration // default presigned URL lifetime
	endpoint string        // for error messages
}

var (
	_ driver.Driver = (*Driver)(nil)
	_ driver.URLer  = (*Driver)(nil)
)

// New connects to the object store and checks that the bucket exists.
func New(ctx context.Context, c Config) (*Driver, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	host, opts, err := c.clientOptions()
	if err != nil {
		return nil, err
	}
	core, err := minio.NewCore(host, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	expiry, _ := c.redirectExpiry() // checked by Validate
	d := &Driver{
		core:     core,
		bucket:   c.Bucket,
		layout:   newLayout(c.root()),
		partSize: c.partSize(),
		copyPart: maxCopySize,
		redirect: c.Redirect,
		expiry:   expiry,
		endpoint: core.EndpointURL().String(),
	}
	ok, err := core.BucketExists(ctx, c.Bucket)
	if err != nil {
		return nil, fmt.Errorf("%s: checking bucket %q at %s: %w", name, c.Bucket, d.endpoint, err)
	}
	if !ok {
		return nil, fmt.Errorf("%s: bucket %q does not exist at %s", name, c.Bucket, d.endpoint)
	}
	return d, nil
}

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

// PutContent implements driver.Driver: one PutObject, which S3 applies
// atomically and durably.
func (d *Driver) PutContent(ctx context.Context, path string, content []byte) error {
	if err := validate(path); err != nil {
		return err
	}
	return d.wrap("put", path, d.put(ctx, d.layout.data(path), content))
}

// contentType is what S3 hands out with presigned URLs; the registry sets the
// real media type on its own responses.
const contentType = "application/octet-stream"

// Reader implements driver.Driver: a ranged GetObject streamed from the
// object store.
func (d *Driver) Reader(ctx context.Context, path string, offset int64) (io.ReadCloser, error) {
	if err := validate(path); err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, fmt.Errorf("%s: read %s: negative offset %d", name, path, offset)
	}
	var opts minio.GetObjectOptions
	if offset > 0 {
		if err := opts.SetRange(offset, 0); err != nil {
			return nil, err
		}
	}
	body, _, _, err := d.core.GetObject(ctx, d.bucket, d.layout.data(path), opts)
	if err == nil {
		return body, nil
	}
	// S3 refuses a range that starts at the end (416); the contract wants an
	// empty reader there.
	if offset > 0 && errCode(err) == "InvalidRange" {
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

// Stat implements driver.Driver: HeadObject, else a "directory" when any key
// lies below path/.
func (d *Driver) Stat(ctx context.Context, path string) (driver.FileInfo, error) {
	if err := validate(path); err != nil {
		return driver.FileInfo{}, err
	}
	oi, err := d.core.StatObject(ctx, d.bucket, d.layout.data(path), minio.StatObjectOptions{})
	if err == nil {
		return driver.FileInfo{Path: path, Size: oi.Size, ModTime: oi.LastModified}, nil
	}
	if !isNotFound(err) {
		return driver.FileInfo{}, d.wrap("stat", path, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the listing after the first key
	for oi := range d.core.ListObjectsIter(ctx, d.bucket, minio.ListObjectsOptions{
		Prefix: d.layout.dataDir(path), Recursive: true, MaxKeys: 1, FetchOwner: new(false),
	}) {
		if oi.Err != nil {
			return driver.FileInfo{}, d.wrap("stat", path, oi.Err)
		}
		return driver.FileInfo{Path: path, IsDir: true}, nil
	}
	if err := ctx.Err(); err != nil {
		return driver.FileInfo{}, err
	}
	return driver.FileInfo{}, notFound(path, "")
}

// StatFile implements driver.FileStater: one HEAD, no listing.
func (d *Driver) StatFile(ctx context.Context, path string) (driver.FileInfo, error) {
	if err := validate(path); err != nil {
		return driver.FileInfo{}, err
	}
	oi, err := d.core.StatObject(ctx, d.bucket, d.layout.data(path), minio.StatObjectOptions{})
	if isNotFound(err) {
		return driver.FileInfo{}, notFound(path, "")
	}
	if err != nil {
		return driver.FileInfo{}, d.wrap("stat", path, err)
	}
	return driver.FileInfo{Path: path, Size: oi.Size, ModTime: oi.LastModified}, nil
}

// CommitsAtomically implements driver.AtomicCommitter: a writer's content
// is an object only once its PUT or multipart upload completes.
func (d *Driver) CommitsAtomically() {}

// List implements driver.Driver: one delimited listing of path/.
func (d *Driver) List(ctx context.Context, path string) ([]string, error) {
	if err := validate(path); err != nil {
		return nil, err
	}
	var out []string
	for oi := range d.core.ListObjectsIter(ctx, d.bucket, minio.ListObjectsOptions{
		Prefix: d.layout.dataDir(path), FetchOwner: new(false),
	}) {
		if oi.Err != nil {
			return nil, d.wrap("list", path, oi.Err)
		}
		// Keys come first, then common prefixes ("dir/"): the trailing slash goes.
		out = append(out, strings.TrimSuffix(d.layout.pathOf(oi.Key), "/"))
	}
	if err := ctx.Err(); err != nil { // the iterator ends silently on cancellation
		return nil, err
	}
	if len(out) == 0 {
		return nil, notFound(path, "")
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// Walk implements driver.Driver with one recursive listing, which S3 returns
// in key order: lexical order of path.
func (d *Driver) Walk(ctx context.Context, path string, fn func(driver.FileInfo) error) error {
	if err := validate(path); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the listing when fn ends the walk early
	for oi := range d.core.ListObjectsIter(ctx, d.bucket, minio.ListObjectsOptions{
		Prefix: d.layout.dataDir(path), Recursive: true, FetchOwner: new(false),
	}) {
		if oi.Err != nil {
			return d.wrap("walk", path, oi.Err)
		}
		err := fn(driver.FileInfo{Path: d.layout.pathOf(oi.Key), Size: oi.Size, ModTime: oi.LastModified})
		if errors.Is(err, driver.SkipAll) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return ctx.Err()
}

// Move implements driver.Driver: a server-side copy, then a delete of src.
// The copy replaces dst atomically; objects above 5 GiB are copied in parts
// (UploadPartCopy), still inside the object store.
func (d *Driver) Move(ctx context.Context, src, dst string) error {
	if err := validate(src); err != nil {
		return err
	}
	if err := validate(dst); err != nil {
		return err
	}
	oi, err := d.core.StatObject(ctx, d.bucket, d.layout.data(src), minio.StatObjectOptions{})
	if err != nil {
		return d.wrap("move", src, err)
	}
	if src == dst {
		return nil
	}
	from := minio.CopySrcOptions{Bucket: d.bucket, Object: d.layout.data(src), MatchETag: oi.ETag}
	to := minio.CopyDestOptions{Bucket: d.bucket, Object: d.layout.data(dst), PartSize: uint64(d.copyPart)}
	err = retryRace(ctx, func() error {
		if oi.Size <= d.copyPart {
			_, err := d.core.Client.CopyObject(ctx, to, from)
			return err
		}
		_, err := d.core.ComposeObject(ctx, to, from)
		return err
	})
	if isNotFound(err) {
		return notFound(src, "")
	}
	if err != nil {
		return fmt.Errorf("%s: move %s to %s: %w", name, src, dst, err)
	}
	err = d.core.RemoveObject(ctx, d.bucket, d.layout.data(src), minio.RemoveObjectOptions{})
	return d.wrap("move: remove source", src, err)
}

// URLFor implements driver.URLer: a presigned GET when redirects are enabled.
// It does not check that path exists (callers Stat first); expiry <= 0 takes
// the configured default.
func (d *Driver) URLFor(ctx context.Context, path string, expiry time.Duration) (string, error) {
	if !d.redirect {
		return "", fmt.Errorf("%s: redirects are disabled (s3.redirect)", name)
	}
	if err := validate(path); err != nil {
		return "", err
	}
	if expiry <= 0 {
		expiry = d.expiry
	}
	expiry = min(expiry, maxRedirectExpiry)
	u, err := d.core.PresignedGetObject(ctx, d.bucket, d.layout.data(path), expiry, nil)
	if err != nil {
		return "", d.wrap("presign", path, err)
	}
	return u.String(), nil
}

// errCode is the S3 error code of err ("NoSuchKey"), or "".
func errCode(err error) string {
	var er minio.ErrorResponse
	if errors.As(err, &er) {
		return er.Code
	}
	return ""
}

// isNotFound: the key, the upload or the part is not there.
func isNotFound(err error) bool {
	var er minio.ErrorResponse
	if !errors.As(err, &er) {
		return false
	}
	switch er.Code {
	case "NoSuchKey", "NoSuchUpload", "NotFound":
		return true
	}
	return er.StatusCode == http.StatusNotFound && er.Code != "NoSuchBucket"
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

// isUnavailable: the object store could not be reached or failed on its
// side (a refused or broken connection, a timeout, a 5xx or SlowDown), as
// opposed to refusing the request itself. minio-go has already retried
// these; what is left is an outage the caller should wait out.
func isUnavailable(err error) bool {
	var er minio.ErrorResponse
	if errors.As(err, &er) {
		switch er.Code {
		case "ServiceUnavailable", "SlowDown", "InternalError", "RequestTimeout", "XMinioServerNotInitialized":
			return true
		}
		return er.StatusCode >= 500
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false // the caller gave up; not the store's fault
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED)
}

// notFound wraps driver.ErrNotFound for path, keeping why in the message.
func notFound(path, why string) error {
	if why == "" {
		return driver.NotFound(name, path)
	}
	return fmt.Errorf("%s: %s: %s: %w", name, path, why, driver.ErrNotFound)
}
