package upstream

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

func TestReferrersPagesAndJunk(t *testing.T) {
	subject := digest.FromString("subject")
	good := func(n int) string {
		return fmt.Sprintf(`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%d,"artifactType":"a/%d"}`,
			digest.FromString(fmt.Sprint(n)), 100+n, n)
	}
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v2/org/app/referrers/"+subject.String() {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/vnd.oci.image.index.v1+json")
		if r.URL.Query().Get("page") == "" {
			w.Header().Set("Link", `</v2/org/app/referrers/`+subject.String()+`?page=2>; rel="next"`)
			fmt.Fprintf(w, `{"schemaVersion":2,"manifests":[%s,{"digest":"nonsense","size":1,"mediaType":"x"}]}`, good(1))
			return
		}
		fmt.Fprintf(w, `{"schemaVersion":2,"manifests":[%s,{"digest":"%s","size":0,"mediaType":"x"}]}`, good(2), digest.FromString("empty"))
	}))
	c, _ := testClient(t, srv.URL, Config{}, Options{})
	got, err := c.Referrers(context.Background(), "org/app", subject)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ArtifactType != "a/1" || got[1].ArtifactType != "a/2" {
		t.Errorf("referrers = %+v, want a/1 and a/2 (both pages, junk dropped)", got)
	}
}

func TestReferrersTagSchemaFallback(t *testing.T) {
	subject := digest.FromString("subject")
	f := newFakeRegistry() // no referrers API: its 404 sends the client to the tag
	c, _ := testClient(t, serve(t, f).URL, Config{}, Options{})
	got, err := c.Referrers(context.Background(), "org/app", subject)
	if err != nil || len(got) != 0 {
		t.Fatalf("no referrers index tagged: got %v, %v; want an empty list", got, err)
	}
	sig := digest.FromString("sig")
	idx := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":42,"artifactType":"application/vnd.sig"}]}`, sig)
	f.addManifest("org/app", "sha256-"+subject.Encoded(), "application/vnd.oci.image.index.v1+json", []byte(idx))
	got, err = c.Referrers(context.Background(), "org/app", subject)
	if err != nil || len(got) != 1 || got[0].Digest != sig || got[0].ArtifactType != "application/vnd.sig" {
		t.Fatalf("referrers through the tag schema: got %+v, %v", got, err)
	}
	if f.count("GET /v2/org/app/referrers/"+subject.String()) == 0 {
		t.Error("the referrers API was not tried first")
	}
	if n := f.count("GET /v2/org/app/manifests/sha256-"); n != 0 {
		t.Errorf("the referrers tag was fetched %d times by tag; want a HEAD, then a GET by digest (Docker Hub counts tag GETs)", n)
	}
}

func TestReferrersUpstreamFailure(t *testing.T) {
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("<html>not an index</html>"))
	}))
	c, _ := testClient(t, srv.URL, Config{}, Options{})
	_, err := c.Referrers(context.Background(), "org/app", digest.FromString("s"))
	var ue *Error
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "invalid referrers index") {
		t.Errorf("err = %v, want an upstream Error saying the index is invalid", err)
	}
}
