package client

import (
	"archive/tar"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

type entry struct {
	name, link, body string
	typ              byte
	mode             int64
}

func tarOf(t *testing.T, es ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: e.mode, Size: int64(len(e.body))}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// listTree returns every path under dir, relative to it.
func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestUnpackRefusesEscapes(t *testing.T) {
	cases := map[string][]entry{
		"dotdot":            {{name: "../evil", body: "x", typ: tar.TypeReg}},
		"dotdot inside":     {{name: "a/../../evil", body: "x", typ: tar.TypeReg}},
		"absolute":          {{name: "/tmp/evil", body: "x", typ: tar.TypeReg}},
		"symlink absolute":  {{name: "l", link: "/etc", typ: tar.TypeSymlink}},
		"symlink out":       {{name: "d/l", link: "../../evil", typ: tar.TypeSymlink}},
		"symlink then file": {{name: "l", link: "..", typ: tar.TypeSymlink}, {name: "l/evil", body: "x", typ: tar.TypeReg}},
		"symlink via dot link": {
			{name: "x", link: ".", typ: tar.TypeSymlink},
			{name: "x/l", link: "../evil", typ: tar.TypeSymlink},
		},
		"hard link out":      {{name: "h", link: "../outside/secret", typ: tar.TypeLink}},
		"hard link absolute": {{name: "h", link: "/etc/passwd", typ: tar.TypeLink}},
		"device":             {{name: "dev", typ: tar.TypeChar}},
	}
	for name, es := range cases {
		t.Run(name, func(t *testing.T) {
			top := t.TempDir()
			outside := filepath.Join(top, "outside")
			if err := os.MkdirAll(outside, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("s"), 0o644); err != nil {
				t.Fatal(err)
			}
			dest := filepath.Join(top, "dest", "in")
			err := Unpack(bytes.NewReader(tarOf(t, es...)), dest)
			var unsafe *UnsafeEntryError
			if !errors.As(err, &unsafe) {
				t.Fatalf("Unpack = %v, want an UnsafeEntryError", err)
			}
			// Nothing outside dest changed: top holds only dest/in/… and outside/secret.
			for _, p := range listTree(t, top) {
				switch {
				case p == "." || p == "dest" || p == "outside" || p == "outside/secret":
				case p == "dest/in" || filepath.Dir(p) == "dest/in":
				default:
					t.Errorf("written outside the destination: %s", p)
				}
			}
			if b, _ := os.ReadFile(filepath.Join(outside, "secret")); string(b) != "s" {
				t.Errorf("outside/secret changed: %q", b)
			}
			for _, p := range listTree(t, dest) {
				if p == "evil" || p == "h" || p == "dev" {
					t.Errorf("refused entry written: %s", p)
				}
			}
		})
	}
}

func TestUnpackKeepsNamesModesAndInsideLinks(t *testing.T) {
	dest := t.TempDir()
	data := tarOf(t,
		entry{name: "dir/", typ: tar.TypeDir, mode: 0o750},
		entry{name: "dir/run.sh", body: "#!/bin/sh\n", typ: tar.TypeReg, mode: 0o755},
		entry{name: "dir/sub/data.txt", body: "data", typ: tar.TypeReg, mode: 0o600},
		entry{name: "dir/link", link: "sub/data.txt", typ: tar.TypeSymlink},
		entry{name: "dir/hard", link: "dir/run.sh", typ: tar.TypeLink},
	)
	if err := Unpack(bytes.NewReader(data), dest); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{"dir": 0o750 | os.ModeDir, "dir/run.sh": 0o755, "dir/sub/data.txt": 0o600} {
		st, err := os.Lstat(filepath.Join(dest, p))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode() != want {
			t.Errorf("%s: mode %v, want %v", p, st.Mode(), want)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dest, "dir/link")); err != nil || string(b) != "data" {
		t.Errorf("dir/link reads %q, %v", b, err)
	}
	a, _ := os.Stat(filepath.Join(dest, "dir/run.sh"))
	b, _ := os.Stat(filepath.Join(dest, "dir/hard"))
	if !os.SameFile(a, b) {
		t.Error("dir/hard is not a hard link of dir/run.sh")
	}
}
