package client

import (
	"context"
	"encoding/json"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Inspection is what inspect shows of a reference.
type Inspection struct {
	Ref          string          `json:"ref"`
	Digest       string          `json:"digest"`
	MediaType    string          `json:"mediaType"`
	ArtifactType string          `json:"artifactType,omitempty"`
	Size         int64           `json:"size"`
	Platforms    []string        `json:"platforms,omitempty"` // an index's
	Layers       []v1.Descriptor `json:"layers,omitempty"`    // an image's
	Config       json.RawMessage `json:"config,omitempty"`    // an image's, when JSON
	Manifest     json.RawMessage `json:"manifest"`
}

// Inspect reads ref's manifest and, for an image, its config.
func (c *Client) Inspect(ctx context.Context, target string) (*Inspection, error) {
	ref, err := c.Ref(target)
	if err != nil {
		return nil, err
	}
	desc, err := remote.Get(ref, c.remote(ctx)...)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", c.Display(ref), err)
	}
	in := &Inspection{Ref: c.Display(ref), Digest: desc.Digest.String(), MediaType: string(desc.MediaType),
		Size: desc.Size, Manifest: desc.Manifest}
	var m struct {
		ArtifactType string `json:"artifactType"`
	}
	_ = json.Unmarshal(desc.Manifest, &m)
	in.ArtifactType = m.ArtifactType
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return nil, err
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return nil, err
		}
		for _, d := range im.Manifests {
			if d.Platform != nil {
				in.Platforms = append(in.Platforms, d.Platform.String())
			}
		}
		return in, nil
	}
	img, err := desc.Image()
	if err != nil {
		return nil, err
	}
	mf, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	in.Layers = mf.Layers
	if raw, err := img.RawConfigFile(); err == nil && json.Valid(raw) {
		in.Config = raw
	}
	return in, nil
}
