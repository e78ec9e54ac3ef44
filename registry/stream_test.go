package registry

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/shadowreg/shadowreg/storage"
	"github.com/shadowreg/shadowreg/storage/driver"
	"github.com/shadowreg/shadowreg/storage/driver/filesystem"
)

// brokenDriver is the filesystem driver whose blob readers fail after
// limit bytes, as a disk or a remote store can mid-stream.
type brokenDriver struct {
	driver.Driver
	limit int64
	mu    sync.Mutex
	armed bool
}

var errBroken = errors.New("storage broke mid-stream")

func (d *brokenDriver) arm() { d.mu.Lock(); d.armed = true; d.mu.Unlock() }

func (d *brokenDriver) Reader(ctx context.Context, path string, offset int64) (io.ReadCloser, error) {
	rc, err := d.Driver.Reader(ctx, path, offset)
	d.mu.Lock()
	armed := d.armed
	d.mu.Unlock()
	if err != nil || !armed || !strings.HasPrefix(path, "blobs/") {
		return rc, err
	}
	return &brokenReader{r: io.LimitReader(rc, d.limit), c: rc}, nil
}

type brokenReader struct {
	r io.Reader
	c io.Closer
}

func (b *brokenReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		err = errBroken
	}
	return n, err
}

func (b *brokenReader) Close() error { return b.c.Close() }

// syncBuffer is a log destination safe for concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// brokenStreamServer serves the seed over a driver whose blob readers break
// after 1000 bytes, over proto ("HTTP/1.1" or "HTTP/2"), logging to logs.
func brokenStreamServer(t *testing.T, proto string, logs io.Writer) (*httptest.Server, *http.Client) {
	t.Helper()
	fs, err := filesystem.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	bd := &brokenDriver{Driver: fs, limit: 1000}
	store := storage.New(bd, storage.Options{})
	seed(t, store)
	srv := httptest.NewUnstartedServer(New(Options{
		Resolver: testResolver(store),
		Logger:   slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}))
	client := http.DefaultClient
	if proto == "HTTP/2" {
		srv.EnableHTTP2 = true
		srv.StartTLS()
		client = srv.Client()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	bd.arm()
	return srv, client
}

// A blob whose storage fails mid-stream must not reach the client as a
// complete, short response: the client has to see the transfer fail, over
// HTTP/1.1 and HTTP/2 alike, and the server keeps serving.
func TestBlobStreamBreaks(t *testing.T) {
	t.Parallel()
	for _, proto := range []string{"HTTP/1.1", "HTTP/2"} {
		for _, rng := range []string{"", "bytes=0-1499", "bytes=100-"} {
			t.Run(proto+" range "+rng, func(t *testing.T) {
				t.Parallel()
				var logs syncBuffer
				srv, client := brokenStreamServer(t, proto, &logs)
				req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v2/seed/img/blobs/"+layerBlob.d.String(), nil)
				if rng != "" {
					req.Header.Set("Range", rng)
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Fatalf("GET: %v", err) // the headers went out before the body broke
				}
				if resp.ProtoMajor != int(proto[5]-'0') {
					t.Fatalf("served over %s, want %s", resp.Proto, proto)
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err == nil {
					t.Errorf("status %d: the client read %d of %s bytes and no error: a short body passed for a whole one",
						resp.StatusCode, len(body), resp.Header.Get("Content-Length"))
				}
				if len(body) > 1000 {
					t.Errorf("read %d bytes; the storage gave 1000", len(body))
				}
				if !bytes.HasPrefix(layerBlob.data[offsetOf(rng):], body) {
					t.Errorf("the bytes that did arrive are not the blob's")
				}
				if l := logs.String(); !strings.Contains(l, "blob stream broke") {
					t.Errorf("the broken stream was not logged:\n%s", l)
				}

				// The server goes on serving.
				resp, err = client.Get(srv.URL + "/v2/")
				if err != nil || resp.StatusCode != http.StatusOK {
					t.Fatalf("GET /v2/ after the broken stream: %v %v", resp, err)
				}
				resp.Body.Close()
			})
		}
	}
}

// blobGet aborts a broken stream with panic(http.ErrAbortHandler), which
// net/http turns into a dropped connection without logging. The request
// middleware must let it through, not recover it and log an error-level
// "handler panicked" for every broken or abandoned download.
func TestBlobStreamAbortIsNotAPanic(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	srv, client := brokenStreamServer(t, "HTTP/1.1", &logs)
	resp, err := client.Get(srv.URL + "/v2/seed/img/blobs/" + layerBlob.d.String())
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if l := logs.String(); strings.Contains(l, "panicked") {
		t.Errorf("http.ErrAbortHandler was recovered and logged as a handler panic:\n%s", l)
	}
}

func offsetOf(rng string) int {
	if rng == "bytes=100-" {
		return 100
	}
	return 0
}
