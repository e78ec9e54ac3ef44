package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/shadowreg/shadowreg/storage"
	"github.com/shadowreg/shadowreg/storage/driver"
	"github.com/shadowreg/shadowreg/storage/driver/filesystem"
)

// Test content: blobs and manifests of every kind, with their digests.

type testBlob struct {
	data []byte
	d    digest.Digest
}

func newTestBlob(data []byte) testBlob { return testBlob{data, digest.FromBytes(data)} }

type testManifest struct {
	mediaType string
	data      []byte
	d         digest.Digest
}

func newTestManifest(mediaType string, v any) testManifest {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return testManifest{mediaType, b, digest.FromBytes(b)}
}

type obj = map[string]any

func desc(mediaType string, d digest.Digest, size int) obj {
	return obj{"mediaType": mediaType, "digest": d.String(), "size": size}
}

func blobDesc(mediaType string, b testBlob) obj { return desc(mediaType, b.d, len(b.data)) }

func manifestDesc(m testManifest) obj { return desc(m.mediaType, m.d, len(m.data)) }

func platformDesc(m testManifest, os, arch string) obj {
	d := manifestDesc(m)
	d["platform"] = obj{"os": os, "architecture": arch}
	return d
}

const (
	mtOCIManifest    = "application/vnd.oci.image.manifest.v1+json"
	mtOCIIndex       = "application/vnd.oci.image.index.v1+json"
	mtDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	mtDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
	mtOCIConfig      = "application/vnd.oci.image.config.v1+json"
	mtOCILayer       = "application/vnd.oci.image.layer.v1.tar+gzip"
	mtDockerConfig   = "application/vnd.docker.container.image.v1+json"
	mtDockerLayer    = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	mtEmpty          = "application/vnd.oci.empty.v1+json"
	artifactSig      = "application/vnd.example.sig.v1"
	sbomConfig       = "application/vnd.example.sbom.config.v1+json"
)

var (
	layerBlob = newTestBlob(func() []byte {
		b := make([]byte, 2048)
		for i := range b {
			b[i] = byte(i*7 + i/256)
		}
		return b
	}())
	configBlob    = newTestBlob([]byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`))
	armConfigBlob = newTestBlob([]byte(`{"architecture":"arm64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`))
	emptyBlob     = newTestBlob([]byte(`{}`))
	secretBlob    = newTestBlob([]byte("held by other/img only"))
	unknownBlob   = newTestBlob([]byte("nobody has this"))

	ociManifest = newTestManifest(mtOCIManifest, obj{
		"schemaVersion": 2, "mediaType": mtOCIManifest,
		"config": blobDesc(mtOCIConfig, configBlob),
		"layers": []obj{blobDesc(mtOCILayer, layerBlob)},
	})
	dockerManifest = newTestManifest(mtDockerManifest, obj{
		"schemaVersion": 2, "mediaType": mtDockerManifest,
		"config": blobDesc(mtDockerConfig, configBlob),
		"layers": []obj{blobDesc(mtDockerLayer, layerBlob)},
	})
	dockerArmManifest = newTestManifest(mtDockerManifest, obj{
		"schemaVersion": 2, "mediaType": mtDockerManifest,
		"config": blobDesc(mtDockerConfig, armConfigBlob),
		"layers": []obj{blobDesc(mtDockerLayer, layerBlob)},
	})
	// The arm64 child comes first: negotiation must pick by platform.
	dockerList = newTestManifest(mtDockerList, obj{
		"schemaVersion": 2, "mediaType": mtDockerList,
		"manifests": []obj{platformDesc(dockerArmManifest, "linux", "arm64"), platformDesc(dockerManifest, "linux", "amd64")},
	})
	ociIndex = newTestManifest(mtOCIIndex, obj{
		"schemaVersion": 2, "mediaType": mtOCIIndex,
		"manifests": []obj{platformDesc(ociManifest, "linux", "amd64")},
	})
	// Two referrers of ociManifest: one with an artifactType, one whose
	// artifact type is its config's media type.
	sigManifest = newTestManifest(mtOCIManifest, obj{
		"schemaVersion": 2, "mediaType": mtOCIManifest, "artifactType": artifactSig,
		"config":  blobDesc(mtEmpty, emptyBlob),
		"layers":  []obj{blobDesc(mtEmpty, emptyBlob)},
		"subject": manifestDesc(ociManifest),
	})
	sbomManifest = newTestManifest(mtOCIManifest, obj{
		"schemaVersion": 2, "mediaType": mtOCIManifest,
		"config":      blobDesc(sbomConfig, emptyBlob),
		"layers":      []obj{},
		"subject":     manifestDesc(ociManifest),
		"annotations": obj{"org.example.kind": "sbom"},
	})
)

// ctx for setup calls.
var bg = context.Background()

// seedBlob uploads b into repo through the store, as a push would.
func seedBlob(t testing.TB, repo *storage.Repo, b testBlob) {
	t.Helper()
	up, err := repo.UploadStart(bg)
	if err != nil {
		t.Fatal(err)
	}
	if err := up.Append(bg, bytes.NewReader(b.data), 0, int64(len(b.data))); err != nil {
		t.Fatal(err)
	}
	if _, err := up.Commit(bg, b.d); err != nil {
		t.Fatal(err)
	}
}

func seedManifest(t testing.TB, repo *storage.Repo, m testManifest, tags ...string) {
	t.Helper()
	p, err := storage.ParseManifest(m.mediaType, m.data)
	if err != nil {
		t.Fatalf("seed manifest %s: %v", m.d, err)
	}
	if err := repo.PutManifest(bg, &storage.Manifest{Digest: m.d, MediaType: p.MediaType, Data: m.data}, p, tags...); err != nil {
		t.Fatal(err)
	}
}

func storeRepo(t testing.TB, s *storage.Store, canonical string) *storage.Repo {
	t.Helper()
	r, err := s.Repo(canonical, storage.SharedArea)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// seed fills a store with the content the API table reads:
//
//	seed/img         every manifest kind, tags docker, index, list, v1; two referrers of ociManifest
//	other/img        blobs only: layer and secret
//	quay.io/org/img  ociManifest as latest
//	alpine           ociManifest as latest (docker.io/library/alpine)
func seed(t testing.TB, s *storage.Store) {
	t.Helper()
	r := storeRepo(t, s, "docker.io/seed/img")
	for _, b := range []testBlob{layerBlob, configBlob, armConfigBlob, emptyBlob} {
		seedBlob(t, r, b)
	}
	seedManifest(t, r, ociManifest, "v1")
	seedManifest(t, r, dockerManifest, "docker")
	seedManifest(t, r, dockerArmManifest)
	seedManifest(t, r, dockerList, "list")
	seedManifest(t, r, ociIndex, "index")
	seedManifest(t, r, sigManifest)
	seedManifest(t, r, sbomManifest)

	o := storeRepo(t, s, "docker.io/other/img")
	seedBlob(t, o, layerBlob)
	seedBlob(t, o, secretBlob)

	for _, name := range []string{"quay.io/org/img", "docker.io/library/alpine"} {
		q := storeRepo(t, s, name)
		seedBlob(t, q, configBlob)
		seedBlob(t, q, layerBlob)
		seedManifest(t, q, ociManifest, "latest")
	}
}

// testRegistry is the registry over real filesystem storage in a temporary
// folder, served by httptest.
type testRegistry struct {
	store *storage.Store
	srv   *httptest.Server
}

// newTestRegistry serves a registry over d (nil: a new filesystem driver
// in a temporary folder) with opts (its Resolver is set here).
func newTestRegistry(t testing.TB, d driver.Driver, opts Options) *testRegistry {
	t.Helper()
	if d == nil {
		fs, err := filesystem.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		d = fs
	}
	store := storage.New(d, storage.Options{})
	opts.Resolver = testResolver(store)
	srv := httptest.NewServer(New(opts))
	t.Cleanup(srv.Close)
	return &testRegistry{store: store, srv: srv}
}

// testResolver is the registry's own resolver with no upstreams and no
// buildsets: every name is local content in the shared area.
func testResolver(store *storage.Store) Resolver {
	return NewRouter(store, nil, RouterOptions{})
}
