package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const refNameAnnotation = "org.opencontainers.image.ref.name"

// imageFormat selects the media types of a generated image.
type imageFormat int

const (
	formatOCI    imageFormat = iota // OCI manifest, config and gzip layers
	formatDocker                    // Docker schema 2 manifest, config and layers
)

// newImage builds a random image with `layers` layers of about layerSize
// bytes each, for the given platform ("linux/amd64", "linux/arm64/v8", …).
// seed makes the content reproducible within a test.
func newImage(t testing.TB, format imageFormat, layers int, layerSize int64, platform string, seed int64) v1.Image {
	t.Helper()
	layerMT, manifestMT, configMT := types.OCILayer, types.OCIManifestSchema1, types.OCIConfigJSON
	if format == formatDocker {
		layerMT, manifestMT, configMT = types.DockerLayer, types.DockerManifestSchema2, types.DockerConfigJSON
	}
	img := mutate.MediaType(empty.Image, manifestMT)
	img = mutate.ConfigMediaType(img, configMT)
	adds := make([]mutate.Addendum, 0, layers)
	for i := 0; i < layers; i++ {
		l, err := random.Layer(layerSize+int64(i)*1024, layerMT, random.WithSource(rand.NewSource(seed*1000+int64(i))))
		if err != nil {
			t.Fatal(err)
		}
		adds = append(adds, mutate.Addendum{Layer: l, MediaType: layerMT, History: v1.History{
			CreatedBy: fmt.Sprintf("e2e layer %d", i), Comment: fmt.Sprintf("seed %d", seed),
		}})
	}
	img, err := mutate.Append(img, adds...)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	p := parsePlatform(t, platform)
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	cf.Config.Entrypoint = []string{"/bin/sh"}
	cf.Config.Labels = map[string]string{"e2e.seed": fmt.Sprint(seed)}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func parsePlatform(t testing.TB, s string) v1.Platform {
	t.Helper()
	parts := strings.Split(s, "/")
	if len(parts) < 2 {
		t.Fatalf("bad platform %q", s)
	}
	p := v1.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) > 2 {
		p.Variant = parts[2]
	}
	return p
}

// newIndex builds a multi-platform index (OCI image index, or a Docker
// manifest list for formatDocker) with one image per platform.
func newIndex(t testing.TB, format imageFormat, layers int, layerSize int64, seed int64, platforms ...string) v1.ImageIndex {
	t.Helper()
	idxMT := types.OCIImageIndex
	if format == formatDocker {
		idxMT = types.DockerManifestList
	}
	idx := mutate.IndexMediaType(empty.Index, idxMT)
	adds := make([]mutate.IndexAddendum, 0, len(platforms))
	for i, pl := range platforms {
		img := newImage(t, format, layers, layerSize, pl, seed*100+int64(i))
		p := parsePlatform(t, pl)
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
	}
	return canonical(t, mutate.AppendManifests(idx, adds...))
}

// canonicalIndex is an index whose raw manifest is serialized the way
// containers/image (skopeo, podman) serializes it, so that `skopeo copy --all`,
// which re-serializes manifest lists, keeps its digest.
type canonicalIndex struct {
	idx v1.ImageIndex
	raw []byte
}

func (c *canonicalIndex) MediaType() (types.MediaType, error)         { return c.idx.MediaType() }
func (c *canonicalIndex) Image(h v1.Hash) (v1.Image, error)           { return c.idx.Image(h) }
func (c *canonicalIndex) ImageIndex(h v1.Hash) (v1.ImageIndex, error) { return c.idx.ImageIndex(h) }

func (c *canonicalIndex) RawManifest() ([]byte, error) { return c.raw, nil }
func (c *canonicalIndex) Size() (int64, error)         { return int64(len(c.raw)), nil }
func (c *canonicalIndex) Digest() (v1.Hash, error)     { return v1.NewHash(sha256Digest(c.raw)) }
func (c *canonicalIndex) IndexManifest() (*v1.IndexManifest, error) {
	return v1.ParseIndexManifest(bytes.NewReader(c.raw))
}

func canonical(t testing.TB, idx v1.ImageIndex) v1.ImageIndex {
	t.Helper()
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	type platform struct {
		Architecture string `json:"architecture"`
		OS           string `json:"os"`
		Variant      string `json:"variant,omitempty"`
	}
	type ociDesc struct {
		MediaType string    `json:"mediaType"`
		Digest    string    `json:"digest"`
		Size      int64     `json:"size"`
		Platform  *platform `json:"platform,omitempty"`
	}
	type dockerDesc struct {
		MediaType string    `json:"mediaType"`
		Size      int64     `json:"size"`
		Digest    string    `json:"digest"`
		Platform  *platform `json:"platform,omitempty"`
	}
	var manifests []any
	for _, d := range im.Manifests {
		var p *platform
		if d.Platform != nil {
			p = &platform{d.Platform.Architecture, d.Platform.OS, d.Platform.Variant}
		}
		if im.MediaType == types.DockerManifestList {
			manifests = append(manifests, dockerDesc{string(d.MediaType), d.Size, d.Digest.String(), p})
		} else {
			manifests = append(manifests, ociDesc{string(d.MediaType), d.Digest.String(), d.Size, p})
		}
	}
	raw, err := json.Marshal(struct {
		SchemaVersion int    `json:"schemaVersion"`
		MediaType     string `json:"mediaType"`
		Manifests     []any  `json:"manifests"`
	}{2, string(im.MediaType), manifests})
	if err != nil {
		t.Fatal(err)
	}
	return &canonicalIndex{idx: idx, raw: raw}
}

// writeDir writes an image or index in skopeo's "dir:" format (version 1.1),
// the only local format from which skopeo 1.9 reads Docker media types.
func writeDir(t testing.TB, dir string, v any) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("version", []byte("Directory Transport Version: 1.1\n"))
	writeBlobs := func(img v1.Image) {
		cfg, err := img.RawConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		write(strings.TrimPrefix(sha256Digest(cfg), "sha256:"), cfg)
		layers, err := img.Layers()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range layers {
			d, _ := l.Digest()
			rc, err := l.Compressed()
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatal(err)
			}
			write(d.Hex, b)
		}
	}
	switch x := v.(type) {
	case v1.Image:
		write("manifest.json", rawManifest(t, x))
		writeBlobs(x)
	case v1.ImageIndex:
		write("manifest.json", rawManifest(t, x))
		im, err := x.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range im.Manifests {
			img, err := x.Image(d.Digest)
			if err != nil {
				t.Fatal(err)
			}
			write(d.Digest.Hex+".manifest.json", rawManifest(t, img))
			writeBlobs(img)
		}
	default:
		t.Fatalf("writeDir: %T", v)
	}
}

// writeLayout writes images and indexes into a new OCI layout directory,
// each under its ref name (for skopeo "oci:DIR:NAME").
func writeLayout(t testing.TB, dir string, refs map[string]any) layout.Path {
	t.Helper()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range refs {
		opt := layout.WithAnnotations(map[string]string{refNameAnnotation: name})
		switch x := v.(type) {
		case v1.Image:
			err = p.AppendImage(x, opt)
		case v1.ImageIndex:
			err = p.AppendIndex(x, opt)
		default:
			t.Fatalf("writeLayout: %T", v)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// manifestDigest returns the digest of an image's or index's manifest.
func manifestDigest(t testing.TB, m partial.WithRawManifest) string {
	t.Helper()
	raw, err := m.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	return sha256Digest(raw)
}

func rawManifest(t testing.TB, m partial.WithRawManifest) []byte {
	t.Helper()
	raw, err := m.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func sha256Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// contentSet lists every manifest and blob digest of an image or index,
// recursively: what a complete copy must contain.
type contentSet struct {
	Manifests map[string][]byte // digest -> raw manifest
	Blobs     map[string]int64  // digest -> size
}

func collectContent(t testing.TB, v any) contentSet {
	t.Helper()
	cs := contentSet{Manifests: map[string][]byte{}, Blobs: map[string]int64{}}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case v1.Image:
			raw := rawManifest(t, x)
			cs.Manifests[sha256Digest(raw)] = raw
			m, err := x.Manifest()
			if err != nil {
				t.Fatal(err)
			}
			cs.Blobs[m.Config.Digest.String()] = m.Config.Size
			for _, l := range m.Layers {
				cs.Blobs[l.Digest.String()] = l.Size
			}
		case v1.ImageIndex:
			raw := rawManifest(t, x)
			cs.Manifests[sha256Digest(raw)] = raw
			im, err := x.IndexManifest()
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range im.Manifests {
				if d.MediaType.IsIndex() {
					child, err := x.ImageIndex(d.Digest)
					if err != nil {
						t.Fatal(err)
					}
					walk(child)
				} else {
					child, err := x.Image(d.Digest)
					if err != nil {
						t.Fatal(err)
					}
					walk(child)
				}
			}
		default:
			t.Fatalf("collectContent: %T", v)
		}
	}
	walk(v)
	return cs
}

// verifyLayoutHas checks that an OCI layout directory written by a client
// contains the manifest `digest` under ref name `name` (when name != ""),
// and every manifest and blob of want, byte-identical.
func verifyLayoutHas(t testing.TB, dir, name, digest string, want contentSet) {
	t.Helper()
	var idx v1.IndexManifest
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatalf("%s/index.json: %v", dir, err)
	}
	found := false
	for _, d := range idx.Manifests {
		if d.Digest.String() == digest && (name == "" || d.Annotations[refNameAnnotation] == name) {
			found = true
		}
	}
	if !found {
		t.Errorf("layout %s: index.json has no manifest %s named %q:\n%s", dir, digest, name, b)
	}
	for d, raw := range want.Manifests {
		got, err := readLayoutBlob(dir, d)
		if err != nil {
			t.Errorf("layout %s: manifest %s: %v", dir, d, err)
			continue
		}
		if string(got) != string(raw) {
			t.Errorf("layout %s: manifest %s differs", dir, d)
		}
	}
	for d, size := range want.Blobs {
		got, err := readLayoutBlob(dir, d)
		if err != nil {
			t.Errorf("layout %s: blob %s: %v", dir, d, err)
			continue
		}
		if int64(len(got)) != size {
			t.Errorf("layout %s: blob %s: size %d, want %d", dir, d, len(got), size)
		}
	}
}

// readLayoutBlob reads a blob of an OCI layout and checks its digest.
func readLayoutBlob(dir, digest string) ([]byte, error) {
	algo, hexd, ok := strings.Cut(digest, ":")
	if !ok {
		return nil, fmt.Errorf("bad digest %q", digest)
	}
	b, err := os.ReadFile(filepath.Join(dir, "blobs", algo, hexd))
	if err != nil {
		return nil, err
	}
	if got := sha256Digest(b); algo == "sha256" && got != digest {
		return nil, fmt.Errorf("content hashes to %s", got)
	}
	return b, nil
}

// hashFile returns the sha256 digest and size of a file.
func hashFile(t testing.TB, path string) (string, int64) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		t.Fatal(err)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), n
}
