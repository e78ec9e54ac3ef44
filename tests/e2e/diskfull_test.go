package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestDiskFull runs shadowreg on a 48 MiB tmpfs: pushes that do not fit
// fail with a clear error (507 with Retry-After), nothing partial stays
// visible or takes space, and once space is freed the registry accepts
// pushes again by itself, with no restart.
func TestDiskFull(t *testing.T) {
	if isReference() {
		t.Skip("shadowreg's disk-full behaviour")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount a 48 MiB tmpfs (needs root, as in CI): %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
	data := filepath.Join(mnt, "data")
	s := startServer(t, "--data-dir", data)
	free := func() int64 {
		var st syscall.Statfs_t
		if err := syscall.Statfs(mnt, &st); err != nil {
			t.Fatal(err)
		}
		return int64(st.Bavail) * st.Bsize
	}

	small := randomBytes(t, 1<<20)
	if code, _ := putBlob(t, s, "disk/app", small); code != http.StatusCreated {
		t.Fatalf("a 1 MiB blob on an empty disk: %d", code)
	}
	before := free()

	// A monolithic push larger than the disk.
	huge := randomBytes(t, 64<<20)
	code, body := putBlob(t, s, "disk/app", huge)
	assertDiskFull(t, "a 64 MiB monolithic push", code, body)
	assertNoBlob(t, s, "disk/app", huge)
	if got := free(); got < before-(1<<20) {
		t.Fatalf("the refused push left %d KiB behind", (before-got)>>10)
	}

	// The same as chunks: the chunk that does not fit is refused, the
	// upload never claims more than it holds.
	loc := startUpload(t, s, "disk/app")
	var acked int64
	for off := 0; off < len(huge); off += 8 << 20 {
		chunk := huge[off : off+8<<20]
		req, _ := http.NewRequest(http.MethodPatch, loc, bytes.NewReader(chunk))
		req.Header.Set("Content-Range", fmt.Sprintf("%d-%d", off, off+len(chunk)-1))
		req.Header.Set("Content-Type", "application/octet-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusAccepted {
			acked = int64(off + len(chunk))
			loc = absolute(s, resp.Header.Get("Location"))
			continue
		}
		assertDiskFull(t, "a chunk past the disk's end", resp.StatusCode, b)
		break
	}
	if acked >= int64(len(huge)) {
		t.Fatal("every chunk of 64 MiB fitted on a 48 MiB disk")
	}
	resp, err := http.Get(loc)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if rng := resp.Header.Get("Range"); resp.StatusCode == http.StatusNoContent && rng != fmt.Sprintf("0-%d", acked-1) && !(acked == 0 && rng == "0-0") {
		t.Fatalf("after a refused chunk the upload claims Range %q, acknowledged %d bytes", rng, acked)
	}
	cancel, _ := http.NewRequest(http.MethodDelete, loc, nil)
	if resp, err := http.DefaultClient.Do(cancel); err == nil {
		resp.Body.Close()
	}

	// Fill the disk to the last byte: a manifest cannot be written either.
	config := []byte(`{"architecture":"amd64","os":"linux"}`)
	if code, _ := putBlob(t, s, "disk/app", config); code != http.StatusCreated {
		t.Fatalf("config blob: %d", code)
	}
	filler := filepath.Join(mnt, "filler")
	fillDisk(t, filler)
	manifest := imageManifest(config, small)
	code, body = putManifest(t, s, "disk/app", "v1", manifest)
	assertDiskFull(t, "a manifest on a full disk", code, body)
	if resp, err := http.Get(s.URL + "/v2/disk/app/manifests/v1"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("the refused manifest's tag: %v %v, want 404", err, resp)
	} else {
		resp.Body.Close()
	}

	// Space comes back: the registry takes pushes again, no restart.
	os.Remove(filler)
	medium := randomBytes(t, 8<<20)
	if code, body := putBlob(t, s, "disk/app", medium); code != http.StatusCreated {
		t.Fatalf("a push once space was freed: %d %s", code, body)
	}
	if code, body := putManifest(t, s, "disk/app", "v1", imageManifest(config, small, medium)); code != http.StatusCreated {
		t.Fatalf("the manifest once space was freed: %d %s", code, body)
	}
	for _, b := range [][]byte{small, medium, config} {
		resp, err := http.Get(s.URL + "/v2/disk/app/blobs/" + sha256Digest(b))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || !bytes.Equal(got, b) {
			t.Fatalf("blob %s after recovery: %d, %d bytes, %v", sha256Digest(b), resp.StatusCode, len(got), err)
		}
	}
}

func assertDiskFull(t *testing.T, what string, code int, body []byte) {
	t.Helper()
	var e struct {
		Errors []struct{ Code, Message string } `json:"errors"`
	}
	json.Unmarshal(body, &e)
	if code != http.StatusInsufficientStorage || len(e.Errors) == 0 || !strings.Contains(strings.ToLower(e.Errors[0].Message), "space") {
		t.Fatalf("%s: %d %s, want 507 saying the storage is out of space", what, code, body)
	}
}

func assertNoBlob(t *testing.T, s *Server, repo string, b []byte) {
	t.Helper()
	resp, err := http.Head(s.URL + "/v2/" + repo + "/blobs/" + sha256Digest(b))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("the refused blob answers HEAD with %d, want 404", resp.StatusCode)
	}
}

// fillDisk writes path until the filesystem is full.
func fillDisk(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for i := 0; i < 1024; i++ { // bounded: the disk is 48 MiB
		if _, err := f.Write(buf); err != nil {
			break
		}
	}
	for { // the last partial block
		if _, err := f.Write(buf[:4096]); err != nil {
			return
		}
	}
}

func putBlob(t *testing.T, s *Server, repo string, b []byte) (int, []byte) {
	t.Helper()
	resp, err := http.Post(s.URL+"/v2/"+repo+"/blobs/uploads/?digest="+sha256Digest(b), "application/octet-stream", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusInsufficientStorage && resp.Header.Get("Retry-After") == "" {
		t.Fatalf("507 without Retry-After")
	}
	return resp.StatusCode, body
}

func putManifest(t *testing.T, s *Server, repo, tag string, m []byte) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, s.URL+"/v2/"+repo+"/manifests/"+tag, bytes.NewReader(m))
	req.Header.Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

func startUpload(t *testing.T, s *Server, repo string) string {
	t.Helper()
	resp, err := http.Post(s.URL+"/v2/"+repo+"/blobs/uploads/", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("start upload: %d", resp.StatusCode)
	}
	return absolute(s, resp.Header.Get("Location"))
}

func absolute(s *Server, loc string) string {
	if strings.HasPrefix(loc, "http") {
		return loc
	}
	return s.URL + loc
}

func imageManifest(config []byte, layers ...[]byte) []byte {
	var ls []map[string]any
	for _, l := range layers {
		ls = append(ls, map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha256Digest(l), "size": len(l)})
	}
	m, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256Digest(config), "size": len(config)},
		"layers": ls})
	return m
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}
