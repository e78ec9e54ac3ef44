package storage

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/shadowreg/shadowreg/storage/driver"
)

func TestBlobOpenAndRead(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	r := repo(t, s, "a/b")
	data := pattern(1, 5000)
	d := pushBlob(t, r, data)

	desc, err := r.BlobStat(ctx, d)
	if err != nil || desc.Digest != d || desc.Size != 5000 {
		t.Fatalf("BlobStat = %+v, %v", desc, err)
	}
	b, err := r.BlobOpen(ctx, d)
	if err != nil || !reflect.DeepEqual(b.Descriptor(), desc) {
		t.Fatalf("BlobOpen = %v, %v; want %+v", b, err, desc)
	}
	for _, off := range []int64{0, 1, 4999, 5000} {
		rc, err := b.Reader(ctx, off)
		if err != nil {
			t.Fatalf("Reader(%d): %v", off, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, data[off:]) {
			t.Errorf("Reader(%d) read %d bytes, %v; want the blob from %d", off, len(got), err, off)
		}
	}
	if rc, err := b.Reader(ctx, 5001); err == nil {
		rc.Close()
		t.Error("Reader beyond the end succeeded")
	}

	for _, tt := range []struct {
		d    digest.Digest
		want error
	}{
		{digest.FromString("unknown"), ErrBlobUnknown},
		{"sha256:abc", ErrDigestInvalid},
		{"md5:d41d8cd98f00b204e9800998ecf8427e", ErrDigestInvalid},
		{"", ErrDigestInvalid},
	} {
		if _, err := r.BlobStat(ctx, tt.d); !errors.Is(err, tt.want) {
			t.Errorf("BlobStat(%q) = %v, want %v", tt.d, err, tt.want)
		}
		if _, err := r.BlobOpen(ctx, tt.d); !errors.Is(err, tt.want) {
			t.Errorf("BlobOpen(%q) = %v, want %v", tt.d, err, tt.want)
		}
	}
	// Another repository does not hold it.
	if _, err := repo(t, s, "a/c").BlobStat(ctx, d); !errors.Is(err, ErrBlobUnknown) {
		t.Errorf("BlobStat in another repository = %v, want ErrBlobUnknown", err)
	}
	stored, err := r.BlobOpen(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	defer stored.Close()
	if rd, ok := stored.(Redirecter); !ok {
		t.Error("a stored blob is no Redirecter")
	} else if _, ok := rd.URL(ctx, 0); ok {
		t.Error("the filesystem driver handed out a blob URL")
	}
}

// A link whose content is gone (a hand-edited store) is a miss, not an
// internal error.
func TestBlobLinkedButGone(t *testing.T) {
	t.Parallel()
	s, dir := newTestStore(t)
	r := repo(t, s, "a/b")
	d := pushBlob(t, r, []byte("soon gone"))
	if err := os.Remove(filepath.Join(dir, filepath.FromSlash(blobPath(d)))); err != nil {
		t.Fatal(err)
	}
	if _, err := r.BlobStat(ctx, d); !errors.Is(err, ErrBlobUnknown) {
		t.Errorf("BlobStat = %v, want ErrBlobUnknown", err)
	}
	if _, err := r.BlobOpen(ctx, d); !errors.Is(err, ErrBlobUnknown) {
		t.Errorf("BlobOpen = %v, want ErrBlobUnknown", err)
	}
}

func TestBlobMount(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	src := repo(t, s, "docker.io/src/img")
	other := repo(t, s, "docker.io/other/img")
	d := pushBlob(t, src, []byte("mount me"))
	unknown := digest.FromString("nobody has this")

	// From a repository that holds it.
	dst := repo(t, s, "quay.io/dst/img")
	desc, err := dst.BlobMount(ctx, d, src)
	if err != nil || desc.Digest != d || desc.Size != 8 {
		t.Fatalf("BlobMount(from src) = %+v, %v", desc, err)
	}
	if got := readBlob(t, dst, d); string(got) != "mount me" {
		t.Errorf("mounted blob reads %q", got)
	}
	// From a repository that does not: nothing to mount, nothing linked.
	dst2 := repo(t, s, "quay.io/dst/img2")
	if _, err := dst2.BlobMount(ctx, d, other); !errors.Is(err, ErrBlobUnknown) {
		t.Errorf("BlobMount(from other) = %v, want ErrBlobUnknown", err)
	}
	if _, err := dst2.BlobStat(ctx, d); !errors.Is(err, ErrBlobUnknown) {
		t.Errorf("a failed mount linked the blob: %v", err)
	}
	// Without a source: any content the store holds.
	if desc, err := dst2.BlobMount(ctx, d, nil); err != nil || desc.Size != 8 {
		t.Errorf("BlobMount(no from) = %+v, %v", desc, err)
	}
	if _, err := dst2.BlobStat(ctx, d); err != nil {
		t.Errorf("after BlobMount(no from): %v", err)
	}
	if _, err := dst2.BlobMount(ctx, unknown, nil); !errors.Is(err, ErrBlobUnknown) {
		t.Errorf("BlobMount(unknown, no from) = %v, want ErrBlobUnknown", err)
	}
	// Digests that are not digests are refused, as by every other method,
	// with or without a source.
	for _, bad := range []digest.Digest{"sha256:bad", "sha256:a", "sha256:", "md5:d41d8cd98f00b204e9800998ecf8427e"} {
		for _, from := range []*Repo{nil, src} {
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Errorf("BlobMount(%q, from %v) panicked: %v", bad, from != nil, p)
					}
				}()
				if _, err := dst2.BlobMount(ctx, bad, from); !errors.Is(err, ErrDigestInvalid) {
					t.Errorf("BlobMount(%q, from %v) = %v, want ErrDigestInvalid", bad, from != nil, err)
				}
			}()
		}
	}
	// Into a repository over several areas: the first area.
	layered := repo(t, s, "quay.io/dst/img3", "build1", "shared")
	if _, err := layered.BlobMount(ctx, d, src); err != nil {
		t.Fatal(err)
	}
	if _, err := repo(t, s, "quay.io/dst/img3", "build1").BlobStat(ctx, d); err != nil {
		t.Errorf("the mount did not go to the first area: %v", err)
	}
	if _, err := repo(t, s, "quay.io/dst/img3").BlobStat(ctx, d); !errors.Is(err, ErrBlobUnknown) {
		t.Errorf("the mount went to the shared area: %v", err)
	}
}

func TestBlobDeleteIsPerRepository(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	a := repo(t, s, "docker.io/x/a")
	b := repo(t, s, "docker.io/x/b")
	data := []byte("shared content")
	d := pushBlob(t, a, data)
	pushBlob(t, b, data)

	if err := a.BlobDelete(ctx, d); err != nil {
		t.Fatal(err)
	}
	if _, err := a.BlobStat(ctx, d); !errors.Is(err, ErrBlobUnknown) {
		t.Errorf("BlobStat after BlobDelete = %v, want ErrBlobUnknown", err)
	}
	if got := readBlob(t, b, d); !bytes.Equal(got, data) {
		t.Errorf("the other repository lost the blob: %q", got)
	}
	if ok, _ := s.BlobExists(ctx, d); !ok {
		t.Error("the content went with one repository's link")
	}
	if err := a.BlobDelete(ctx, d); !errors.Is(err, ErrBlobUnknown) {
		t.Errorf("second BlobDelete = %v, want ErrBlobUnknown", err)
	}
	if err := a.BlobDelete(ctx, "sha256:nothex"); !errors.Is(err, ErrDigestInvalid) {
		t.Errorf("BlobDelete(bad) = %v, want ErrDigestInvalid", err)
	}
	// Only the first area's link goes.
	layered := repo(t, s, "docker.io/x/b", "build1", "shared")
	if err := layered.BlobDelete(ctx, d); !errors.Is(err, ErrBlobUnknown) {
		t.Errorf("BlobDelete of a blob only in a lower area = %v, want ErrBlobUnknown", err)
	}
	if _, err := layered.BlobStat(ctx, d); err != nil {
		t.Errorf("the lower area lost the blob: %v", err)
	}
}

// ImportBlob takes a verified local file as a blob: by adoption on the
// filesystem, by a copy on drivers that cannot adopt.
func TestImportBlob(t *testing.T) {
	t.Parallel()
	for _, adopt := range []bool{true, false} {
		name := "adopting"
		if !adopt {
			name = "copying"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fs, dir := newFS(t)
			var d driver.Driver = fs
			var f *os.File
			var err error
			if adopt {
				f, err = fs.TempFile()
			} else {
				d = newCountingDriver(fs) // hides Adopter
				f, err = os.CreateTemp(t.TempDir(), "spool-*")
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := d.(driver.Adopter); ok != adopt {
				t.Fatalf("driver adopts: %v", ok)
			}
			s := New(d, Options{})
			r := repo(t, s, "docker.io/cache/img", CacheArea)
			data := pattern(4, 3<<20)
			if _, err := f.Write(data); err != nil {
				t.Fatal(err)
			}
			dg := digest.FromBytes(data)
			desc, err := r.ImportBlob(ctx, dg, f)
			if err != nil || desc.Digest != dg || desc.Size != int64(len(data)) {
				t.Fatalf("ImportBlob = %+v, %v", desc, err)
			}
			if !adopt {
				f.Close()
			}
			if !bytes.Equal(readBlob(t, r, dg), data) {
				t.Error("the imported blob is not the file's bytes")
			}
			if _, err := repo(t, s, "docker.io/cache/img").BlobStat(ctx, dg); !errors.Is(err, ErrBlobUnknown) {
				t.Errorf("the import went to the shared area: %v", err)
			}
			entries, _ := os.ReadDir(filepath.Join(dir, "uploads"))
			if len(entries) != 0 {
				t.Errorf("the import left %d entries under uploads/", len(entries))
			}
			if _, err := r.ImportBlob(ctx, "sha256:bad", f); !errors.Is(err, ErrDigestInvalid) {
				t.Errorf("ImportBlob(bad digest) = %v, want ErrDigestInvalid", err)
			}
		})
	}
}
