package client

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Copy copies src (on from, another registry or this one) to dest on c.
// With all, an index goes whole with every platform; without, an index
// is resolved to platform's image. Manifests go byte for byte, so digests
// are the same on both sides; blobs the registry has are mounted.
func (c *Client) Copy(ctx context.Context, from *Client, src, dest string, all bool, platform *v1.Platform) (Pushed, error) {
	sref, err := from.Ref(src)
	if err != nil {
		return Pushed{}, err
	}
	dref, err := c.Ref(dest)
	if err != nil {
		return Pushed{}, err
	}
	desc, err := remote.Get(sref, from.remote(ctx)...)
	if err != nil {
		return Pushed{}, fmt.Errorf("reading %s: %w", from.Display(sref), err)
	}
	if desc.MediaType.IsIndex() && all {
		idx, err := desc.ImageIndex()
		if err != nil {
			return Pushed{}, err
		}
		if err := remote.WriteIndex(dref, idx, c.remote(ctx)...); err != nil {
			return Pushed{}, fmt.Errorf("writing %s: %w", c.Display(dref), err)
		}
		return pushedImage(c, dref, idx, KindOCILayout)
	}
	var img v1.Image
	if desc.MediaType.IsIndex() {
		img, err = from.image(ctx, sref, platform)
	} else {
		img, err = desc.Image()
	}
	if err != nil {
		return Pushed{}, err
	}
	if err := remote.Write(dref, img, c.remote(ctx)...); err != nil {
		return Pushed{}, fmt.Errorf("writing %s: %w", c.Display(dref), err)
	}
	return pushedImage(c, dref, img, KindOCILayout)
}

// Repositories lists the registry's repositories that start with prefix
// (given as the user names them: under the buildset when one is set).
func (c *Client) Repositories(ctx context.Context, prefix string) ([]string, error) {
	reg, err := name.NewRegistry(c.host, c.nameOpts()...)
	if err != nil {
		return nil, err
	}
	all, err := remote.Catalog(ctx, reg, c.remote(ctx)...)
	if err != nil {
		return nil, fmt.Errorf("listing repositories: %w", err)
	}
	full := c.Path(prefix)
	var out []string
	for _, r := range all {
		if strings.HasPrefix(r, full) {
			out = append(out, strings.TrimPrefix(r, c.Path("")))
		}
	}
	sort.Strings(out)
	return out, nil
}

// Tags lists repo's tags.
func (c *Client) Tags(ctx context.Context, repo string) ([]string, error) {
	r, err := c.Repo(repo)
	if err != nil {
		return nil, err
	}
	tags, err := remote.List(r, c.remote(ctx)...)
	if err != nil {
		return nil, fmt.Errorf("listing tags of %s: %w", repo, err)
	}
	sort.Strings(tags)
	return tags, nil
}

// Tag points newTag (in src's repository) at what src names.
func (c *Client) Tag(ctx context.Context, src, newTag string) (Pushed, error) {
	ref, err := c.Ref(src)
	if err != nil {
		return Pushed{}, err
	}
	desc, err := remote.Get(ref, c.remote(ctx)...)
	if err != nil {
		return Pushed{}, fmt.Errorf("reading %s: %w", c.Display(ref), err)
	}
	tag := ref.Context().Tag(newTag)
	if err := remote.Tag(tag, desc, c.remote(ctx)...); err != nil {
		return Pushed{}, fmt.Errorf("tagging %s: %w", c.Display(tag), err)
	}
	return Pushed{Ref: c.Display(tag), Digest: desc.Digest.String(), MediaType: string(desc.MediaType)}, nil
}

// Delete deletes a tag, or a manifest by digest.
func (c *Client) Delete(ctx context.Context, target string) error {
	ref, err := c.Ref(target)
	if err != nil {
		return err
	}
	if err := remote.Delete(ref, c.remote(ctx)...); err != nil {
		return fmt.Errorf("deleting %s: %w", c.Display(ref), err)
	}
	return nil
}
