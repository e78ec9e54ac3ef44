package client

import (
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// trackedImage is an image whose layers report their bytes to a Progress
// as go-containerregistry reads them (to upload, or to write locally).
type trackedImage struct {
	v1.Image
	p *Progress
}

func track(img v1.Image, p *Progress) v1.Image {
	if p == nil {
		return img
	}
	return &trackedImage{Image: img, p: p}
}

func (t *trackedImage) Layers() ([]v1.Layer, error) {
	ls, err := t.Image.Layers()
	if err != nil {
		return nil, err
	}
	out := make([]v1.Layer, len(ls))
	for i, l := range ls {
		out[i] = &trackedLayer{Layer: l, p: t.p}
	}
	return out, nil
}

func (t *trackedImage) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	l, err := t.Image.LayerByDigest(h)
	if err != nil {
		return nil, err
	}
	return &trackedLayer{Layer: l, p: t.p}, nil
}

// trackedLayer counts what is read of its compressed form.
type trackedLayer struct {
	v1.Layer
	p    *Progress
	name string // shown instead of the digest (a file's name)
}

func (l *trackedLayer) Compressed() (io.ReadCloser, error) {
	rc, err := l.Layer.Compressed()
	if err != nil {
		return nil, err
	}
	size, err := l.Layer.Size()
	if err != nil {
		rc.Close()
		return nil, err
	}
	name := l.name
	if name == "" {
		d, err := l.Layer.Digest()
		if err != nil {
			rc.Close()
			return nil, err
		}
		name = shortDigest(d)
	}
	return l.p.Track(name, size, rc), nil
}

func shortDigest(h v1.Hash) string {
	if len(h.Hex) < 12 {
		return h.String()
	}
	return h.Algorithm + ":" + h.Hex[:12]
}
