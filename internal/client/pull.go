package client

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// PullDockerArchive writes src as a tarball docker load and podman load
// accept (gzipped when dest ends in .gz or .tgz). The image is tagged in
// it with its plain name (no registry, no buildset), or with as.
func (c *Client) PullDockerArchive(ctx context.Context, src, dest, as string, platform *v1.Platform) (Pushed, error) {
	ref, img, err := c.resolveImage(ctx, src, platform)
	if err != nil {
		return Pushed{}, err
	}
	tagName := as
	if tagName == "" {
		tagName = c.Display(ref)
		if _, ok := ref.(name.Digest); ok {
			// docker load wants a tag; a digest names none.
			tagName = strings.SplitN(tagName, "@", 2)[0] + ":latest"
		}
	}
	tag, err := name.NewTag(tagName)
	if err != nil {
		return Pushed{}, fmt.Errorf("%q cannot tag the image in a docker archive: %w", tagName, err)
	}
	if err := writeFileAtomic(dest, func(w io.Writer) error {
		if strings.HasSuffix(dest, ".gz") || strings.HasSuffix(dest, ".tgz") {
			zw := gzip.NewWriter(w)
			if err := tarball.Write(tag, track(img, c.opts.Progress), zw); err != nil {
				return err
			}
			return zw.Close()
		}
		return tarball.Write(tag, track(img, c.opts.Progress), w)
	}); err != nil {
		return Pushed{}, fmt.Errorf("writing %s: %w", dest, err)
	}
	return pushedImage(c, ref, img, KindDockerArchive)
}

// writeFileAtomic writes dest through a temporary file in its folder, so
// a failed pull leaves no half-written archive behind.
func writeFileAtomic(dest string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dest)
}
