package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"
)

// Blob streams repo's blob d from offset. It returns the blob's total size
// (-1 if the upstream does not say) and a reader of the bytes from offset to
// the end. Redirects to object stores and CDNs are followed. A stream that
// breaks is resumed from the bytes received with a Range request, at most
// Options.Resumes times; past that, Read fails with an error wrapping
// io.ErrUnexpectedEOF, never a silent short read. ctx governs the whole
// stream; Close (or cancelling ctx) aborts it. The caller verifies the
// digest while it stores the bytes.
func (c *Client) Blob(ctx context.Context, repo string, d digest.Digest, offset int64) (io.ReadCloser, int64, error) {
	r, err := c.blobRequest(http.MethodGet, repo, d)
	if err != nil {
		return nil, 0, err
	}
	if offset < 0 {
		return nil, 0, fmt.Errorf("upstream %s: negative blob offset %d", c.name, offset)
	}
	ctx, cancel := context.WithCancel(ctx)
	b := &blobReader{c: c, ctx: ctx, cancel: cancel, r: r, digest: d, total: -1}
	if err := b.open(offset); err != nil {
		cancel()
		return nil, 0, c.fail(r, err)
	}
	return b, b.total, nil
}

// BlobHead returns the size of repo's blob d.
func (c *Client) BlobHead(ctx context.Context, repo string, d digest.Digest) (int64, error) {
	r, err := c.blobRequest(http.MethodHead, repo, d)
	if err != nil {
		return 0, err
	}
	resp, _, err := c.send(ctx, r)
	if err != nil {
		return 0, c.fail(r, err)
	}
	resp.Body.Close()
	if err := checkBlobDigest(resp.Header, d); err != nil {
		return 0, c.fail(r, err)
	}
	if resp.ContentLength >= 0 {
		return resp.ContentLength, nil
	}
	// No Content-Length on the HEAD (some CDNs): the GET's headers tell.
	rc, size, err := c.Blob(ctx, repo, d, 0)
	if err != nil {
		return 0, err
	}
	rc.Close()
	if size < 0 {
		return 0, c.fail(r, errors.New("upstream reports no blob size"))
	}
	return size, nil
}

func (c *Client) blobRequest(method, repo string, d digest.Digest) (*request, error) {
	repo, err := c.repoName(repo)
	if err != nil {
		return nil, err
	}
	if err := c.checkDigest(d); err != nil {
		return nil, err
	}
	return &request{op: "blob", method: method, url: c.endpoint(repo, "blobs", d.String()),
		what: repo + "@" + d.String(), scope: pullScope(repo)}, nil
}

// checkBlobDigest rejects an answer for another blob. Registries send
// Docker-Content-Digest; object stores behind a redirect do not.
func checkBlobDigest(h http.Header, d digest.Digest) error {
	if v := h.Get("Docker-Content-Digest"); v != "" && v != d.String() {
		return fmt.Errorf("upstream answered with blob %s", oneLine(v, 100))
	}
	return nil
}

// blobReader is a blob stream that resumes itself where it broke.
type blobReader struct {
	c      *Client
	ctx    context.Context
	cancel context.CancelFunc
	r      *request
	digest digest.Digest

	mu      sync.Mutex // one Read at a time; Close waits for it (after cancelling it)
	body    io.ReadCloser
	pos     int64 // offset in the blob of the next byte
	total   int64 // blob size, -1 unknown
	resumes int
	err     error // sticky: io.EOF or the failure
}

// open requests the blob from offset from and positions the stream there.
func (b *blobReader) open(from int64) error {
	r := *b.r
	r.header = http.Header{}
	if from > 0 {
		r.header.Set("Range", "bytes="+strconv.FormatInt(from, 10)+"-")
	}
	resp, _, err := b.c.send(b.ctx, &r)
	if err != nil {
		return err
	}
	total := int64(-1)
	switch resp.StatusCode {
	case http.StatusPartialContent:
		start, size, err := parseContentRange(resp.Header.Get("Content-Range"))
		if err != nil || start != from {
			resp.Body.Close()
			return fmt.Errorf("asked for bytes=%d-, upstream answered Content-Range %q", from,
				oneLine(resp.Header.Get("Content-Range"), 100))
		}
		total = size
	case http.StatusOK:
		total = resp.ContentLength
		if from > 0 { // the upstream ignores ranges: skip what we have
			if _, err := io.CopyN(io.Discard, resp.Body, from); err != nil {
				resp.Body.Close()
				return fmt.Errorf("skipping to offset %d: %w", from, err)
			}
		}
	default:
		resp.Body.Close()
		return fmt.Errorf("unexpected status %s", resp.Status)
	}
	if err := checkBlobDigest(resp.Header, b.digest); err != nil {
		resp.Body.Close()
		return err
	}
	if b.total >= 0 && total >= 0 && total != b.total {
		resp.Body.Close()
		return fmt.Errorf("blob size changed from %d to %d between requests", b.total, total)
	}
	if total >= 0 && from > total {
		resp.Body.Close()
		return fmt.Errorf("offset %d beyond the blob's %d bytes", from, total)
	}
	if total >= 0 {
		b.total = total
	}
	b.body, b.pos = resp.Body, from
	return nil
}

func (b *blobReader) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	// Bounded: each pass either returns or spends one resume.
	for {
		if b.err != nil {
			return 0, b.err
		}
		if b.body == nil {
			if err := b.resume(); err != nil {
				b.err = b.c.fail(b.r, fmt.Errorf("%w: resuming at byte %d of %s: %w",
					io.ErrUnexpectedEOF, b.pos, sizeString(b.total), err))
				return 0, b.err
			}
		}
		n, err := b.body.Read(p)
		b.pos += int64(n)
		if b.total >= 0 && b.pos > b.total {
			b.closeBody()
			b.err = b.c.fail(b.r, fmt.Errorf("upstream sent more than the blob's %d bytes", b.total))
			return 0, b.err
		}
		if err == nil {
			return n, nil
		}
		if err == io.EOF && (b.total < 0 || b.pos == b.total) {
			b.closeBody()
			b.err = io.EOF
			return n, io.EOF
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF // the connection ended before the size it announced
		}
		b.closeBody()
		if b.ctx.Err() != nil {
			b.err = b.c.fail(b.r, b.ctx.Err())
			return n, b.err
		}
		if !retryable(err) || b.resumes >= b.c.resumes {
			b.err = b.c.fail(b.r, fmt.Errorf("%w: stream broke at byte %d of %s after %d resumes: %w",
				io.ErrUnexpectedEOF, b.pos, sizeString(b.total), b.resumes, err))
			return n, b.err
		}
		b.c.log.Warn("upstream blob stream broke, resuming", "what", b.r.what, "at", b.pos,
			"size", b.total, "resume", b.resumes+1, "err", err)
		if n > 0 {
			return n, nil // hand over what came; the next Read resumes
		}
	}
}

// resume reopens the stream at b.pos after a backoff.
func (b *blobReader) resume() error {
	wait := b.c.backoffFor(b.resumes)
	b.resumes++
	if err := b.c.sleep(b.ctx, wait); err != nil {
		return err
	}
	return b.open(b.pos)
}

func (b *blobReader) closeBody() {
	if b.body != nil {
		b.body.Close()
		b.body = nil
	}
}

// Close ends the stream; it may be called while a Read is blocked.
func (b *blobReader) Close() error {
	b.cancel() // unblocks a Read in flight
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closeBody()
	if b.err == nil {
		b.err = errors.New("read of closed blob stream")
	}
	return nil
}

func sizeString(n int64) string {
	if n < 0 {
		return "unknown"
	}
	return strconv.FormatInt(n, 10)
}

// parseContentRange reads "bytes <start>-<end>/<size>"; size is -1 for "*".
func parseContentRange(v string) (start, size int64, err error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(v), "bytes ")
	if !ok {
		return 0, 0, fmt.Errorf("not a byte range: %q", v)
	}
	span, total, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, fmt.Errorf("no size: %q", v)
	}
	first, last, ok := strings.Cut(span, "-")
	if !ok {
		return 0, 0, fmt.Errorf("no span: %q", v)
	}
	start, err1 := strconv.ParseInt(first, 10, 64)
	end, err2 := strconv.ParseInt(last, 10, 64)
	if err1 != nil || err2 != nil || start < 0 || end < start {
		return 0, 0, fmt.Errorf("bad span: %q", v)
	}
	size = -1
	if total != "*" {
		if size, err = strconv.ParseInt(total, 10, 64); err != nil || size <= end {
			return 0, 0, fmt.Errorf("bad size: %q", v)
		}
	}
	return start, size, nil
}
