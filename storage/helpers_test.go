package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/shadowreg/shadowreg/storage/driver"
	"github.com/shadowreg/shadowreg/storage/driver/filesystem"
)

var ctx = context.Background()

// newFS returns a filesystem driver in a fresh temporary folder, and the
// folder.
func newFS(t testing.TB) (*filesystem.Driver, string) {
	t.Helper()
	dir := t.TempDir()
	fs, err := filesystem.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	return fs, dir
}

func newTestStore(t testing.TB) (*Store, string) {
	t.Helper()
	fs, dir := newFS(t)
	return New(fs, Options{}), dir
}

func repo(t testing.TB, s *Store, name string, areas ...string) *Repo {
	t.Helper()
	r, err := s.Repo(name, areas...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// pushBlob uploads data into r in one chunk and returns its digest.
func pushBlob(t testing.TB, r *Repo, data []byte) digest.Digest {
	t.Helper()
	d := digest.FromBytes(data)
	up, err := r.UploadStart(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := up.Append(ctx, bytes.NewReader(data), 0, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	desc, err := up.Commit(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if desc.Digest != d || desc.Size != int64(len(data)) {
		t.Fatalf("Commit = %+v, want %s of %d bytes", desc, d, len(data))
	}
	return d
}

// readBlob reads blob d of r whole, through BlobOpen.
func readBlob(t testing.TB, r *Repo, d digest.Digest) []byte {
	t.Helper()
	b, err := r.BlobOpen(ctx, d)
	if err != nil {
		t.Fatalf("BlobOpen(%s): %v", d, err)
	}
	defer b.Close()
	rc, err := b.Reader(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(data)) != b.Descriptor().Size {
		t.Errorf("blob %s: read %d bytes, its descriptor says %d", d, len(data), b.Descriptor().Size)
	}
	return data
}

type obj = map[string]any

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func descOf(mediaType string, data []byte) obj {
	return obj{"mediaType": mediaType, "digest": digest.FromBytes(data).String(), "size": len(data)}
}

// testManifest is a manifest with its parse.
type testManifest struct {
	m *Manifest
	p *Parsed
}

// makeManifest parses data as pushed with contentType.
func makeManifest(t testing.TB, contentType string, v any) testManifest {
	t.Helper()
	data := mustJSON(v)
	p, err := ParseManifest(contentType, data)
	if err != nil {
		t.Fatalf("ParseManifest: %v\n%s", err, data)
	}
	return testManifest{&Manifest{Digest: digest.FromBytes(data), MediaType: p.MediaType, Data: data}, p}
}

// imageManifest is an OCI image manifest over config and layers that r
// holds (pushed here), with extra fields merged in.
func imageManifest(t testing.TB, r *Repo, extra obj, layers ...[]byte) testManifest {
	t.Helper()
	config := []byte(`{"architecture":"amd64","os":"linux"}`)
	pushBlob(t, r, config)
	m := obj{"schemaVersion": 2, "mediaType": MediaTypeOCIManifest, "config": descOf("application/vnd.oci.image.config.v1+json", config)}
	ls := []obj{}
	for _, l := range layers {
		pushBlob(t, r, l)
		ls = append(ls, descOf("application/vnd.oci.image.layer.v1.tar", l))
	}
	m["layers"] = ls
	for k, v := range extra {
		m[k] = v
	}
	return makeManifest(t, MediaTypeOCIManifest, m)
}

func putManifest(t testing.TB, r *Repo, tm testManifest, tags ...string) {
	t.Helper()
	if err := r.PutManifest(ctx, tm.m, tm.p, tags...); err != nil {
		t.Fatal(err)
	}
}

// countingDriver counts Reader calls by path prefix.
type countingDriver struct {
	driver.Driver
	mu      sync.Mutex
	readers map[string]int
}

func newCountingDriver(d driver.Driver) *countingDriver {
	return &countingDriver{Driver: d, readers: map[string]int{}}
}

func (c *countingDriver) Reader(ctx context.Context, path string, offset int64) (io.ReadCloser, error) {
	c.mu.Lock()
	top, _, _ := strings.Cut(path, "/")
	c.readers[top]++
	c.mu.Unlock()
	return c.Driver.Reader(ctx, path, offset)
}

func (c *countingDriver) count(top string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.readers[top]
}

// pattern returns n bytes that differ from any other seed's.
func pattern(seed byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i%251)
	}
	return b
}
