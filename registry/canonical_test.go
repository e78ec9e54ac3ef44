package registry_test

// Access is decided on the canonical name (internal/ref), on every endpoint:
// the table below sends every kind of caller, every spelling of a handful of
// repositories (host or not, Docker Hub's aliases, library/, ?ns=, buildset
// paths) and every endpoint, with Basic credentials and with a token for
// the name as written, and checks each answer against a statement of the
// rules written here, apart from the code: what may X do to canonical name
// N. The cases found from outside (issue 10) are among them and are also
// checked by their effect on what is stored.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/shadowreg/shadowreg/registry"
	"github.com/shadowreg/shadowreg/registry/auth"
	"github.com/shadowreg/shadowreg/storage"
)

// canonUsers are config.example.yaml's kinds of users.
var (
	orgReader  = creds{"ci-reader", "ci-reader-pw"} // read, [quay.io/org, library]
	teamWriter = creds{"team", "team-pw"}           // write, [team]
	ownUser    = creds{"own", "own-pw"}             // write, [buildsets/own-1]
)

func canonAuthConfig() *auth.Config {
	return &auth.Config{
		Secret:    "0123456789abcdef0123456789abcdef",
		Anonymous: auth.AnonymousRead,
		Users: []auth.User{
			{Name: "writer", PlainPassword: "writer-password", Access: auth.AccessWrite},
			{Name: "reader", PlainPassword: "reader-password", Access: auth.AccessRead},
			{Name: orgReader.user, PlainPassword: orgReader.password, Access: auth.AccessRead, Prefixes: []string{"quay.io/org", "library"}},
			{Name: teamWriter.user, PlainPassword: teamWriter.password, Access: auth.AccessWrite, Prefixes: []string{"team"}},
			{Name: ownUser.user, PlainPassword: ownUser.password, Access: auth.AccessWrite, Prefixes: []string{"buildsets/own-1"}},
		},
	}
}

// canonCaller is a kind of caller and the rules it is held to, stated on
// canonical names.
type canonCaller struct {
	name  string
	c     creds
	bound string // the buildset its credentials are bound to
	may   func(canonical string, write bool) bool
}

// under reports whether canonical name n lies below prefix p.
func under(n string, prefixes ...string) bool {
	for _, p := range prefixes {
		if n == p || strings.HasPrefix(n, p+"/") {
			return true
		}
	}
	return false
}

func inBuildsets(n string, ids ...string) bool {
	for _, id := range ids {
		if under(n, "buildsets/"+id) {
			return true
		}
	}
	return false
}

func shared(n string) bool { return !strings.HasPrefix(n, "buildsets/") }

func canonCallers(credsA, credsC creds) []canonCaller {
	return []canonCaller{
		{"writer", writer, "", func(string, bool) bool { return true }},
		{"reader", reader, "", func(_ string, write bool) bool { return !write }},
		{"anonymous", creds{}, "", func(_ string, write bool) bool { return !write }},
		{"prefix-limited reader", orgReader, "", func(n string, write bool) bool {
			return !write && under(n, "quay.io/org", "docker.io/library")
		}},
		{"prefix-limited writer", teamWriter, "", func(n string, _ bool) bool { return under(n, "docker.io/team") }},
		// own-1 sits on base: reads of base are what own-1 reads anyway.
		{"buildset-prefix user", ownUser, "", func(n string, write bool) bool {
			return under(n, "buildsets/own-1") || (!write && inBuildsets(n, "base"))
		}},
		// A's credentials: A, and reads of the shared area (A has no parent).
		{"buildset credentials (a)", credsA, "a", func(n string, write bool) bool {
			return inBuildsets(n, "a") || (!write && shared(n))
		}},
		// C's: C, reads of its chain (b) and of the shared area.
		{"buildset credentials (c)", credsC, "c", func(n string, write bool) bool {
			return inBuildsets(n, "c") || (!write && (inBuildsets(n, "b") || shared(n)))
		}},
	}
}

// spelling is one way of writing a repository: its name and ?ns=.
type spelling struct{ name, ns string }

// canonGroups are spellings of one repository each, with its canonical name
// for a caller bound to no buildset (bound callers: the same repository in
// their buildset, unless the spelling names a buildset).
var canonGroups = []struct {
	canonical string
	spellings []spelling
}{
	{"docker.io/library/team", []spelling{{"team", ""}, {"library/team", ""}, {"docker.io/library/team", ""},
		{"index.docker.io/library/team", ""}, {"team", "docker.io"}, {"docker.io/team", ""}}},
	{"docker.io/team/app", []spelling{{"team/app", ""}, {"docker.io/team/app", ""}, {"team/app", "index.docker.io"}}},
	{"docker.io/library/alpine", []spelling{{"alpine", ""}, {"library/alpine", ""}, {"registry-1.docker.io/library/alpine", ""}}},
	{"quay.io/library/secret", []spelling{{"quay.io/library/secret", ""}, {"library/secret", "quay.io"}}},
	{"quay.io/team/app", []spelling{{"quay.io/team/app", ""}, {"team/app", "quay.io"}, {"Quay.IO/team/app", ""}}},
	{"quay.io/org/img", []spelling{{"quay.io/org/img", ""}, {"org/img", "quay.io"}}},
	{"buildsets/b/docker.io/org/app", []spelling{{"buildsets/b/org/app", ""}, {"buildsets/b/docker.io/org/app", ""}, {"buildsets/b/org/app", "docker.io"}}},
	{"buildsets/a/docker.io/library/team", []spelling{{"buildsets/a/team", ""}, {"buildsets/a/library/team", ""}}},
	{"buildsets/own-1/docker.io/team/app", []spelling{{"buildsets/own-1/team/app", ""}, {"buildsets/own-1/team/app", "docker.io"}, {"buildsets/own-1/docker.io/team/app", ""}}},
	{"buildsets/base/quay.io/org/img", []spelling{{"buildsets/base/quay.io/org/img", ""}, {"buildsets/base/org/img", "quay.io"}}},
	{"buildsets/secret/docker.io/library/alpine", []spelling{{"buildsets/secret/alpine", ""}}},
}

// canonicalFor is the canonical name a caller bound to bound reaches with a
// spelling of the group whose unbound canonical name is canonical.
func canonicalFor(canonical, bound string) string {
	if bound == "" || !shared(canonical) {
		return canonical
	}
	return "buildsets/" + bound + "/" + canonical
}

// canonEndpoint is one endpoint for a repository spelled name (with q, the
// ?ns= query or empty).
type canonEndpoint struct {
	name   string
	method string
	write  bool
	path   func(name, q string, f *canonFixture) (string, []byte, string) // path, body, content type
	scope  string                                                         // the token's actions
}

func withQuery(q, extra string) string {
	switch {
	case q == "" && extra == "":
		return ""
	case q == "":
		return "?" + extra
	case extra == "":
		return "?" + q
	}
	return "?" + q + "&" + extra
}

var canonEndpoints = []canonEndpoint{
	{"GET manifest", http.MethodGet, false, func(n, q string, f *canonFixture) (string, []byte, string) {
		return "/v2/" + n + "/manifests/1" + withQuery(q, ""), nil, ""
	}, "pull"},
	{"HEAD manifest", http.MethodHead, false, func(n, q string, f *canonFixture) (string, []byte, string) {
		return "/v2/" + n + "/manifests/" + f.manifest.String() + withQuery(q, ""), nil, ""
	}, "pull"},
	{"GET blob", http.MethodGet, false, func(n, q string, f *canonFixture) (string, []byte, string) {
		return "/v2/" + n + "/blobs/" + f.layer.String() + withQuery(q, ""), nil, ""
	}, "pull"},
	{"HEAD blob", http.MethodHead, false, func(n, q string, f *canonFixture) (string, []byte, string) {
		return "/v2/" + n + "/blobs/" + f.layer.String() + withQuery(q, ""), nil, ""
	}, "pull"},
	{"GET tags", http.MethodGet, false, func(n, q string, f *canonFixture) (string, []byte, string) {
		return "/v2/" + n + "/tags/list" + withQuery(q, ""), nil, ""
	}, "pull"},
	{"GET referrers", http.MethodGet, false, func(n, q string, f *canonFixture) (string, []byte, string) {
		return "/v2/" + n + "/referrers/" + f.manifest.String() + withQuery(q, ""), nil, ""
	}, "pull"},
	{"GET upload status", http.MethodGet, false, func(n, q string, f *canonFixture) (string, []byte, string) {
		return "/v2/" + n + "/blobs/uploads/" + strings.Repeat("0", 32) + withQuery(q, ""), nil, ""
	}, "pull"},
	{"POST upload", http.MethodPost, true, func(n, q string, f *canonFixture) (string, []byte, string) {
		return "/v2/" + n + "/blobs/uploads/" + withQuery(q, ""), nil, ""
	}, "pull,push"},
	{"POST monolithic upload", http.MethodPost, true, func(n, q string, f *canonFixture) (string, []byte, string) {
		b := f.fresh()
		return "/v2/" + n + "/blobs/uploads/" + withQuery(q, "digest="+digest.FromBytes(b).String()), b, "application/octet-stream"
	}, "pull,push"},
	{"PATCH upload", http.MethodPatch, true, func(n, q string, f *canonFixture) (string, []byte, string) {
		return "/v2/" + n + "/blobs/uploads/" + strings.Repeat("1", 32) + withQuery(q, ""), []byte("chunk"), "application/octet-stream"
	}, "pull,push"},
	{"PUT upload", http.MethodPut, true, func(n, q string, f *canonFixture) (string, []byte, string) {
		return "/v2/" + n + "/blobs/uploads/" + strings.Repeat("2", 32) + withQuery(q, "digest="+f.layer.String()), nil, ""
	}, "pull,push"},
	{"DELETE upload", http.MethodDelete, true, func(n, q string, f *canonFixture) (string, []byte, string) {
		return "/v2/" + n + "/blobs/uploads/" + strings.Repeat("3", 32) + withQuery(q, ""), nil, ""
	}, "pull,push"},
	{"PUT manifest", http.MethodPut, true, func(n, q string, f *canonFixture) (string, []byte, string) {
		return "/v2/" + n + "/manifests/evil" + withQuery(q, ""), f.manifestJSON(), storage.MediaTypeOCIManifest
	}, "pull,push"},
	{"DELETE manifest", http.MethodDelete, true, func(n, q string, f *canonFixture) (string, []byte, string) {
		return "/v2/" + n + "/manifests/" + digest.FromString("no such manifest").String() + withQuery(q, ""), nil, ""
	}, "delete"},
	{"DELETE tag", http.MethodDelete, true, func(n, q string, f *canonFixture) (string, []byte, string) {
		return "/v2/" + n + "/manifests/nosuchtag" + withQuery(q, ""), nil, ""
	}, "delete"},
	{"DELETE blob", http.MethodDelete, true, func(n, q string, f *canonFixture) (string, []byte, string) {
		return "/v2/" + n + "/blobs/" + digest.FromString("no such blob").String() + withQuery(q, ""), nil, ""
	}, "delete"},
}

// canonFixture is what the endpoints act on.
type canonFixture struct {
	mu       sync.Mutex
	n        int
	layer    digest.Digest
	config   []byte
	layerB   []byte
	manifest digest.Digest
}

func (f *canonFixture) fresh() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	return fmt.Appendf(nil, "fresh blob %d", f.n)
}

func (f *canonFixture) manifestJSON() []byte {
	b, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": storage.MediaTypeOCIManifest,
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest.FromBytes(f.config), "size": len(f.config)},
		"layers": []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": f.layer, "size": len(f.layerB)}},
	})
	return b
}

// canonEnv is a registry with the users, buildsets and content the table
// needs, and its log.
type canonEnv struct {
	*bsEnv
	f              *canonFixture
	credsA, credsC creds
	log            *syncLog
}

// syncLog collects JSON log lines.
type syncLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *syncLog) lines() []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range bytes.Split(l.buf.Bytes(), []byte("\n")) {
		var m map[string]any
		if json.Unmarshal(line, &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

func newCanonEnv(t *testing.T) *canonEnv {
	t.Helper()
	lg := &syncLog{}
	e := &canonEnv{log: lg, bsEnv: newBSEnv(t, bsOptions{auth: canonAuthConfig(),
		logger: slog.New(slog.NewJSONHandler(lg, &slog.HandlerOptions{Level: slog.LevelDebug}))})}
	for _, b := range []registry.CreateRequest{{ID: "b"}, {ID: "base"}, {ID: "secret"}, {ID: "own-1", Parents: []string{"base"}}} {
		e.createBuildset(b, writer)
	}
	a := e.createBuildset(registry.CreateRequest{ID: "a"}, writer)
	c := e.createBuildset(registry.CreateRequest{ID: "c", Parents: []string{"b"}}, writer)
	e.credsA, e.credsC = creds{a.Username, a.Password}, creds{c.Username, c.Password}
	f := &canonFixture{layerB: []byte("the canonical test's layer"), config: []byte(`{"architecture":"amd64","os":"linux"}`)}
	f.layer = digest.FromBytes(f.layerB)
	f.manifest = digest.FromBytes(f.manifestJSON())
	e.f = f
	// Every repository of the table holds the image as tag 1, so that an
	// allowed read finds it.
	for _, g := range canonGroups {
		e.seed(g.canonical)
	}
	return e
}

// seed stores the fixture's image as tag 1 of canonical name n.
func (e *canonEnv) seed(n string) {
	e.t.Helper()
	area, repo := storage.SharedArea, n
	if rest, ok := strings.CutPrefix(n, "buildsets/"); ok {
		id, r, _ := strings.Cut(rest, "/")
		area, repo = "bs."+id, r
	}
	r, err := e.store.Repo(repo, area)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx := e.t.Context()
	for _, b := range [][]byte{e.f.layerB, e.f.config} {
		up, err := r.UploadStart(ctx)
		if err != nil {
			e.t.Fatal(err)
		}
		if err := up.Append(ctx, bytes.NewReader(b), 0, int64(len(b))); err != nil {
			e.t.Fatal(err)
		}
		if _, err := up.Commit(ctx, digest.FromBytes(b)); err != nil {
			e.t.Fatal(err)
		}
	}
	data := e.f.manifestJSON()
	p, err := storage.ParseManifest(storage.MediaTypeOCIManifest, data)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := r.PutManifest(ctx, &storage.Manifest{Digest: digest.FromBytes(data), MediaType: p.MediaType, Data: data}, p, "1"); err != nil {
		e.t.Fatal(err)
	}
}

// refused reports whether a response refuses access.
func refused(r *response) bool {
	return r.StatusCode == http.StatusUnauthorized || r.StatusCode == http.StatusForbidden
}

// TestCanonicalAuthorizationTable: every caller × every spelling × every
// endpoint, with Basic credentials and with a token for the name as
// written; the answer must be the rules' answer for the canonical name.
func TestCanonicalAuthorizationTable(t *testing.T) {
	e := newCanonEnv(t)
	callers := canonCallers(e.credsA, e.credsC)
	checked := 0
	for _, who := range callers {
		t.Run(strings.ReplaceAll(who.name, " ", "_"), func(t *testing.T) {
			ee := *e.bsEnv
			ee.t = t
			for _, g := range canonGroups {
				n := canonicalFor(g.canonical, who.bound)
				for _, sp := range g.spellings {
					q := ""
					if sp.ns != "" {
						q = "ns=" + url.QueryEscape(sp.ns)
					}
					for _, ep := range canonEndpoints {
						want := who.may(n, ep.write)
						path, body, ct := ep.path(sp.name, q, e.f)
						header := []string{}
						if ct != "" {
							header = append(header, "Content-Type", ct)
						}
						r := ee.do(ep.method, path, body, who.c, header...)
						if refused(r) == want {
							t.Errorf("%s %s as %s (%s): %d %s; the rules say %s may %s %s: %v",
								ep.method, path, who.name, n, r.StatusCode, clipBody(r.body), who.name, ep.scope, n, want)
						}
						checked++
						if who.c.user == "" {
							continue
						}
						// With tokens: for the name as written, as docker
						// asks (it knows no ?ns=, so a token for another
						// namespace's repository opens nothing here), and
						// for the challenge's scope, canonical, as
						// containerd asks.
						for _, flow := range []struct {
							scope string
							want  bool
						}{
							{"repository:" + sp.name + ":" + ep.scope, want && !nsMatters(sp)},
							{"repository:" + n + ":" + ep.scope, want},
						} {
							tok := ee.token(who.c, flow.scope)
							path, body, _ = ep.path(sp.name, q, e.f)
							r = ee.do(ep.method, path, body, creds{}, append(header, "Authorization", "Bearer "+tok)...)
							if refused(r) == flow.want {
								t.Errorf("%s %s as %s with a token for %s (%s): %d %s; want refused: %v",
									ep.method, path, who.name, flow.scope, n, r.StatusCode, clipBody(r.body), !flow.want)
							}
							checked++
						}
					}
				}
			}
		})
	}
	t.Logf("%d decisions checked", checked)
}

// nsMatters reports whether ?ns= names the repository's namespace where
// the path does not: the spelling without it names another repository.
func nsMatters(sp spelling) bool {
	if sp.ns == "" || sp.ns == "docker.io" || sp.ns == "index.docker.io" {
		return false
	}
	name := sp.name
	if rest, ok := strings.CutPrefix(name, "buildsets/"); ok {
		_, name, _ = strings.Cut(rest, "/")
	}
	first, _, _ := strings.Cut(name, "/")
	return !strings.ContainsAny(first, ".:") && first != "localhost"
}

func clipBody(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}

// TestCanonicalCasesFromOutside are the ways through that were found, each
// checked by its effect on what is stored, not only by a status.
func TestCanonicalCasesFromOutside(t *testing.T) {
	e := newCanonEnv(t)
	ctx := t.Context()
	has := func(area, repo, tag string) bool {
		r, err := e.store.Repo(repo, area)
		if err != nil {
			t.Fatal(err)
		}
		_, err = r.Manifest(ctx, tag)
		return err == nil
	}
	manifest := e.f.manifestJSON()
	mt := []string{"Content-Type", storage.MediaTypeOCIManifest}

	// 1. ?ns= moved a request into another namespace after the check.
	r := e.do(http.MethodGet, "/v2/library/secret/manifests/1?ns=quay.io", nil, orgReader)
	e.expectError(r, http.StatusForbidden, "DENIED")
	tok := e.token(orgReader, "repository:library/secret:pull")
	r = e.do(http.MethodGet, "/v2/library/secret/manifests/1?ns=quay.io", nil, creds{}, "Authorization", "Bearer "+tok)
	e.expectError(r, http.StatusUnauthorized, "UNAUTHORIZED")
	// The same token reads docker.io/library/secret, which it names.
	e.seed("docker.io/library/secret")
	e.expectStatus(e.do(http.MethodGet, "/v2/library/secret/manifests/1", nil, creds{}, "Authorization", "Bearer "+tok), http.StatusOK, "ci-reader's token")

	blob := []byte("pushed by team through ?ns=")
	r = e.do(http.MethodPost, "/v2/team/app/blobs/uploads/?ns=quay.io&digest="+digest.FromBytes(blob).String(), blob, teamWriter,
		"Content-Type", "application/octet-stream")
	e.expectError(r, http.StatusForbidden, "DENIED")
	r = e.do(http.MethodPut, "/v2/team/app/manifests/evil?ns=quay.io", manifest, teamWriter, mt...)
	e.expectError(r, http.StatusForbidden, "DENIED")
	if has(storage.SharedArea, "quay.io/team/app", "evil") {
		t.Error("quay.io/team/app:evil was created by a user limited to team")
	}
	e.expectError(e.do(http.MethodPost, "/v2/quay.io/team/app/blobs/uploads/", nil, teamWriter), http.StatusForbidden, "DENIED")
	// Where team may push, it does, whatever the spelling.
	e.expectStatus(e.do(http.MethodPut, "/v2/team/app/manifests/ok?ns=docker.io", manifest, teamWriter, mt...), http.StatusCreated, "team")
	if !has(storage.SharedArea, "docker.io/team/app", "ok") {
		t.Error("team's push with ?ns=docker.io did not land in docker.io/team/app")
	}

	// 2. A single component passed "team" on its spelling and landed in
	// library/team, Docker Hub's official namespace.
	for _, name := range []string{"team", "library/team", "docker.io/library/team", "index.docker.io/library/team"} {
		e.expectError(e.do(http.MethodPut, "/v2/"+name+"/manifests/latest", manifest, teamWriter, mt...), http.StatusForbidden, "DENIED")
	}
	e.expectError(e.do(http.MethodPut, "/v2/team/manifests/latest?ns=docker.io", manifest, teamWriter, mt...), http.StatusForbidden, "DENIED")
	if has(storage.SharedArea, "docker.io/library/team", "latest") {
		t.Error("docker.io/library/team:latest was created by a user limited to team")
	}
	// And a reader limited to library reads alpine (= library/alpine).
	e.expectStatus(e.do(http.MethodGet, "/v2/alpine/manifests/1", nil, orgReader), http.StatusOK, "ci-reader")

	// 3. A buildset-prefix user chose any buildset as its buildset's parent,
	// and promoted into the shared area.
	body, _ := json.Marshal(registry.CreateRequest{ID: "own-2", Parents: []string{"secret"}})
	e.expectError(e.do(http.MethodPost, registry.AdminPrefix+"/buildsets", body, ownUser, "Content-Type", "application/json"), http.StatusForbidden, "DENIED")
	if _, err := e.mgr.Get(ctx, "own-2"); err == nil {
		t.Error("own-2 was created with a parent its creator may not read")
	}
	e.expectError(e.do(http.MethodGet, "/v2/buildsets/own-2/library/alpine/manifests/1", nil, ownUser), http.StatusForbidden, "DENIED")
	e.expectError(e.do(http.MethodGet, "/v2/buildsets/secret/library/alpine/manifests/1", nil, ownUser), http.StatusForbidden, "DENIED")
	// own-1 holds library/alpine: promoting it would write the shared one.
	sharedAlpine, err := e.store.Repo("docker.io/library/alpine", storage.SharedArea)
	if err != nil {
		t.Fatal(err)
	}
	before, err := sharedAlpine.Tags(ctx)
	if err != nil {
		t.Fatal(err)
	}
	own1, _ := e.store.Repo("docker.io/library/alpine", "bs.own-1")
	data := e.f.manifestJSON()
	p, _ := storage.ParseManifest(storage.MediaTypeOCIManifest, data)
	for _, b := range p.RequiredBlobs() { // a manifest names what its repository holds
		if _, err := own1.BlobMount(ctx, b.Digest, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := own1.PutManifest(ctx, &storage.Manifest{Digest: digest.FromBytes(data), MediaType: p.MediaType, Data: data}, p, "from-own-1"); err != nil {
		t.Fatal(err)
	}
	r = e.do(http.MethodPost, registry.AdminPrefix+"/buildsets/own-1/promote", nil, ownUser)
	e.expectError(r, http.StatusForbidden, "DENIED")
	if !bytes.Contains(r.body, []byte("docker.io/library/alpine")) {
		t.Errorf("the refused promotion does not name the repository it may not write: %s", r.body)
	}
	after, _ := sharedAlpine.Tags(ctx)
	if !slices.Equal(before, after) || has(storage.SharedArea, "docker.io/library/alpine", "from-own-1") {
		t.Errorf("the refused promotion changed the shared docker.io/library/alpine: tags %v, then %v", before, after)
	}
	// The writer may promote it.
	e.expectStatus(e.do(http.MethodPost, registry.AdminPrefix+"/buildsets/own-1/promote", nil, writer), http.StatusOK, "writer")
	if !has(storage.SharedArea, "docker.io/library/alpine", "from-own-1") {
		t.Error("the writer's promotion did not write the shared repository")
	}

	// 4. Buildset credentials read any buildset by path, and a mount
	// without from linked a blob found in any buildset.
	e.expectError(e.do(http.MethodGet, "/v2/buildsets/b/docker.io/org/app/manifests/1", nil, e.credsA), http.StatusForbidden, "DENIED")
	e.expectStatus(e.do(http.MethodGet, "/v2/buildsets/b/docker.io/org/app/manifests/1", nil, e.credsC), http.StatusOK, "c (b is its parent)")
	onlyB := []byte("a blob only buildset b holds")
	bRepo, _ := e.store.Repo("docker.io/org/app", "bs.b")
	up, _ := bRepo.UploadStart(ctx)
	up.Append(ctx, bytes.NewReader(onlyB), 0, int64(len(onlyB)))
	if _, err := up.Commit(ctx, digest.FromBytes(onlyB)); err != nil {
		t.Fatal(err)
	}
	r = e.do(http.MethodPost, "/v2/org/app/blobs/uploads/?mount="+digest.FromBytes(onlyB).String(), nil, e.credsA)
	e.expectStatus(r, http.StatusAccepted, "a's mount without from (an upload session, not a mount)")
	aRepo, _ := e.store.Repo("docker.io/org/app", "bs.a")
	if _, err := aRepo.BlobStat(ctx, digest.FromBytes(onlyB)); err == nil {
		t.Error("a mount without from linked into buildset a a blob only buildset b holds")
	}
	r = e.do(http.MethodPost, "/v2/org/app/blobs/uploads/?mount="+digest.FromBytes(onlyB).String()+"&from=buildsets/b/org/app", nil, e.credsA)
	e.expectError(r, http.StatusForbidden, "DENIED")

	// Every request line names the canonical target and the user.
	e.do(http.MethodGet, "/v2/library/secret/manifests/1?ns=quay.io", nil, orgReader)
	found := false
	for _, l := range e.log.lines() {
		if l["msg"] == "request" && l["path"] == "/v2/library/secret/manifests/1" && l["user"] == orgReader.user && l["status"] == float64(http.StatusForbidden) {
			found = true
			if l["area"] != "shared" || l["namespace"] != "quay.io" || l["repository"] != "library/secret" {
				t.Errorf("the log line names %v/%v/%v, want shared/quay.io/library/secret: %v", l["area"], l["namespace"], l["repository"], l)
			}
		}
	}
	if !found {
		t.Error("no request line for GET /v2/library/secret/manifests/1?ns=quay.io")
	}
}
