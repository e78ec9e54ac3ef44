package client

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The annotations and media types oras reads and writes, so that a file
// pushed here is pulled by `oras pull` and the other way round.
const (
	titleAnnotation   = "org.opencontainers.image.title"
	createdAnnotation = "org.opencontainers.image.created"
	// oras packs a directory as tar+gzip and marks it to be unpacked,
	// with the digest of the uncompressed tar.
	unpackAnnotation    = "io.deis.oras.content.unpack"
	tarDigestAnnotation = "io.deis.oras.content.digest"
	// modeAnnotation keeps a file's permission bits (oras has none for
	// plain files); a directory's are in its tar.
	modeAnnotation = "io.shadowreg.content.mode"

	// DefaultArtifactType is oras's when none is given.
	DefaultArtifactType = "application/vnd.unknown.artifact.v1"
	fileMediaType       = "application/vnd.oci.image.layer.v1.tar"
	dirMediaType        = "application/vnd.oci.image.layer.v1.tar+gzip"
	emptyMediaType      = "application/vnd.oci.empty.v1+json"
)

var emptyJSON = []byte("{}")

// artifactManifest is an OCI image manifest carrying an artifactType, as
// the image-spec 1.1 guidance and oras write it.
type artifactManifest struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     types.MediaType   `json:"mediaType"`
	ArtifactType  string            `json:"artifactType"`
	Config        v1.Descriptor     `json:"config"`
	Layers        []v1.Descriptor   `json:"layers"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

// rawManifest is a manifest pushed as these bytes.
type rawManifest struct {
	body []byte
	mt   types.MediaType
}

func (r rawManifest) RawManifest() ([]byte, error)        { return r.body, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return r.mt, nil }
func (r rawManifest) Digest() (v1.Hash, error) {
	h, _, err := v1.SHA256(bytesReader(r.body))
	return h, err
}

// PushArtifact pushes a file, or a directory as tar+gzip, as a one-layer
// OCI artifact of artifactType, named by its base name.
func (c *Client) PushArtifact(ctx context.Context, path, target, artifactType string) (Pushed, error) {
	ref, err := c.Ref(target)
	if err != nil {
		return Pushed{}, err
	}
	st, err := os.Stat(path)
	if err != nil {
		return Pushed{}, err
	}
	title := filepath.Base(filepath.Clean(path))
	var layer *fileLayer
	kind := KindFile
	if st.IsDir() {
		kind = KindDir
		tmp, err := packDir(ctx, path)
		if err != nil {
			return Pushed{}, err
		}
		defer os.Remove(tmp.path)
		layer = tmp.layer
		layer.annotations = map[string]string{titleAnnotation: title, unpackAnnotation: "true",
			tarDigestAnnotation: tmp.tarDigest.String()}
	} else {
		if layer, err = newFileLayer(ctx, path, fileMediaType); err != nil {
			return Pushed{}, err
		}
		layer.annotations = map[string]string{titleAnnotation: title,
			modeAnnotation: fmt.Sprintf("%04o", st.Mode().Perm())}
	}
	layer.name = title
	repo := ref.Context()
	if err := remote.WriteLayer(repo, &trackedLayer{Layer: layer, p: c.opts.Progress, name: title}, c.remote(ctx)...); err != nil {
		return Pushed{}, fmt.Errorf("pushing %s: %w", title, err)
	}
	if err := remote.WriteLayer(repo, staticLayer{emptyJSON, emptyMediaType}, c.remote(ctx)...); err != nil {
		return Pushed{}, fmt.Errorf("pushing the empty config: %w", err)
	}
	cfg := staticLayer{emptyJSON, emptyMediaType}
	cd, _ := cfg.Digest()
	ld, err := layer.descriptor()
	if err != nil {
		return Pushed{}, err
	}
	m := artifactManifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, ArtifactType: artifactType,
		Config:      v1.Descriptor{MediaType: emptyMediaType, Digest: cd, Size: int64(len(emptyJSON))},
		Layers:      []v1.Descriptor{ld},
		Annotations: map[string]string{createdAnnotation: time.Now().UTC().Format(time.RFC3339)}}
	body, err := json.Marshal(m)
	if err != nil {
		return Pushed{}, err
	}
	raw := rawManifest{body: body, mt: types.OCIManifestSchema1}
	if err := remote.Put(ref, raw, c.remote(ctx)...); err != nil {
		return Pushed{}, fmt.Errorf("pushing the manifest of %s: %w", c.Display(ref), err)
	}
	return pushedImage(c, ref, raw, kind)
}

// fileLayer is a local file as a blob: its digest is computed once, then
// it streams from disk for the upload.
type fileLayer struct {
	path        string
	mt          types.MediaType
	digest      v1.Hash
	size        int64
	name        string
	annotations map[string]string
}

func newFileLayer(ctx context.Context, path string, mt types.MediaType) (*fileLayer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, ctxReader{ctx, f})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return &fileLayer{path: path, mt: mt, size: n,
		digest: v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", h.Sum(nil))}}, nil
}

func (l *fileLayer) Digest() (v1.Hash, error)             { return l.digest, nil }
func (l *fileLayer) DiffID() (v1.Hash, error)             { return l.digest, nil }
func (l *fileLayer) Size() (int64, error)                 { return l.size, nil }
func (l *fileLayer) MediaType() (types.MediaType, error)  { return l.mt, nil }
func (l *fileLayer) Compressed() (io.ReadCloser, error)   { return os.Open(l.path) }
func (l *fileLayer) Uncompressed() (io.ReadCloser, error) { return os.Open(l.path) }
func (l *fileLayer) descriptor() (v1.Descriptor, error) {
	return v1.Descriptor{MediaType: l.mt, Digest: l.digest, Size: l.size, Annotations: l.annotations}, nil
}

// staticLayer is a small blob held in memory (the empty config).
type staticLayer struct {
	b  []byte
	mt types.MediaType
}

func (l staticLayer) Digest() (v1.Hash, error) {
	h, _, err := v1.SHA256(bytesReader(l.b))
	return h, err
}
func (l staticLayer) DiffID() (v1.Hash, error)             { return l.Digest() }
func (l staticLayer) Size() (int64, error)                 { return int64(len(l.b)), nil }
func (l staticLayer) MediaType() (types.MediaType, error)  { return l.mt, nil }
func (l staticLayer) Compressed() (io.ReadCloser, error)   { return io.NopCloser(bytesReader(l.b)), nil }
func (l staticLayer) Uncompressed() (io.ReadCloser, error) { return l.Compressed() }
