package e2e

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// treeOf describes every entry under dir: name → mode and content (a
// symlink's target), to compare round trips.
func treeOf(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		desc := info.Mode().String()
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			desc += " -> " + l
		case info.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			desc += " " + sha256Digest(b)
		}
		out[rel] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameTree(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s:\n got %v\nwant %v", what, got, want)
	}
}

func writeTestDir(t *testing.T, dir string) {
	t.Helper()
	for name, mode := range map[string]fs.FileMode{"run.sh": 0o755, "sub/data.txt": 0o640, "sub/deeper/notes.md": 0o600} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("content of "+name+"\n"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("sub/data.txt", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
}

// TestClientOrasFiles: a file and a directory pushed by shadowreg are
// pulled by oras, and oras's pushes come back with shadowreg pull --unpack,
// byte for byte, names and modes kept.
func TestClientOrasFiles(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	sr := newSRCLI(t, srv)
	requireTool(t, "oras")
	env := clientEnv(t)
	oras := func(dir string, args ...string) {
		t.Helper()
		r := tryToolIn(t, dir, clientTimeout, env, "oras", append(args, "--plain-http")...)
		if r.Err != nil {
			t.Fatalf("oras %s: %v\n%s\n%s", strings.Join(args, " "), r.Err, clip(r.Stdout), clip(r.Stderr))
		}
	}
	work := t.TempDir()
	src := filepath.Join(work, "src")
	writeTestDir(t, filepath.Join(src, "bundle"))
	report := filepath.Join(src, "report.bin")
	data := bytes.Repeat([]byte("shadowreg\x00\xff"), 100_000)
	if err := os.WriteFile(report, data, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(report, 0o640); err != nil {
		t.Fatal(err)
	}

	// shadowreg push → oras pull.
	sr.run("push", report, "e2e/files:1", "--artifact-type", "application/vnd.e2e.report")
	if out := sr.run("inspect", "e2e/files:1"); !strings.Contains(out, "artifact:   application/vnd.e2e.report") {
		t.Errorf("inspect shows no artifactType:\n%s", out)
	}
	sr.run("push", filepath.Join(src, "bundle"), "e2e/dir:1")
	got := filepath.Join(work, "oras-pulled")
	oras("", "pull", "-o", got, srv.Ref("e2e/files:1"))
	oras("", "pull", "-o", got, srv.Ref("e2e/dir:1"))
	if b, err := os.ReadFile(filepath.Join(got, "report.bin")); err != nil || !bytes.Equal(b, data) {
		t.Errorf("oras pull of shadowreg's file: %d bytes, %v; want %d identical bytes", len(b), err, len(data))
	}
	sameTree(t, "oras pull of shadowreg's directory", treeOf(t, filepath.Join(got, "bundle")), treeOf(t, filepath.Join(src, "bundle")))

	// oras push → shadowreg pull --unpack.
	oras(src, "push", srv.Ref("e2e/oras-file:1"), "report.bin")
	oras(src, "push", srv.Ref("e2e/oras-dir:1"), "bundle")
	back := filepath.Join(work, "back")
	sr.run("pull", "e2e/oras-file:1", "--unpack", back)
	sr.run("pull", "e2e/oras-dir:1", "--unpack", back)
	if b, err := os.ReadFile(filepath.Join(back, "report.bin")); err != nil || !bytes.Equal(b, data) {
		t.Errorf("shadowreg pull --unpack of oras's file: %d bytes, %v", len(b), err)
	}
	sameTree(t, "shadowreg pull --unpack of oras's directory", treeOf(t, filepath.Join(back, "bundle")), treeOf(t, filepath.Join(src, "bundle")))

	// And shadowreg's own round trip keeps the file's mode.
	own := filepath.Join(work, "own")
	sr.run("pull", "e2e/files:1", "--unpack", own)
	if st, err := os.Stat(filepath.Join(own, "report.bin")); err != nil || st.Mode().Perm() != 0o640 {
		t.Errorf("shadowreg round trip of report.bin: %v, %v; want mode 0640", st, err)
	}
}

// TestClientUnpackRefusesCraftedLayers: single-layer images whose tar
// climbs out (.., absolute names, symlinks out, hard links out) are
// refused by pull --unpack with exit code 5, and nothing lands outside.
func TestClientUnpackRefusesCraftedLayers(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	rc := newRegClient(t, srv)
	sr := newSRCLI(t, srv)
	crafted := map[string][]*tar.Header{
		"good": {{Name: "etc/", Typeflag: tar.TypeDir}, {Name: "etc/app.conf", Typeflag: tar.TypeReg},
			{Name: "app.conf", Typeflag: tar.TypeSymlink, Linkname: "etc/app.conf"}},
		"dotdot":   {{Name: "ok.txt", Typeflag: tar.TypeReg}, {Name: "../../evil.txt", Typeflag: tar.TypeReg}},
		"absolute": {{Name: "/tmp/evil.txt", Typeflag: tar.TypeReg}},
		"symlink":  {{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "../.."}, {Name: "l/evil.txt", Typeflag: tar.TypeReg}},
		"hardlink": {{Name: "h", Typeflag: tar.TypeLink, Linkname: "../secret"}},
	}
	for name, hs := range crafted {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, h := range hs {
			h.Mode = 0o644
			body := "x"
			if h.Typeflag == tar.TypeReg {
				h.Size = int64(len(body))
			}
			if err := tw.WriteHeader(h); err != nil {
				t.Fatal(err)
			}
			if h.Typeflag == tar.TypeReg {
				io.WriteString(tw, body)
			}
		}
		if err := tw.Close(); err != nil {
			t.Fatal(err)
		}
		b := buf.Bytes()
		layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
		if err != nil {
			t.Fatal(err)
		}
		img, err := mutate.AppendLayers(empty.Image, layer)
		if err != nil {
			t.Fatal(err)
		}
		rc.pushContent("e2e/crafted", name, img)

		top := t.TempDir()
		if err := os.WriteFile(filepath.Join(top, "secret"), []byte("s"), 0o600); err != nil {
			t.Fatal(err)
		}
		dest := filepath.Join(top, "a", "dest")
		r := sr.try("pull", "e2e/crafted:"+name, "--unpack", dest)
		if name == "good" {
			// A single-layer image's content, links inside kept.
			if b, err := os.ReadFile(filepath.Join(dest, "app.conf")); r.Err != nil || err != nil || string(b) != "x" {
				t.Errorf("unpack of a good layer: %v %s; app.conf %q, %v", r.Err, r.Stderr, b, err)
			}
			continue
		}
		code := -1
		if ee, ok := r.Err.(interface{ ExitCode() int }); ok {
			code = ee.ExitCode()
		}
		if code != 5 || !strings.Contains(r.Stderr, "refused tar entry") {
			t.Errorf("%s: exit %d, stderr %q; want 5 and the refused entry", name, code, r.Stderr)
		}
		for p := range treeOf(t, top) {
			if p != "." && p != "secret" && p != "a" && !strings.HasPrefix(p, "a/dest") {
				t.Errorf("%s: written outside the destination: %s", name, p)
			}
		}
		if _, err := os.Stat("/tmp/evil.txt"); err == nil {
			t.Errorf("%s: /tmp/evil.txt exists", name)
		}
	}
}
