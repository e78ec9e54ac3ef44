package client

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

type packedDir struct {
	path      string // the tar.gz, to remove after the push
	layer     *fileLayer
	tarDigest v1.Hash // of the uncompressed tar, for oras
}

// packDir writes dir as a tar+gzip in the temp folder, as oras does: the
// entries are named under dir's base name, modes kept, symlinks as links.
func packDir(ctx context.Context, dir string) (*packedDir, error) {
	tmp, err := os.CreateTemp("", "shadowreg-dir-*.tar.gz")
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	zw := gzip.NewWriter(tmp)
	tarHash := sha256.New()
	tw := tar.NewWriter(io.MultiWriter(zw, tarHash))
	base := filepath.Base(filepath.Clean(dir))
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		return addToTar(tw, dir, base, p, d)
	})
	if err == nil {
		err = tw.Close()
	}
	if err == nil {
		err = zw.Close()
	}
	if err == nil {
		err = tmp.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("packing %s: %w", dir, err)
	}
	l, err := newFileLayer(ctx, tmp.Name(), dirMediaType)
	if err != nil {
		return nil, err
	}
	ok = true
	return &packedDir{path: tmp.Name(), layer: l,
		tarDigest: v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", tarHash.Sum(nil))}}, nil
}

func addToTar(tw *tar.Writer, dir, base, p string, d fs.DirEntry) error {
	info, err := d.Info()
	if err != nil {
		return err
	}
	rel, err := filepath.Rel(dir, p)
	if err != nil {
		return err
	}
	link := ""
	if info.Mode()&fs.ModeSymlink != 0 {
		if link, err = os.Readlink(p); err != nil {
			return err
		}
	}
	h, err := tar.FileInfoHeader(info, link)
	if err != nil {
		return err
	}
	h.Name = filepath.ToSlash(filepath.Join(base, rel))
	if info.IsDir() {
		h.Name += "/"
	}
	h.Uname, h.Gname = "", ""
	h.Format = tar.FormatPAX
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	if !info.Mode().IsRegular() {
		return nil
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(tw, f)
	return err
}
