package registry_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/shadowreg/shadowreg/registry/auth"
)

// A mount without from finds the blob by digest anywhere in the store. With
// auth on, a user limited to some names must not reach another's content
// that way: it gets an upload session (202) instead; an unlimited user
// mounts (201).
func TestMountWithoutFromRespectsPrefixes(t *testing.T) {
	t.Parallel()
	e := newBSEnv(t, bsOptions{auth: &auth.Config{Secret: "0123456789abcdef0123", Users: []auth.User{
		{Name: "zuul", PlainPassword: "zuul-pw", Access: auth.AccessWrite},
		{Name: "team", PlainPassword: "team-pw", Access: auth.AccessWrite, Prefixes: []string{"team"}},
	}}})
	zuul, team := creds{"zuul", "zuul-pw"}, creds{"team", "team-pw"}
	layer, err := random.Layer(2048, "application/octet-stream")
	if err != nil {
		t.Fatal(err)
	}
	d, _ := layer.Digest()
	img, _ := random.Image(1024, 1)
	e.mustPush("secret/app:1", img, zuul)
	body, _ := layer.Compressed()
	data, err := io.ReadAll(body)
	if err != nil {
		t.Fatal(err)
	}
	if r := e.do(http.MethodPost, "/v2/secret/app/blobs/uploads/?digest="+d.String(), data, zuul); r.StatusCode != http.StatusCreated {
		t.Fatalf("push the secret blob: %d %s", r.StatusCode, r.body)
	}
	if r := e.do(http.MethodPost, "/v2/team/x/blobs/uploads/?mount="+d.String(), nil, team); r.StatusCode != http.StatusAccepted {
		t.Fatalf("a prefix-limited user mounted by digest alone: %d, want 202", r.StatusCode)
	}
	if r := e.do(http.MethodGet, "/v2/team/x/blobs/"+d.String(), nil, team); r.StatusCode != http.StatusNotFound {
		t.Fatalf("the blob reached team/x: %d", r.StatusCode)
	}
	if r := e.do(http.MethodPost, "/v2/other/y/blobs/uploads/?mount="+d.String(), nil, zuul); r.StatusCode != http.StatusCreated {
		t.Fatalf("an unlimited user's mount by digest: %d, want 201", r.StatusCode)
	}
}
