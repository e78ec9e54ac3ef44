package e2e

import (
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestS3Conformance runs the OCI conformance suite (the full profile, the
// same gate as on the filesystem) against shadowreg on the S3 driver, on a
// real MinIO. Reports: .cache/conformance/<target>-s3-1.1+dev/.
func TestS3Conformance(t *testing.T) {
	t.Parallel()
	requireS3Target(t)
	requireTool(t, "oci-conformance")
	m := sharedMinio(t)
	prefix := s3Prefix(t)
	srv := startS3Server(t, m, s3Options{Prefix: prefix})
	c := runConformance(t, srv, target+"-s3", profileFull)
	if c.Total == 0 {
		t.Fatal("no conformance test ran")
	}
	// The content went to the bucket, not to the data directory.
	if keys := m.listKeys(t, prefix+"/data/blobs/"); len(keys) == 0 {
		t.Errorf("no blob below %s/%s/data/blobs/ after the suite: is the server on the S3 driver?", m.Bucket, prefix)
	}
}

// TestS3Redirect: with storage.s3.redirect: true, blob GETs answer 307 to a
// presigned MinIO URL. The conformance suite, skopeo and crane must still
// pass, following the redirects to MinIO. Reports:
// .cache/conformance/<target>-s3-redirect-1.1+dev-redirect/.
func TestS3Redirect(t *testing.T) {
	t.Parallel()
	requireS3Target(t)
	requireTool(t, "oci-conformance")
	requireTool(t, "crane")
	sk := newSkopeo(t)
	m := sharedMinio(t)
	srv := startS3Server(t, m, s3Options{Prefix: s3Prefix(t), Redirect: true})

	t.Run("conformance", func(t *testing.T) {
		runConformance(t, srv, target+"-s3-redirect", profileRedirect)
	})

	t.Run("clients", func(t *testing.T) {
		sk := *sk
		sk.t = t
		rc := newRegClient(t, srv)
		env := clientEnv(t)
		crane := func(args ...string) string {
			t.Helper()
			return strings.TrimSpace(runTool(t, clientTimeout, env, "crane", append([]string{"--insecure"}, args...)...))
		}

		img := newImage(t, formatOCI, 3, 1<<20, "linux/amd64", 301)
		idx := newIndex(t, formatOCI, 2, 256<<10, 302, "linux/amd64", "linux/arm64/v8")
		src := filepath.Join(t.TempDir(), "src")
		writeLayout(t, src, map[string]any{"img": img, "idx": idx})

		for _, tc := range []struct {
			name, repo string
			v          any
			all        bool
		}{
			{"img", "s3redirect/app:1", img, false},
			{"idx", "quay.io/org/s3redirect:multi", idx, true},
		} {
			want := collectContent(t, tc.v)
			dg := manifestDigest(t, tc.v.(interface{ RawManifest() ([]byte, error) }))
			var all []string
			if tc.all {
				all = []string{"--all"}
			}
			sk.copyIn("oci:"+src+":"+tc.name, srv.Ref(tc.repo), all...)
			repo, _, _ := strings.Cut(tc.repo, ":")

			// Every blob GET is a 307 to MinIO, and the presigned URL serves
			// the exact bytes without credentials.
			noFollow := &http.Client{Timeout: time.Minute, CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			}}
			for d, size := range want.Blobs {
				resp, err := noFollow.Get(srv.URL + "/v2/" + repo + "/blobs/" + d)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				loc := resp.Header.Get("Location")
				u, _ := url.Parse(loc)
				if resp.StatusCode != http.StatusTemporaryRedirect || u == nil || u.Host != m.Endpoint {
					t.Errorf("GET blob %s: want 307 to %s, got %d Location %q", d, m.Endpoint, resp.StatusCode, loc)
					continue
				}
				got, err := http.Get(loc)
				if err != nil {
					t.Fatal(err)
				}
				b, err := io.ReadAll(got.Body)
				got.Body.Close()
				if err != nil || got.StatusCode != http.StatusOK || sha256Digest(b) != d || int64(len(b)) != size {
					t.Errorf("presigned GET of %s: %d, %d bytes hashing to %s (err %v), want 200 with %d bytes", d, got.StatusCode, len(b), sha256Digest(b), err, size)
				}
			}
			// Manifests are never redirected.
			rc.expectContent(repo, contentSet{Manifests: want.Manifests})

			// skopeo copy out (follows the redirects).
			out := filepath.Join(t.TempDir(), "out")
			sk.copyOut(srv.Ref(tc.repo), "oci:"+out+":"+tc.name, all...)
			verifyLayoutHas(t, out, tc.name, dg, want)

			// crane pull (follows them too).
			pulled := filepath.Join(t.TempDir(), "pulled")
			crane("pull", "--format", "oci", srv.Ref(tc.repo), pulled)
			verifyLayoutHas(t, pulled, "", dg, want)
			if got := crane("digest", srv.Ref(tc.repo)); got != dg {
				t.Errorf("crane digest %s = %s, want %s", tc.repo, got, dg)
			}
		}
	})
}
