package client

import (
	"context"
	"fmt"
	"os"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

const refNameAnnotation = "org.opencontainers.image.ref.name"

// PushLayout pushes every manifest in an OCI layout's index.json to the
// repository of target. Indexes and manifests go as the layout holds them,
// byte for byte, so digests stay. Each is tagged with its ref.name
// annotation, or with target's tag when the layout holds one manifest.
func (c *Client) PushLayout(ctx context.Context, dir, target string, kind Kind) ([]Pushed, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("%s: not an OCI layout: %w", dir, err)
	}
	ii, err := p.ImageIndex()
	if err != nil {
		return nil, err
	}
	im, err := ii.IndexManifest()
	if err != nil {
		return nil, err
	}
	dest, err := c.Ref(target)
	if err != nil {
		return nil, err
	}
	var out []Pushed
	for _, d := range im.Manifests {
		ref, err := layoutDest(dest, d, len(im.Manifests))
		if err != nil {
			return out, err
		}
		var what manifestLike
		switch {
		case d.MediaType.IsIndex():
			idx, err := ii.ImageIndex(d.Digest)
			if err != nil {
				return out, err
			}
			err = remote.WriteIndex(ref, idx, c.remote(ctx)...)
			if err != nil {
				return out, fmt.Errorf("pushing %s: %w", c.Display(ref), err)
			}
			what = idx
		case d.MediaType.IsImage():
			img, err := ii.Image(d.Digest)
			if err != nil {
				return out, err
			}
			if err := remote.Write(ref, track(img, c.opts.Progress), c.remote(ctx)...); err != nil {
				return out, fmt.Errorf("pushing %s: %w", c.Display(ref), err)
			}
			what = img
		default:
			return out, fmt.Errorf("%s: %s in index.json is a %s, not an image or index", dir, d.Digest, d.MediaType)
		}
		pd, err := pushedImage(c, ref, what, kind)
		if err != nil {
			return out, err
		}
		out = append(out, pd)
	}
	return out, nil
}

// layoutDest names a layout's manifest in dest's repository.
func layoutDest(dest name.Reference, d v1.Descriptor, n int) (name.Reference, error) {
	repo := dest.Context()
	if tag := d.Annotations[refNameAnnotation]; tag != "" {
		t, err := name.NewTag(repo.Name()+":"+tag, name.WeakValidation)
		if err != nil {
			return nil, fmt.Errorf("ref.name %q is not a tag: %w", tag, err)
		}
		return withScheme(t, repo), nil
	}
	if _, ok := dest.(name.Tag); ok && n == 1 {
		return dest, nil
	}
	return repo.Digest(d.Digest.String()), nil
}

// withScheme keeps repo's insecure (plain HTTP) setting on t.
func withScheme(t name.Tag, repo name.Repository) name.Reference {
	if repo.Scheme() == "http" {
		t2, err := name.NewTag(t.String(), name.Insecure)
		if err == nil {
			return t2
		}
	}
	return t
}

// PushOCIArchive unpacks a tar of an OCI layout (refusing unsafe entries)
// into a temporary folder and pushes the layout.
func (c *Client) PushOCIArchive(ctx context.Context, path, target string) ([]Pushed, error) {
	tmp, err := os.MkdirTemp("", "shadowreg-oci-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := maybeGunzip(ctxReader{ctx, f})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := Unpack(r, tmp); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c.PushLayout(ctx, tmp, target, KindOCIArchive)
}

// PullLayout adds src to the OCI layout dir (created if absent), annotated
// with its tag as ref.name. With all, an index is kept whole, every
// platform in it; without, the platform's image is taken from it.
func (c *Client) PullLayout(ctx context.Context, src, dir string, all bool, platform *v1.Platform) (Pushed, error) {
	ref, err := c.Ref(src)
	if err != nil {
		return Pushed{}, err
	}
	p, err := layout.FromPath(dir)
	if err != nil {
		if p, err = layout.Write(dir, empty.Index); err != nil {
			return Pushed{}, err
		}
	}
	desc, err := remote.Get(ref, c.remote(ctx)...)
	if err != nil {
		return Pushed{}, fmt.Errorf("pulling %s: %w", c.Display(ref), err)
	}
	var opts []layout.Option
	if t, ok := ref.(name.Tag); ok {
		opts = append(opts, layout.WithAnnotations(map[string]string{refNameAnnotation: t.TagStr()}))
	}
	if all && desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return Pushed{}, err
		}
		if err := p.AppendIndex(idx, opts...); err != nil {
			return Pushed{}, fmt.Errorf("writing %s: %w", dir, err)
		}
		return pushedImage(c, ref, idx, KindOCILayout)
	}
	img, err := c.image(ctx, ref, platform)
	if err != nil {
		return Pushed{}, err
	}
	if err := p.AppendImage(track(img, c.opts.Progress), opts...); err != nil {
		return Pushed{}, fmt.Errorf("writing %s: %w", dir, err)
	}
	return pushedImage(c, ref, img, KindOCILayout)
}

// image resolves ref to one image: an index's entry for platform.
func (c *Client) image(ctx context.Context, ref name.Reference, platform *v1.Platform) (v1.Image, error) {
	var extra []remote.Option
	if platform != nil {
		extra = append(extra, remote.WithPlatform(*platform))
	}
	img, err := remote.Image(ref, c.remote(ctx, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("pulling %s: %w", c.Display(ref), err)
	}
	return img, nil
}

// resolveImage parses src and resolves it to one image.
func (c *Client) resolveImage(ctx context.Context, src string, platform *v1.Platform) (name.Reference, v1.Image, error) {
	ref, err := c.Ref(src)
	if err != nil {
		return nil, nil, err
	}
	img, err := c.image(ctx, ref, platform)
	return ref, img, err
}
