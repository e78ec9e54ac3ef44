package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestShadowReferrers: a signature attached upstream with oras (the
// reference registry has no referrers API, so oras stores it under the
// referrers tag schema) is found by `oras discover` through shadowreg's
// namespace, next to one attached through shadowreg, and pulls through by
// digest. shadowreg answers the referrers API itself, so without reading
// the upstream's tag schema for the client the upstream's signature would be
// invisible.
func TestShadowReferrers(t *testing.T) {
	t.Parallel()
	requireTool(t, "oras")
	up := startUpstream(t, upstreamOptions{})
	srv := startShadow(t, shadowUpstream{NS: "quay.io", Up: up})
	env := clientEnv(t)
	dir := t.TempDir()
	oras := func(args ...string) string {
		t.Helper()
		r := tryToolIn(t, dir, clientTimeout, env, "oras", append(args, "--plain-http")...)
		if r.Err != nil {
			t.Fatalf("oras %s: %v\n%s\n%s", strings.Join(args, " "), r.Err, clip(r.Stdout), clip(r.Stderr))
		}
		return r.Stdout
	}
	for name, content := range map[string]string{"sig.txt": "upstream signature\n", "sbom.json": `{"sbom":"local"}`} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	img := newImage(t, formatOCI, 1, 8<<10, "linux/amd64", 4201)
	up.push("org/app", "1", img)
	subject := manifestDigest(t, img)

	oras("attach", "--artifact-type", "application/vnd.e2e.signature", up.Addr+"/org/app@"+subject, "sig.txt:text/plain")
	up.settle()
	mark := len(up.Requests())
	oras("attach", "--artifact-type", "application/vnd.e2e.sbom", srv.Ref("quay.io/org/app:1"), "sbom.json:application/json")

	discover := func() map[string]string {
		t.Helper()
		out := oras("discover", "--format", "json", srv.Ref("quay.io/org/app@"+subject))
		var disc struct {
			Referrers []struct {
				Digest       string `json:"digest"`
				ArtifactType string `json:"artifactType"`
			} `json:"referrers"`
		}
		if err := json.Unmarshal([]byte(out), &disc); err != nil {
			t.Fatalf("oras discover output: %v\n%s", err, out)
		}
		found := map[string]string{}
		for _, r := range disc.Referrers {
			found[r.ArtifactType] = r.Digest
		}
		return found
	}
	found := discover()
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range found {
			if !yield(k) {
				return
			}
		}
	})
	if !slices.Equal(keys, []string{"application/vnd.e2e.sbom", "application/vnd.e2e.signature"}) {
		t.Fatalf("oras discover through shadowreg found %v, want the upstream's signature and the local sbom", found)
	}
	// The upstream's signature pulls through shadowreg by digest.
	pullDir := filepath.Join(t.TempDir(), "pull")
	oras("pull", "-o", pullDir, srv.Ref("quay.io/org/app@"+found["application/vnd.e2e.signature"]))
	if b, err := os.ReadFile(filepath.Join(pullDir, "sig.txt")); err != nil || string(b) != "upstream signature\n" {
		t.Errorf("oras pull of the upstream's signature through shadowreg: sig.txt = %q, %v", b, err)
	}
	// The local sbom stayed local.
	checkNoWritesUpstream(t, up, mark)
}
