package client

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Kind is what a local path to push holds.
type Kind int

const (
	KindFile          Kind = iota // any file: pushed as an artifact
	KindDir                       // a directory: pushed as a tar+gzip artifact
	KindDockerArchive             // docker save / podman save, maybe gzipped
	KindOCILayout                 // a directory with oci-layout
	KindOCIArchive                // a tar of an OCI layout, maybe gzipped
)

func (k Kind) String() string {
	return [...]string{"file", "directory", "docker-archive", "oci-layout", "oci-archive"}[k]
}

// Detect looks at path: a directory with an oci-layout file is a layout,
// other directories are artifacts; a (gzipped) tar holding manifest.json is
// a docker archive, one holding oci-layout an OCI archive; anything else is
// a file.
func Detect(path string) (Kind, error) {
	st, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	if st.IsDir() {
		if _, err := os.Stat(filepath.Join(path, "oci-layout")); err == nil {
			return KindOCILayout, nil
		}
		return KindDir, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	r, err := maybeGunzip(f)
	if err != nil {
		return KindFile, nil
	}
	tr := tar.NewReader(r)
	// The index files come first in docker and OCI archives, but podman and
	// skopeo write them last: read every header (not the contents).
	for {
		h, err := tr.Next()
		if err != nil {
			return KindFile, nil
		}
		switch filepath.Clean(h.Name) {
		case "manifest.json":
			return KindDockerArchive, nil
		case "oci-layout":
			return KindOCIArchive, nil
		}
	}
}

// maybeGunzip returns r decompressed when it starts with gzip's magic.
func maybeGunzip(r io.Reader) (io.Reader, error) {
	br := bufio.NewReader(r)
	magic, err := br.Peek(2)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		return gzip.NewReader(br)
	}
	return br, nil
}

// gunzipped returns a path to path's tar: path itself, or a temporary
// copy decompressed once, since go-containerregistry reopens the archive
// for every layer. cleanup removes the copy.
func gunzipped(ctx context.Context, path, tmpDir string) (string, func(), error) {
	f, err := os.Open(path)
	if err != nil {
		return "", nil, err
	}
	defer f.Close()
	var magic [2]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil || magic != [2]byte{0x1f, 0x8b} {
		return path, func() {}, nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", nil, err
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", path, err)
	}
	tmp, err := os.CreateTemp(tmpDir, "shadowreg-*.tar")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { os.Remove(tmp.Name()) }
	if _, err := io.Copy(tmp, ctxReader{ctx, zr}); err != nil {
		tmp.Close()
		cleanup()
		return "", nil, fmt.Errorf("decompressing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		cleanup()
		return "", nil, err
	}
	return tmp.Name(), cleanup, nil
}

// ctxReader stops a long local read (decompressing, hashing, unpacking)
// once ctx ends: the signal handler cancels ctx instead of killing the
// process.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
