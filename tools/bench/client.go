package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// The Accept header containerd sends for a manifest by tag.
const manifestAccept = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, " +
	"application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json"

// newClient returns a keep-alive client with room for conns idle connections. Each
// target gets its own so connection pools never mix between servers.
func newClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:               nil, // loopback only, never through a proxy
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        2 * conns,
		MaxIdleConnsPerHost: 2 * conns,
		IdleConnTimeout:     2 * time.Minute,
		DisableCompression:  true, // blobs are incompressible; gzip would only cost CPU
		// Large buffers: fewer syscalls per MiB in the client, which shares 2 cores with the server.
		ReadBufferSize:  256 << 10,
		WriteBufferSize: 256 << 10,
	}}
}

// httpError reports an unexpected status with the start of the body, which is where
// registries put their error code.
func httpError(op string, resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return fmt.Errorf("%s: %s: %s", op, resp.Status, strings.TrimSpace(string(b)))
}

// drain reads the rest of a small body so the connection goes back to the pool.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
}

// resolve turns a Location header (absolute or relative) into a URL.
func resolve(base *url.URL, loc string) (*url.URL, error) {
	if loc == "" {
		return nil, fmt.Errorf("no Location header")
	}
	u, err := url.Parse(loc)
	if err != nil {
		return nil, err
	}
	return base.ResolveReference(u), nil
}

func withDigest(u *url.URL, digest string) string {
	q := u.Query()
	q.Set("digest", digest)
	v := *u
	v.RawQuery = q.Encode()
	return v.String()
}

// startUpload opens an upload session and returns its location.
func startUpload(ctx context.Context, c *http.Client, base, name string) (*url.URL, error) {
	u := base + "/v2/" + name + "/blobs/uploads/"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer drain(resp)
	if resp.StatusCode != http.StatusAccepted {
		return nil, httpError("POST upload", resp)
	}
	return resolve(resp.Request.URL, resp.Header.Get("Location"))
}

// pushBlob pushes the blob file the way docker and containerd do: POST, one PATCH
// streaming the whole body, PUT ?digest=. With chunked the PATCH has no
// Content-Length and net/http sends 32 KiB chunks, as it does for docker (bigger
// chunks change the server's side: its chunked reader blocks until a whole chunk
// fills its buffer). Without chunked it sends Content-Length and uses sendfile.
func pushBlob(ctx context.Context, c *http.Client, base, name string, b *blobFile, chunked bool) (time.Duration, error) {
	f, err := os.Open(b.Path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return pushStream(ctx, c, base, name, f, b.Size, b.Digest, chunked)
}

// pushStream is pushBlob for any reader of size bytes with the given digest
// (a file, or a generated stream: nothing is held in memory).
func pushStream(ctx context.Context, c *http.Client, base, name string, body io.Reader, size int64, digest string, chunked bool) (time.Duration, error) {
	start := time.Now()
	loc, err := startUpload(ctx, c, base, name)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPatch, loc.String(), body)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	req.ContentLength = -1
	if !chunked {
		req.ContentLength = size
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, fmt.Errorf("PATCH: %w", err)
	}
	drain(resp)
	if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusNoContent {
		return 0, httpError("PATCH", resp)
	}
	if loc, err = resolve(resp.Request.URL, resp.Header.Get("Location")); err != nil {
		return 0, fmt.Errorf("PATCH: %w", err)
	}
	if err := putUpload(ctx, c, loc, digest, nil); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// putUpload closes an upload session, optionally with the (small) content as body.
func putUpload(ctx context.Context, c *http.Client, loc *url.URL, digest string, data []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, withDigest(loc, digest), bytes.NewReader(data))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("PUT upload: %w", err)
	}
	defer drain(resp)
	if resp.StatusCode != http.StatusCreated {
		return httpError("PUT upload", resp)
	}
	return nil
}

// pushSmall uploads a small blob monolithically (POST, then PUT with the body).
func pushSmall(ctx context.Context, c *http.Client, base, name string, b smallBlob) error {
	loc, err := startUpload(ctx, c, base, name)
	if err != nil {
		return err
	}
	return putUpload(ctx, c, loc, b.Digest, b.Data)
}

// blobExists asks with HEAD whether the registry already holds a blob.
func blobExists(ctx context.Context, c *http.Client, base, name, digest string) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, base+"/v2/"+name+"/blobs/"+digest, nil)
	if err != nil {
		return false, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return false, err
	}
	drain(resp)
	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound:
		return false, nil
	}
	return false, fmt.Errorf("HEAD blob: %s", resp.Status)
}

// pullBlob GETs a blob, checks the size and, if asked, the digest.
func pullBlob(ctx context.Context, c *http.Client, base, name string, b *blobFile, verify bool, buf []byte) (time.Duration, error) {
	start := time.Now()
	if err := getBlob(ctx, c, base, name, b.Digest, b.Size, verify, buf); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// getBlob GETs a blob of a known size and reads the body into a reused buffer,
// discarding it (not io.Discard, whose ReadFrom reads 8 KiB at a time), checking
// the size and, with verify, the digest. Redirects (to object storage) are
// followed.
func getBlob(ctx context.Context, c *http.Client, base, name, digest string, size int64, verify bool, buf []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v2/"+name+"/blobs/"+digest, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return httpError("GET blob "+short(digest), resp)
	}
	if resp.ContentLength >= 0 && resp.ContentLength != size {
		return fmt.Errorf("GET blob %s: Content-Length %d, want %d", short(digest), resp.ContentLength, size)
	}
	h := sha256.New()
	var n int64
	for {
		m, err := resp.Body.Read(buf)
		n += int64(m)
		if verify {
			h.Write(buf[:m])
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("GET blob %s after %d bytes: %w", short(digest), n, err)
		}
		if n > size {
			return fmt.Errorf("GET blob %s: more than %d bytes", short(digest), size)
		}
	}
	if n != size {
		return fmt.Errorf("GET blob %s: got %d bytes, want %d", short(digest), n, size)
	}
	if verify {
		if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != digest {
			return fmt.Errorf("GET blob: digest %s, want %s", got, digest)
		}
	}
	return nil
}

// short is a digest cut to its first 12 hex digits, for messages.
func short(digest string) string {
	_, hexd, _ := strings.Cut(digest, ":")
	if len(hexd) > 12 {
		hexd = hexd[:12]
	}
	return hexd
}

// putManifest stores a manifest under a tag.
func putManifest(ctx context.Context, c *http.Client, base, name, tag, mediaType string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, base+"/v2/"+name+"/manifests/"+tag, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", mediaType)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer drain(resp)
	if resp.StatusCode != http.StatusCreated {
		return httpError("PUT manifest", resp)
	}
	return nil
}

// getManifest fetches a manifest into buf[:0] and returns its length. Any status
// other than 200 is an error, so the load loop can count it.
func getManifest(ctx context.Context, c *http.Client, u string, buf *bytes.Buffer) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept", manifestAccept)
	if a, ok := c.Transport.(authTransport); ok {
		// As a client does: the credentials go on the request it builds,
		// which the transport then sends without copying it (the auth
		// case compares this loop with the open one).
		req.Header.Set("Authorization", a.header)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	buf.Reset()
	if _, err := buf.ReadFrom(io.LimitReader(resp.Body, 4<<20)); err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET manifest: %s", resp.Status)
	}
	return buf.Len(), nil
}
