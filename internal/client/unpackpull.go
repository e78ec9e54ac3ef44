package client

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// PullUnpack writes what src holds into dir: each file of a file artifact
// under its title (mode kept), each directory (oras's tar+gzip) unpacked,
// or the one layer of a single-layer image unpacked. Unpack's refusals
// hold for every tar; titles must be plain relative names.
func (c *Client) PullUnpack(ctx context.Context, src, dir string, platform *v1.Platform) (Pushed, error) {
	ref, img, err := c.resolveImage(ctx, src, platform)
	if err != nil {
		return Pushed{}, err
	}
	m, err := img.Manifest()
	if err != nil {
		return Pushed{}, fmt.Errorf("reading the manifest of %s: %w", c.Display(ref), err)
	}
	titled := 0
	for _, l := range m.Layers {
		if l.Annotations[titleAnnotation] != "" {
			titled++
		}
	}
	if titled == 0 && len(m.Layers) != 1 {
		return Pushed{}, fmt.Errorf("%s has %d layers and no file names: --unpack takes a file artifact or a single-layer image; pull it to a tarball instead", c.Display(ref), len(m.Layers))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Pushed{}, err
	}
	for _, d := range m.Layers {
		title := d.Annotations[titleAnnotation]
		if title == "" && titled > 0 {
			continue // oras skips unnamed layers too
		}
		if err := c.unpackLayer(img, d, dir); err != nil {
			return Pushed{}, err
		}
	}
	return pushedImage(c, ref, img, KindFile)
}

func (c *Client) unpackLayer(img v1.Image, d v1.Descriptor, dir string) error {
	l, err := img.LayerByDigest(d.Digest)
	if err != nil {
		return err
	}
	title := d.Annotations[titleAnnotation]
	name := title
	if name == "" {
		name = shortDigest(d.Digest)
	}
	rc, err := (&trackedLayer{Layer: l, p: c.opts.Progress, name: name}).Compressed()
	if err != nil {
		return fmt.Errorf("pulling %s: %w", name, err)
	}
	defer rc.Close()
	if title != "" && d.Annotations[unpackAnnotation] != "true" {
		return writeTitled(rc, dir, title, d.Annotations[modeAnnotation])
	}
	// A tar (oras's directory, or an image layer), maybe gzipped: the
	// uncompressed tar's digest is checked when oras gave one.
	r, err := maybeGunzip(rc)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	h := sha256.New()
	if err := Unpack(io.TeeReader(r, h), dir); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	// Drain what the tar reader left (padding), so the digests see all.
	if _, err := io.Copy(h, r); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if want := d.Annotations[tarDigestAnnotation]; want != "" && want != fmt.Sprintf("sha256:%x", h.Sum(nil)) {
		return fmt.Errorf("%s: the unpacked tar does not match its %s annotation %s", name, tarDigestAnnotation, want)
	}
	_, err = io.Copy(io.Discard, rc) // the blob's digest is verified at its end
	return err
}

// writeTitled writes one file artifact to dir/title, through os.Root so a
// title cannot climb out, and removes it again if the blob fails its
// digest.
func writeTitled(r io.Reader, dir, title, mode string) error {
	name, err := entryName(title)
	if err != nil || name == "." {
		return &UnsafeEntryError{title, "not a plain relative file name"}
	}
	perm := fs.FileMode(0o644)
	if m, err := strconv.ParseUint(mode, 8, 32); err == nil {
		perm = fs.FileMode(m) & fs.ModePerm
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	if err := removeNonDir(root, name); err != nil {
		return err
	}
	f, err := root.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, perm)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return &UnsafeEntryError{title, pe.Err.Error()}
		}
		return err
	}
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = root.Chmod(name, perm)
	}
	if err != nil {
		root.Remove(name)
		return fmt.Errorf("%s: %w", title, err)
	}
	return nil
}
