package storage

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// allKinds pushes the blobs of, and returns, one manifest of each kind
// shadowreg stores, each as pushed with its Content-Type.
func allKinds(t *testing.T, r *Repo) []testManifest {
	t.Helper()
	config := []byte(`{"architecture":"amd64","os":"linux"}`)
	layer := pattern(1, 1000)
	pushBlob(t, r, config)
	pushBlob(t, r, layer)
	oci := makeManifest(t, MediaTypeOCIManifest, obj{"schemaVersion": 2, "mediaType": MediaTypeOCIManifest,
		"config": descOf("application/vnd.oci.image.config.v1+json", config),
		"layers": []obj{descOf("application/vnd.oci.image.layer.v1.tar+gzip", layer)}})
	docker := makeManifest(t, MediaTypeDockerManifest, obj{"schemaVersion": 2, "mediaType": MediaTypeDockerManifest,
		"config": descOf("application/vnd.docker.container.image.v1+json", config),
		"layers": []obj{descOf("application/vnd.docker.image.rootfs.diff.tar.gzip", layer)}})
	index := makeManifest(t, MediaTypeOCIIndex, obj{"schemaVersion": 2, "mediaType": MediaTypeOCIIndex,
		"manifests": []obj{descOf(MediaTypeOCIManifest, oci.m.Data)}})
	list := makeManifest(t, MediaTypeDockerList, obj{"schemaVersion": 2, "mediaType": MediaTypeDockerList,
		"manifests": []obj{descOf(MediaTypeDockerManifest, docker.m.Data)}})
	return []testManifest{oci, docker, index, list}
}

func TestManifestPutAndGet(t *testing.T) {
	t.Parallel()
	s, dir := newTestStore(t)
	r := repo(t, s, "docker.io/library/app")
	for i, tm := range allKinds(t, r) {
		tag := "tag" + string(rune('a'+i))
		putManifest(t, r, tm, tag)
		for _, ref := range []string{tag, tm.m.Digest.String()} {
			desc, err := r.ManifestStat(ctx, ref)
			if err != nil || desc.Digest != tm.m.Digest || desc.MediaType != tm.m.MediaType || desc.Size != int64(len(tm.m.Data)) {
				t.Errorf("ManifestStat(%s) = %+v, %v; want %s %s", ref, desc, err, tm.m.MediaType, tm.m.Digest)
			}
			for _, st := range []*Store{s, New(s.Driver(), Options{})} { // cached, and from disk
				m, err := repo(t, st, r.Name()).Manifest(ctx, ref)
				if err != nil || m.Digest != tm.m.Digest || m.MediaType != tm.m.MediaType || !bytes.Equal(m.Data, tm.m.Data) {
					t.Errorf("Manifest(%s) = %v, %v; want the bytes pushed", ref, m, err)
				} else if !reflect.DeepEqual(m.Descriptor(), desc) {
					t.Errorf("Manifest(%s).Descriptor() = %+v, want %+v", ref, m.Descriptor(), desc)
				}
			}
		}
	}
	// The manifest bytes are content, like blobs.
	oci := allKinds(t, r)[0]
	if b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(blobPath(oci.m.Digest)))); err != nil || !bytes.Equal(b, oci.m.Data) {
		t.Errorf("the manifest's bytes are not stored by digest: %v", err)
	}

	// Misses.
	for _, ref := range []string{"nope", digest.FromString("nope").String(), "bad!tag", "sha256:abc", ""} {
		if _, err := r.ManifestStat(ctx, ref); !errors.Is(err, ErrManifestUnknown) {
			t.Errorf("ManifestStat(%q) = %v, want ErrManifestUnknown", ref, err)
		}
		if _, err := r.Manifest(ctx, ref); !errors.Is(err, ErrManifestUnknown) {
			t.Errorf("Manifest(%q) = %v, want ErrManifestUnknown", ref, err)
		}
	}
	if _, err := repo(t, s, "docker.io/library/other").Manifest(ctx, oci.m.Digest.String()); !errors.Is(err, ErrManifestUnknown) {
		t.Errorf("another repository serves the manifest: %v", err)
	}
	if err := r.PutManifest(ctx, oci.m, oci.p, "ok", "bad!tag"); err == nil {
		t.Error("PutManifest with an invalid tag succeeded")
	}
	if _, err := r.ManifestStat(ctx, "ok"); !errors.Is(err, ErrManifestUnknown) {
		t.Errorf("PutManifest refused a tag list but set its valid tags: %v", err)
	}
}

// Manifest bytes that rotted on disk are never served: reading them
// verifies the digest.
func TestManifestCorruptOnDisk(t *testing.T) {
	t.Parallel()
	for _, garbage := range []string{"same length?", "{}", ""} {
		s, dir := newTestStore(t)
		r := repo(t, s, "a/b")
		tm := imageManifest(t, r, nil)
		putManifest(t, r, tm, "v1")
		if garbage == "same length?" {
			garbage = strings.Repeat("x", len(tm.m.Data))
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(blobPath(tm.m.Digest))), []byte(garbage), 0o644); err != nil {
			t.Fatal(err)
		}
		fresh := repo(t, New(s.Driver(), Options{}), "a/b") // no cached copy
		for _, ref := range []string{"v1", tm.m.Digest.String()} {
			m, err := fresh.Manifest(ctx, ref)
			if err == nil {
				t.Errorf("Manifest(%s) over %d bytes of garbage = %q, want an error", ref, len(garbage), m.Data)
			}
		}
		// The store that wrote it still has the right bytes in memory.
		if m, err := r.Manifest(ctx, "v1"); err != nil || !bytes.Equal(m.Data, tm.m.Data) {
			t.Errorf("cached Manifest = %v, %v", m, err)
		}
	}
	// With the cache off, a store never serves what it did not verify.
	s, dir := newTestStore(t)
	nocache := New(s.Driver(), Options{ManifestCacheBytes: -1})
	r := repo(t, nocache, "a/b")
	tm := imageManifest(t, r, nil)
	putManifest(t, r, tm, "v1")
	os.WriteFile(filepath.Join(dir, filepath.FromSlash(blobPath(tm.m.Digest))), []byte("rotten"), 0o644)
	if m, err := r.Manifest(ctx, "v1"); err == nil {
		t.Errorf("Manifest with the cache off served %q", m.Data)
	}
}

func TestTagsAndDeletes(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	r := repo(t, s, "docker.io/x/app")
	if _, err := r.Tags(ctx); !errors.Is(err, ErrNameUnknown) {
		t.Errorf("Tags of an unknown repository = %v, want ErrNameUnknown", err)
	}
	one := imageManifest(t, r, obj{"annotations": obj{"n": "1"}})
	two := imageManifest(t, r, obj{"annotations": obj{"n": "2"}})
	putManifest(t, r, one, "latest", "v1", "v1.0")
	putManifest(t, r, two, "v2")
	putManifest(t, r, two) // by digest only
	tags, err := r.Tags(ctx)
	if want := []string{"latest", "v1", "v1.0", "v2"}; err != nil || !slices.Equal(tags, want) {
		t.Errorf("Tags() = %q, %v; want %q", tags, err, want)
	}

	// Moving a tag.
	putManifest(t, r, two, "latest")
	if desc, _ := r.ManifestStat(ctx, "latest"); desc.Digest != two.m.Digest {
		t.Errorf("latest = %s after moving it to %s", desc.Digest, two.m.Digest)
	}

	// Deleting a tag leaves the manifest.
	if err := r.DeleteTag(ctx, "v1.0"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ManifestStat(ctx, "v1.0"); !errors.Is(err, ErrManifestUnknown) {
		t.Errorf("deleted tag resolves: %v", err)
	}
	if _, err := r.ManifestStat(ctx, one.m.Digest.String()); err != nil {
		t.Errorf("deleting a tag deleted its manifest: %v", err)
	}
	for _, tag := range []string{"v1.0", "never", "bad!", ""} {
		if err := r.DeleteTag(ctx, tag); !errors.Is(err, ErrManifestUnknown) {
			t.Errorf("DeleteTag(%q) = %v, want ErrManifestUnknown", tag, err)
		}
	}

	// Deleting a manifest takes the tags pointing at it, and only those.
	if err := r.DeleteManifest(ctx, two.m.Digest); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"latest", "v2", two.m.Digest.String()} {
		if _, err := r.ManifestStat(ctx, ref); !errors.Is(err, ErrManifestUnknown) {
			t.Errorf("after DeleteManifest, %s = %v", ref, err)
		}
	}
	tags, err = r.Tags(ctx)
	if err != nil || !slices.Equal(tags, []string{"v1"}) {
		t.Errorf("Tags() after DeleteManifest = %q, %v; want [v1]", tags, err)
	}
	if err := r.DeleteManifest(ctx, two.m.Digest); !errors.Is(err, ErrManifestUnknown) {
		t.Errorf("second DeleteManifest = %v, want ErrManifestUnknown", err)
	}
	if err := r.DeleteManifest(ctx, digest.FromString("never")); !errors.Is(err, ErrManifestUnknown) {
		t.Errorf("DeleteManifest(unknown) = %v, want ErrManifestUnknown", err)
	}
	// The repository still exists with no tags.
	if err := r.DeleteTag(ctx, "v1"); err != nil {
		t.Fatal(err)
	}
	if tags, err := r.Tags(ctx); err != nil || len(tags) != 0 {
		t.Errorf("Tags() with none left = %q, %v; want none", tags, err)
	}
}

func TestValidTag(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		tag string
		ok  bool
	}{
		{"latest", true}, {"v1.0", true}, {"V1", true}, {"_x", true}, {"1", true}, {"a-b_c.d", true},
		{strings.Repeat("t", 128), true},
		{strings.Repeat("t", 129), false}, {"", false}, {".x", false}, {"-x", false}, {"a/b", false},
		{"a:b", false}, {"a b", false}, {"sha256:abc", false}, {"..", false},
	} {
		if got := ValidTag(tt.tag); got != tt.ok {
			t.Errorf("ValidTag(%q) = %v, want %v", tt.tag, got, tt.ok)
		}
	}
}

// TagStat and Tag: when a tag was set, and setting one onto a manifest the
// repository holds.
func TestTagStatAndTag(t *testing.T) {
	t.Parallel()
	fs, _ := newFS(t)
	now := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	s := New(fs, Options{Now: func() time.Time { return now }})
	r := repo(t, s, "a/b", CacheArea)
	tm := imageManifest(t, r, nil)
	putManifest(t, r, tm, "v1")
	desc, updated, err := r.TagStat(ctx, "v1")
	if err != nil || desc.Digest != tm.m.Digest || desc.MediaType != MediaTypeOCIManifest || !updated.Equal(now) {
		t.Errorf("TagStat = %+v, %v, %v", desc, updated, err)
	}
	now = now.Add(time.Hour)
	if err := r.Tag(ctx, "v2", desc); err != nil {
		t.Fatal(err)
	}
	if d2, u2, err := r.TagStat(ctx, "v2"); err != nil || d2.Digest != tm.m.Digest || !u2.Equal(now) {
		t.Errorf("TagStat(v2) = %+v, %v, %v", d2, u2, err)
	}
	other := ocispec.Descriptor{MediaType: MediaTypeOCIManifest, Digest: digest.FromString("x"), Size: 1}
	if err := r.Tag(ctx, "v3", other); !errors.Is(err, ErrManifestUnknown) {
		t.Errorf("Tag onto an unknown manifest = %v, want ErrManifestUnknown", err)
	}
	if err := r.Tag(ctx, "bad!", desc); err == nil {
		t.Error("Tag with an invalid tag succeeded")
	}
	if _, _, err := r.TagStat(ctx, "v3"); !errors.Is(err, ErrManifestUnknown) {
		t.Errorf("TagStat(v3) = %v, want ErrManifestUnknown", err)
	}
}

func TestReferrers(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	r := repo(t, s, "docker.io/x/app")
	subject := imageManifest(t, r, nil, []byte("layer"))
	putManifest(t, r, subject, "v1")
	subjectDesc := descOf(MediaTypeOCIManifest, subject.m.Data)
	empty := []byte("{}")
	pushBlob(t, r, empty)
	sig := makeManifest(t, MediaTypeOCIManifest, obj{"schemaVersion": 2, "mediaType": MediaTypeOCIManifest,
		"artifactType": "application/vnd.example.sig", "config": descOf("application/vnd.oci.empty.v1+json", empty),
		"layers": []obj{descOf("application/vnd.oci.empty.v1+json", empty)}, "subject": subjectDesc})
	sbom := makeManifest(t, MediaTypeOCIManifest, obj{"schemaVersion": 2, "mediaType": MediaTypeOCIManifest,
		"config": descOf("application/vnd.example.sbom.config", empty), "layers": []obj{},
		"subject": subjectDesc, "annotations": obj{"k": "v"}})
	bundle := makeManifest(t, MediaTypeOCIIndex, obj{"schemaVersion": 2, "mediaType": MediaTypeOCIIndex,
		"artifactType": "application/vnd.example.bundle", "manifests": []obj{descOf(MediaTypeOCIManifest, sig.m.Data)},
		"subject": subjectDesc})
	putManifest(t, r, sig)
	putManifest(t, r, sbom)
	putManifest(t, r, bundle)

	want := []ocispec.Descriptor{
		{MediaType: MediaTypeOCIManifest, Digest: sig.m.Digest, Size: int64(len(sig.m.Data)), ArtifactType: "application/vnd.example.sig"},
		{MediaType: MediaTypeOCIManifest, Digest: sbom.m.Digest, Size: int64(len(sbom.m.Data)), ArtifactType: "application/vnd.example.sbom.config", Annotations: map[string]string{"k": "v"}},
		{MediaType: MediaTypeOCIIndex, Digest: bundle.m.Digest, Size: int64(len(bundle.m.Data)), ArtifactType: "application/vnd.example.bundle"},
	}
	slices.SortFunc(want, func(a, b ocispec.Descriptor) int { return strings.Compare(string(a.Digest), string(b.Digest)) })
	got, err := r.Referrers(ctx, subject.m.Digest)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("Referrers = %+v, %v\nwant %+v", got, err, want)
	}
	if got, err := r.Referrers(ctx, digest.FromString("none")); err != nil || len(got) != 0 {
		t.Errorf("Referrers(unknown) = %+v, %v; want none", got, err)
	}
	if got, err := repo(t, s, "docker.io/x/other").Referrers(ctx, subject.m.Digest); err != nil || len(got) != 0 {
		t.Errorf("Referrers in another repository = %+v, %v; want none", got, err)
	}
	if _, err := r.Referrers(ctx, "sha256:bad"); !errors.Is(err, ErrDigestInvalid) {
		t.Errorf("Referrers(bad) = %v, want ErrDigestInvalid", err)
	}

	// Over areas: a build area adds its own, and the listing is one list.
	build := repo(t, s, "docker.io/x/app", "build1", SharedArea)
	pushBlob(t, build, empty)
	att := makeManifest(t, MediaTypeOCIManifest, obj{"schemaVersion": 2, "mediaType": MediaTypeOCIManifest,
		"artifactType": "application/vnd.example.att", "config": descOf("application/vnd.oci.empty.v1+json", empty),
		"layers": []obj{}, "subject": subjectDesc})
	putManifest(t, build, att)
	putManifest(t, build, sig) // in both areas: listed once
	got, err = build.Referrers(ctx, subject.m.Digest)
	if err != nil || len(got) != 4 {
		t.Fatalf("Referrers over two areas = %+v, %v; want 4", got, err)
	}
	if !slices.IsSortedFunc(got, func(a, b ocispec.Descriptor) int { return strings.Compare(string(a.Digest), string(b.Digest)) }) {
		t.Errorf("Referrers over two areas are not sorted by digest: %+v", got)
	}
	if got, _ := r.Referrers(ctx, subject.m.Digest); len(got) != 3 {
		t.Errorf("the shared area sees the build area's referrer: %+v", got)
	}

	// Deleting a referrer removes it from the listing.
	if err := r.DeleteManifest(ctx, sig.m.Digest); err != nil {
		t.Fatal(err)
	}
	got, _ = r.Referrers(ctx, subject.m.Digest)
	for _, d := range got {
		if d.Digest == sig.m.Digest {
			t.Errorf("a deleted referrer is still listed")
		}
	}
	if len(got) != 2 {
		t.Errorf("after deleting one referrer: %+v", got)
	}
	// Deleting it from a fresh store (no cached bytes) works the same.
	fresh := repo(t, New(s.Driver(), Options{}), "docker.io/x/app")
	if err := fresh.DeleteManifest(ctx, sbom.m.Digest); err != nil {
		t.Fatal(err)
	}
	if got, _ := fresh.Referrers(ctx, subject.m.Digest); len(got) != 1 || got[0].Digest != bundle.m.Digest {
		t.Errorf("after deleting sbom from a fresh store: %+v", got)
	}
}

func TestRepositories(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	if got, err := s.Repositories(ctx, SharedArea); err != nil || len(got) != 0 || got == nil {
		t.Errorf("Repositories of an empty store = %#v, %v; want an empty list", got, err)
	}
	var tms = map[string]testManifest{}
	for _, name := range []string{"docker.io/library/b", "quay.io/org/img", "docker.io/library/b/nested", "docker.io/a"} {
		r := repo(t, s, name)
		tm := imageManifest(t, r, nil)
		putManifest(t, r, tm, "latest")
		tms[name] = tm
	}
	pushBlob(t, repo(t, s, "docker.io/blobs/only"), []byte("no manifest"))
	up := mustStart(t, repo(t, s, "docker.io/uploading/only"))
	mustAppend(t, up, "x", 0)
	build := repo(t, s, "docker.io/in/build", "build1")
	putManifest(t, build, imageManifest(t, build, nil), "latest")

	want := []string{"docker.io/a", "docker.io/library/b", "docker.io/library/b/nested", "quay.io/org/img"}
	if got, err := s.Repositories(ctx, SharedArea); err != nil || !slices.Equal(got, want) {
		t.Errorf("Repositories(shared) = %q, %v; want %q", got, err, want)
	}
	if got, err := s.Repositories(ctx, "build1"); err != nil || !slices.Equal(got, []string{"docker.io/in/build"}) {
		t.Errorf("Repositories(build1) = %q, %v", got, err)
	}
	if got, err := s.Repositories(ctx, "unused"); err != nil || len(got) != 0 {
		t.Errorf("Repositories(unused) = %q, %v", got, err)
	}

	// A repository whose last manifest is deleted leaves the catalog.
	r := repo(t, s, "docker.io/library/b")
	if err := r.DeleteManifest(ctx, tms["docker.io/library/b"].m.Digest); err != nil {
		t.Fatal(err)
	}
	want = []string{"docker.io/a", "docker.io/library/b/nested", "quay.io/org/img"}
	if got, err := s.Repositories(ctx, SharedArea); err != nil || !slices.Equal(got, want) {
		t.Errorf("Repositories after deleting b's manifest = %q, %v; want %q", got, err, want)
	}
}

// A repository exists when something was pushed to it; being the folder
// of a nested repository does not make a name a repository.
func TestTagsOfAParentName(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	nested := repo(t, s, "quay.io/org/team/img")
	putManifest(t, nested, imageManifest(t, nested, nil), "latest")
	for _, name := range []string{"quay.io/org/team", "quay.io/org"} {
		if tags, err := repo(t, s, name).Tags(ctx); !errors.Is(err, ErrNameUnknown) {
			t.Errorf("Tags(%s) = %q, %v; want ErrNameUnknown: only %s was pushed", name, tags, err, nested.Name())
		}
	}
	if tags, err := nested.Tags(ctx); err != nil || !slices.Equal(tags, []string{"latest"}) {
		t.Errorf("Tags(%s) = %q, %v", nested.Name(), tags, err)
	}
}

// A manifest pushed over lower areas keeps what it references: the write
// area links the blobs and child manifests it found below, so the manifest
// stays whole when a lower area goes.
func TestPutManifestLinksWhatItReferences(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	const name = "docker.io/team/app"
	base := repo(t, s, name)
	img := imageManifest(t, base, nil, []byte("base layer"))
	putManifest(t, base, img, "base")

	both := repo(t, s, name, "build1", SharedArea)
	idx := makeManifest(t, MediaTypeOCIIndex, obj{"schemaVersion": 2, "mediaType": MediaTypeOCIIndex,
		"manifests": []obj{descOf(MediaTypeOCIManifest, img.m.Data)}})
	putManifest(t, both, idx, "index")
	again := makeManifest(t, MediaTypeOCIManifest, obj{"schemaVersion": 2, "mediaType": MediaTypeOCIManifest,
		"config": img.p.Config, "layers": img.p.Layers, "annotations": obj{"rebuilt": "yes"}})
	putManifest(t, both, again, "image")

	build := repo(t, s, name, "build1")
	for _, d := range append([]digest.Digest{img.p.Config.Digest}, img.p.Layers[0].Digest) {
		if _, err := build.BlobStat(ctx, d); err != nil {
			t.Errorf("blob %s was not linked into the write area: %v", d, err)
		}
	}
	if desc, err := build.ManifestStat(ctx, img.m.Digest.String()); err != nil || desc.MediaType != MediaTypeOCIManifest {
		t.Errorf("the index's child was not linked into the write area: %+v, %v", desc, err)
	}
	if tags, _ := build.Tags(ctx); !slices.Equal(tags, []string{"image", "index"}) {
		t.Errorf("build1 tags = %q", tags)
	}
}

// What the store does not hold refuses the manifest, unless the repository
// falls through to an upstream that may have it.
func TestPutManifestRefusesMissingContent(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	r := repo(t, s, "docker.io/team/app")
	config := []byte(`{"os":"linux"}`)
	pushBlob(t, r, config)
	missingLayer := makeManifest(t, MediaTypeOCIManifest, obj{"schemaVersion": 2, "mediaType": MediaTypeOCIManifest,
		"config": descOf("application/vnd.oci.image.config.v1+json", config),
		"layers": []obj{descOf("application/vnd.oci.image.layer.v1.tar", []byte("absent"))}})
	missingChild := makeManifest(t, MediaTypeOCIIndex, obj{"schemaVersion": 2, "mediaType": MediaTypeOCIIndex,
		"manifests": []obj{descOf(MediaTypeOCIManifest, []byte("absent child"))}})
	nondist := makeManifest(t, MediaTypeOCIManifest, obj{"schemaVersion": 2, "mediaType": MediaTypeOCIManifest,
		"config": descOf("application/vnd.oci.image.config.v1+json", config),
		"layers": []obj{descOf("application/vnd.oci.image.layer.nondistributable.v1.tar", []byte("absent"))}})

	for _, tm := range []testManifest{missingLayer, missingChild} {
		err := r.PutManifest(ctx, tm.m, tm.p, "x")
		var mbu *ManifestBlobUnknownError
		if !errors.As(err, &mbu) {
			t.Errorf("PutManifest(%s) = %v, want ManifestBlobUnknownError", tm.p.MediaType, err)
		}
		if _, err := r.ManifestStat(ctx, tm.m.Digest.String()); !errors.Is(err, ErrManifestUnknown) {
			t.Errorf("a refused manifest is stored: %v", err)
		}
		if err := r.WithUpstream().PutManifest(ctx, tm.m, tm.p); err != nil {
			t.Errorf("PutManifest(%s) falling through to an upstream: %v", tm.p.MediaType, err)
		}
	}
	if _, err := r.ManifestStat(ctx, "x"); !errors.Is(err, ErrManifestUnknown) {
		t.Errorf("a refused manifest's tag is set: %v", err)
	}
	if err := r.PutManifest(ctx, nondist.m, nondist.p, "nondist"); err != nil {
		t.Errorf("PutManifest with a non-distributable layer: %v", err)
	}
}
