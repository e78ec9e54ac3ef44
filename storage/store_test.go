package storage

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

func TestRepoAreas(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	const name = "docker.io/library/app"
	lower := repo(t, s, name, "base")
	upper := repo(t, s, name, "build1")
	both := repo(t, s, name, "build1", "base")

	if got := both.Areas(); !slices.Equal(got, []string{"build1", "base"}) {
		t.Errorf("Areas() = %q", got)
	}
	if both.Name() != name || both.Local() != both {
		t.Errorf("Name() = %q, Local() = %p, want %q, %p", both.Name(), both.Local(), name, both)
	}

	baseImg := imageManifest(t, lower, obj{"annotations": obj{"area": "base"}}, []byte("base layer"))
	putManifest(t, lower, baseImg, "shared", "base-only")
	upperImg := imageManifest(t, upper, obj{"annotations": obj{"area": "build1"}}, []byte("build1 layer"))
	putManifest(t, upper, upperImg, "shared", "build1-only")

	// Reads fall through the areas in order; the first area with a tag wins.
	for _, tt := range []struct {
		ref  string
		want digest.Digest
	}{
		{"shared", upperImg.m.Digest},
		{"base-only", baseImg.m.Digest},
		{"build1-only", upperImg.m.Digest},
		{baseImg.m.Digest.String(), baseImg.m.Digest},
		{upperImg.m.Digest.String(), upperImg.m.Digest},
	} {
		desc, err := both.ManifestStat(ctx, tt.ref)
		if err != nil || desc.Digest != tt.want {
			t.Errorf("ManifestStat(%s) = %s, %v; want %s", tt.ref, desc.Digest, err, tt.want)
		}
		m, err := both.Manifest(ctx, tt.ref)
		if err != nil || m.Digest != tt.want {
			t.Errorf("Manifest(%s) = %v, %v; want %s", tt.ref, m, err, tt.want)
		}
	}
	if _, err := lower.ManifestStat(ctx, "build1-only"); !errors.Is(err, ErrManifestUnknown) {
		t.Errorf("the base area sees build1's tag: %v", err)
	}
	if _, err := lower.ManifestStat(ctx, upperImg.m.Digest.String()); !errors.Is(err, ErrManifestUnknown) {
		t.Errorf("the base area sees build1's manifest: %v", err)
	}
	tags, err := both.Tags(ctx)
	if err != nil || !slices.Equal(tags, []string{"base-only", "build1-only", "shared"}) {
		t.Errorf("Tags() = %q, %v", tags, err)
	}
	if _, err := both.BlobStat(ctx, digest.FromString("base layer")); err != nil {
		t.Errorf("BlobStat of a base blob through both areas: %v", err)
	}
	if _, err := lower.BlobStat(ctx, digest.FromString("build1 layer")); !errors.Is(err, ErrBlobUnknown) {
		t.Errorf("BlobStat of a build1 blob in base = %v, want ErrBlobUnknown", err)
	}

	// Writes go to the first area.
	d := pushBlob(t, both, []byte("written through both"))
	if _, err := upper.BlobStat(ctx, d); err != nil {
		t.Errorf("the blob pushed through both is not in build1: %v", err)
	}
	if _, err := lower.BlobStat(ctx, d); !errors.Is(err, ErrBlobUnknown) {
		t.Errorf("the blob pushed through both is in base: %v", err)
	}
	newImg := imageManifest(t, both, obj{"annotations": obj{"area": "both"}})
	putManifest(t, both, newImg, "base-only")
	if desc, err := both.ManifestStat(ctx, "base-only"); err != nil || desc.Digest != newImg.m.Digest {
		t.Errorf("a tag pushed through both does not shadow base's: %s, %v", desc.Digest, err)
	}
	if desc, err := lower.ManifestStat(ctx, "base-only"); err != nil || desc.Digest != baseImg.m.Digest {
		t.Errorf("pushing through both moved base's tag: %s, %v", desc.Digest, err)
	}

	// Deletes act on the first area: deleting the shadowing tag reveals
	// the one below, and a tag only below is not the first area's to delete.
	if err := both.DeleteTag(ctx, "shared"); err != nil {
		t.Fatal(err)
	}
	if desc, err := both.ManifestStat(ctx, "shared"); err != nil || desc.Digest != baseImg.m.Digest {
		t.Errorf("after deleting build1's tag, shared = %s, %v; want base's %s", desc.Digest, err, baseImg.m.Digest)
	}
	if err := both.DeleteTag(ctx, "shared"); !errors.Is(err, ErrManifestUnknown) {
		t.Errorf("DeleteTag of a tag only in a lower area = %v, want ErrManifestUnknown", err)
	}
	if err := both.DeleteManifest(ctx, baseImg.m.Digest); !errors.Is(err, ErrManifestUnknown) {
		t.Errorf("DeleteManifest of a manifest only in a lower area = %v, want ErrManifestUnknown", err)
	}
	if _, err := lower.ManifestStat(ctx, baseImg.m.Digest.String()); err != nil {
		t.Errorf("base lost its manifest: %v", err)
	}
}

func TestRepoAreaNames(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	r, err := s.Repo("docker.io/x/y")
	if err != nil || !slices.Equal(r.Areas(), []string{SharedArea}) {
		t.Errorf("Repo without areas = %v, %v; want the shared area", r, err)
	}
	for _, a := range []string{"shared", "cache", "bs-123", "a.b_c-d", "0"} {
		if !ValidArea(a) {
			t.Errorf("ValidArea(%q) = false", a)
		}
		if _, err := s.Repo("x", "shared", a); err != nil {
			t.Errorf("Repo(x, shared, %q): %v", a, err)
		}
	}
	for _, a := range []string{"", "Shared", "../x", "a/b", ".hidden", "-a", "_a", "a b", string(make([]byte, 129))} {
		if ValidArea(a) {
			t.Errorf("ValidArea(%q) = true", a)
		}
		if _, err := s.Repo("x", "shared", a); !errors.Is(err, ErrAreaInvalid) {
			t.Errorf("Repo(x, shared, %q) = %v, want ErrAreaInvalid", a, err)
		}
	}
	if _, err := s.Repositories(ctx, "../x"); !errors.Is(err, ErrAreaInvalid) {
		t.Errorf("Repositories(../x) = %v, want ErrAreaInvalid", err)
	}
}

func TestBlobExists(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	d := pushBlob(t, repo(t, s, "a/b"), []byte("somewhere"))
	if ok, err := s.BlobExists(ctx, d); !ok || err != nil {
		t.Errorf("BlobExists(pushed) = %v, %v", ok, err)
	}
	if ok, err := s.BlobExists(ctx, digest.FromString("nowhere")); ok || err != nil {
		t.Errorf("BlobExists(unknown) = %v, %v", ok, err)
	}
	if _, err := s.BlobExists(ctx, "sha256:nothex"); !errors.Is(err, ErrDigestInvalid) {
		t.Errorf("BlobExists(bad) = %v, want ErrDigestInvalid", err)
	}
}

func TestErrorMessages(t *testing.T) {
	t.Parallel()
	d := digest.FromString("x")
	for _, tt := range []struct {
		err   error
		words []string
	}{
		{&OffsetError{Offset: 10, Start: 20}, []string{"20", "10"}},
		{&ManifestInvalidError{Reason: "schemaVersion must be 2"}, []string{"manifest invalid", "schemaVersion must be 2"}},
		{&ManifestBlobUnknownError{Digest: d, MediaType: "application/x"}, []string{d.String(), "application/x"}},
	} {
		for _, w := range tt.words {
			if !strings.Contains(tt.err.Error(), w) {
				t.Errorf("%q does not mention %q", tt.err.Error(), w)
			}
		}
	}
}
