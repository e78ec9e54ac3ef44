package storage

import (
	"encoding/json"
	"mime"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Manifest media types shadowreg stores and serves.
const (
	MediaTypeOCIManifest    = ocispec.MediaTypeImageManifest
	MediaTypeOCIIndex       = ocispec.MediaTypeImageIndex
	MediaTypeDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"

	mediaTypeDockerSchema1       = "application/vnd.docker.distribution.manifest.v1+json"
	mediaTypeDockerSchema1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws"
	mediaTypeDockerForeignLayer  = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
)

// ManifestMediaTypes lists the manifest types shadowreg understands, for
// Accept headers towards upstreams and for negotiation with clients.
var ManifestMediaTypes = []string{MediaTypeOCIIndex, MediaTypeOCIManifest, MediaTypeDockerList, MediaTypeDockerManifest}

// IsIndex reports whether mediaType is a list of manifests (OCI index,
// Docker manifest list).
func IsIndex(mediaType string) bool {
	return mediaType == MediaTypeOCIIndex || mediaType == MediaTypeDockerList
}

// Manifest is a manifest as stored: its bytes exactly as pushed, and the
// media type it was pushed with.
type Manifest struct {
	Digest    digest.Digest
	MediaType string
	Data      []byte
}

// Descriptor returns the manifest's descriptor.
func (m *Manifest) Descriptor() ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: int64(len(m.Data))}
}

// Parsed is what shadowreg reads out of a manifest: what it references and
// what the referrers API reports about it.
type Parsed struct {
	MediaType    string
	ArtifactType string // artifactType, else the config's media type (for referrers)
	Config       *ocispec.Descriptor
	Layers       []ocispec.Descriptor
	Manifests    []ocispec.Descriptor // an index's children
	Subject      *ocispec.Descriptor
	Annotations  map[string]string
}

// manifestJSON holds the fields of every manifest kind at once, so one parse
// serves image manifests and indexes of both OCI and Docker flavours.
type manifestJSON struct {
	SchemaVersion *int                 `json:"schemaVersion"`
	MediaType     string               `json:"mediaType"`
	ArtifactType  string               `json:"artifactType"`
	Config        *ocispec.Descriptor  `json:"config"`
	Layers        []ocispec.Descriptor `json:"layers"`
	Manifests     []ocispec.Descriptor `json:"manifests"`
	Subject       *ocispec.Descriptor  `json:"subject"`
	Annotations   map[string]string    `json:"annotations"`
}

// ParseManifest validates a manifest pushed with Content-Type contentType
// and returns what it references. The media type is the manifest's own
// mediaType field, else the Content-Type, else guessed from its shape.
func ParseManifest(contentType string, data []byte) (*Parsed, error) {
	var m manifestJSON
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, manifestInvalid("not a JSON manifest: %v", err)
	}
	ct, _, _ := mime.ParseMediaType(contentType)
	if ct == mediaTypeDockerSchema1 || ct == mediaTypeDockerSchema1Signed || m.MediaType == mediaTypeDockerSchema1 || m.MediaType == mediaTypeDockerSchema1Signed {
		return nil, manifestInvalid("Docker schema 1 manifests are not supported; push schema 2 or OCI")
	}
	if m.SchemaVersion == nil || *m.SchemaVersion != 2 {
		return nil, manifestInvalid("schemaVersion must be 2")
	}
	mt := m.MediaType
	if mt != "" && isKnownManifestType(ct) && ct != mt {
		return nil, manifestInvalid("mediaType %q does not match the Content-Type %q", mt, ct)
	}
	if mt == "" {
		mt = ct
	}
	if mt == "" || mt == "application/json" || mt == "application/octet-stream" {
		mt = guessMediaType(&m)
	}
	p := &Parsed{MediaType: mt, ArtifactType: m.ArtifactType, Config: m.Config, Layers: m.Layers,
		Manifests: m.Manifests, Subject: m.Subject, Annotations: m.Annotations}
	index := IsIndex(mt) || (!isKnownManifestType(mt) && m.Manifests != nil)
	if index {
		if m.Config != nil || m.Layers != nil {
			return nil, manifestInvalid("an index has manifests, not config or layers")
		}
	} else {
		if m.Manifests != nil {
			return nil, manifestInvalid("an image manifest has config and layers, not manifests")
		}
		if m.Config == nil {
			return nil, manifestInvalid("config descriptor missing")
		}
		if p.ArtifactType == "" {
			p.ArtifactType = m.Config.MediaType
		}
	}
	for _, d := range p.Descriptors() {
		if err := d.Digest.Validate(); err != nil {
			return nil, manifestInvalid("descriptor digest %q: %v", d.Digest, err)
		}
		if d.Size < 0 {
			return nil, manifestInvalid("descriptor %s has a negative size", d.Digest)
		}
	}
	if m.Subject != nil {
		if err := m.Subject.Digest.Validate(); err != nil {
			return nil, manifestInvalid("subject digest %q: %v", m.Subject.Digest, err)
		}
	}
	return p, nil
}

// Descriptors lists everything the manifest references except its subject:
// config, layers and child manifests.
func (p *Parsed) Descriptors() []ocispec.Descriptor {
	var ds []ocispec.Descriptor
	if p.Config != nil {
		ds = append(ds, *p.Config)
	}
	ds = append(ds, p.Layers...)
	return append(ds, p.Manifests...)
}

// RequiredBlobs lists the blobs a registry must hold before it accepts the
// manifest: the config and the layers, except non-distributable layers,
// which by definition are fetched from elsewhere.
func (p *Parsed) RequiredBlobs() []ocispec.Descriptor {
	var ds []ocispec.Descriptor
	if p.Config != nil {
		ds = append(ds, *p.Config)
	}
	for _, l := range p.Layers {
		if len(l.URLs) > 0 || strings.Contains(l.MediaType, ".nondistributable.") || l.MediaType == mediaTypeDockerForeignLayer {
			continue
		}
		ds = append(ds, l)
	}
	return ds
}

func isKnownManifestType(mt string) bool {
	switch mt {
	case MediaTypeOCIManifest, MediaTypeOCIIndex, MediaTypeDockerManifest, MediaTypeDockerList:
		return true
	}
	return false
}

func guessMediaType(m *manifestJSON) string {
	if m.Manifests != nil {
		return MediaTypeOCIIndex
	}
	return MediaTypeOCIManifest
}
