package client

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Pushed is one manifest written to the registry.
type Pushed struct {
	Ref       string `json:"ref"` // as the user names it (no registry, no buildset)
	Digest    string `json:"digest"`
	MediaType string `json:"mediaType"`
	Source    string `json:"source"` // the kind of local input
}

// PushDockerArchive pushes the images of a docker-archive tarball (as
// docker save and podman save write it; gzipped or not). With target, the
// archive must hold one image and target names it; without, each image
// goes to the names in its RepoTags.
func (c *Client) PushDockerArchive(ctx context.Context, path, target string) ([]Pushed, error) {
	tarPath, cleanup, err := gunzipped(ctx, path, "")
	if err != nil {
		return nil, err
	}
	defer cleanup()
	open := tarball.Opener(func() (io.ReadCloser, error) { return os.Open(tarPath) })
	m, err := tarball.LoadManifest(open)
	if err != nil {
		return nil, fmt.Errorf("%s: not a docker archive: %w", path, err)
	}
	type job struct {
		src  *name.Tag // nil: the archive's only image
		dest string
	}
	var jobs []job
	switch {
	case target != "" && len(m) != 1:
		return nil, fmt.Errorf("%s holds %d images: push it without a target name (each goes to its own tags)", path, len(m))
	case target != "":
		jobs = append(jobs, job{dest: target})
	default:
		for _, d := range m {
			if len(d.RepoTags) == 0 {
				return nil, fmt.Errorf("%s: an image has no tag in the archive: give a target name", path)
			}
			for _, t := range d.RepoTags {
				tag, err := name.NewTag(t)
				if err != nil {
					return nil, fmt.Errorf("%s: tag %q: %w", path, t, err)
				}
				jobs = append(jobs, job{src: &tag, dest: c.userPath(tag)})
			}
		}
	}
	var out []Pushed
	for _, j := range jobs {
		img, err := tarball.Image(open, j.src)
		if err != nil {
			return out, fmt.Errorf("%s: %w", path, err)
		}
		ref, err := c.Ref(j.dest)
		if err != nil {
			return out, err
		}
		if err := remote.Write(ref, track(img, c.opts.Progress), c.remote(ctx)...); err != nil {
			return out, fmt.Errorf("pushing %s: %w", c.Display(ref), err)
		}
		p, err := pushedImage(c, ref, img, KindDockerArchive)
		if err != nil {
			return out, err
		}
		out = append(out, p)
	}
	return out, nil
}

// userPath is an archive's tag as a path on c: docker.io's names keep
// docker.io/ (shadowreg folds it into the short name's repository), names
// of registries like quay.io keep theirs as the namespace, and a
// registry with a port (the one pulled from, as podman records it) is
// dropped.
func (c *Client) userPath(t name.Tag) string {
	reg := t.RegistryStr()
	switch {
	case reg == name.DefaultRegistry:
		reg = "docker.io"
	case reg == c.host || strings.Contains(reg, ":"):
		return t.RepositoryStr() + ":" + t.TagStr()
	}
	return reg + "/" + t.RepositoryStr() + ":" + t.TagStr()
}

// pushedImage describes what was written for ref.
func pushedImage(c *Client, ref name.Reference, m manifestLike, kind Kind) (Pushed, error) {
	d, err := m.Digest()
	if err != nil {
		return Pushed{}, err
	}
	mt, err := m.MediaType()
	if err != nil {
		return Pushed{}, err
	}
	return Pushed{Ref: c.Display(ref), Digest: d.String(), MediaType: string(mt), Source: kind.String()}, nil
}

type manifestLike interface {
	Digest() (v1.Hash, error)
	MediaType() (types.MediaType, error)
}
