package client

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
)

func TestDetect(t *testing.T) {
	dir := t.TempDir()
	write := func(n string, b []byte) string {
		p := filepath.Join(dir, n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(b)
		zw.Close()
		return buf.Bytes()
	}
	docker := tarOf(t, entry{name: "abc/layer.tar", body: "x", typ: tar.TypeReg}, entry{name: "manifest.json", body: "[]", typ: tar.TypeReg})
	oci := tarOf(t, entry{name: "blobs/", typ: tar.TypeDir}, entry{name: "oci-layout", body: "{}", typ: tar.TypeReg})
	other := tarOf(t, entry{name: "logs/a.txt", body: "x", typ: tar.TypeReg})
	write("layout/oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`))
	if err := os.MkdirAll(filepath.Join(dir, "plain"), 0o755); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]Kind{
		write("app.tar", docker):            KindDockerArchive,
		write("app.tar.gz", gz(docker)):     KindDockerArchive,
		write("img.tar", oci):               KindOCIArchive,
		write("logs.tgz", gz(other)):        KindFile,
		write("notes.txt", []byte("hello")): KindFile,
		filepath.Join(dir, "layout"):        KindOCILayout,
		filepath.Join(dir, "plain"):         KindDir,
	} {
		got, err := Detect(path)
		if err != nil || got != want {
			t.Errorf("Detect(%s) = %v, %v; want %v", filepath.Base(path), got, err, want)
		}
	}
}

func TestUserPath(t *testing.T) {
	c, err := New(Options{Server: "http://127.0.0.1:5000"})
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{
		"org/app:1":                     "docker.io/org/app:1",
		"alpine:3":                      "docker.io/library/alpine:3",
		"quay.io/org/img:2":             "quay.io/org/img:2",
		"localhost/app:latest":          "localhost/app:latest",
		"127.0.0.1:5000/team/app:1":     "team/app:1",
		"10.0.0.1:5001/docker.io/x/y:1": "docker.io/x/y:1",
	} {
		tag, err := name.NewTag(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.userPath(tag); got != want {
			t.Errorf("userPath(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestProgressPlainAndJSON(t *testing.T) {
	var out bytes.Buffer
	p := NewProgress(&out, Plain, "pushed")
	now := time.Unix(0, 0)
	p.now = func() time.Time { return now }
	rc := p.Track("app.bin", 2<<20, ioNop(strings.NewReader(strings.Repeat("x", 2<<20))))
	now = now.Add(2 * time.Second)
	buf := make([]byte, 1<<16)
	for {
		if _, err := rc.Read(buf); err != nil {
			break
		}
	}
	rc.Close()
	if got, want := out.String(), "pushed app.bin 2.0 MiB in 2s (1.0 MiB/s)\n"; got != want {
		t.Errorf("plain line %q, want %q", got, want)
	}
	out.Reset()
	p = NewProgress(&out, JSON, "pulled")
	rc = p.Track("f", 3, ioNop(strings.NewReader("abc")))
	rc.Read(buf)
	rc.Read(buf)
	if !strings.Contains(out.String(), `"bytes":3`) || !strings.Contains(out.String(), `"event":"pulled"`) {
		t.Errorf("json line %q", out.String())
	}
}

func TestProgressBars(t *testing.T) {
	var out syncBuf
	p := NewProgress(&out, Bars, "pushed")
	rc := p.Track("layer", 100, ioNop(strings.NewReader(strings.Repeat("x", 100))))
	rc.Read(make([]byte, 50))
	time.Sleep(300 * time.Millisecond)
	rc.Read(make([]byte, 100))
	rc.Read(make([]byte, 1))
	p.Close()
	s := out.String()
	if !strings.Contains(s, " 50%  50 B / 100 B") || !strings.Contains(s, "100%  100 B") || !strings.Contains(s, "\x1b[1A") {
		t.Errorf("bars %q: want a half bar, a full one and cursor moves", s)
	}
}
