package registry

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

// The API table, in the manner of go-containerregistry's pkg/registry
// tests: each case runs its requests in order against a fresh registry
// holding the seed content (see seed), and checks status, headers, the OCI
// error code and the body of every response.

// H are headers to send, or to expect: an exact value, "re:<regexp>", or ""
// for a header that must be absent.
type H = map[string]string

type step struct {
	method, path string
	header       H
	body         string
	streamed     bool // send the body without a Content-Length

	status   int
	code     string // OCI error code the body must carry
	want     H
	wantBody *string // exact body
	wantJSON string  // body, compared as JSON
	check    func(t *testing.T, resp *http.Response, body []byte)
}

type apiCase struct {
	name  string
	opts  Options
	steps []step
}

func ptr[T any](v T) *T { return &v }

// Digests the paths, headers and bodies of the table refer to as {name}.
var (
	helloWorld   = "hello world!"
	helloDigest  = digest.FromString(helloWorld)
	hello512     = digest.SHA512.FromString(helloWorld)
	emptyDigest  = digest.FromString("")
	tableDigests = map[string]string{
		"layer": layerBlob.d.String(), "config": configBlob.d.String(), "armconfig": armConfigBlob.d.String(),
		"empty": emptyBlob.d.String(), "secret": secretBlob.d.String(), "unknown": unknownBlob.d.String(),
		"oci": ociManifest.d.String(), "docker": dockerManifest.d.String(), "dockerarm": dockerArmManifest.d.String(),
		"list": dockerList.d.String(), "index": ociIndex.d.String(), "sig": sigManifest.d.String(),
		"sbom": sbomManifest.d.String(), "hello": helloDigest.String(), "hello512": hello512.String(),
		"nothing": emptyDigest.String(),
	}
)

const (
	uploadLoc  = `re:^/v2/seed/img/blobs/uploads/[0-9a-f]{32}$`
	uploadUUID = `re:^[0-9a-f]{32}$`
)

// Manifests pushed by the PUT cases.
var (
	newOCIManifest = newTestManifest(mtOCIManifest, obj{
		"schemaVersion": 2, "mediaType": mtOCIManifest,
		"config":      blobDesc(mtOCIConfig, configBlob),
		"layers":      []obj{blobDesc(mtOCILayer, layerBlob)},
		"annotations": obj{"org.example.new": "yes"},
	})
	noMediaTypeManifest = newTestManifest(mtOCIManifest, obj{
		"schemaVersion": 2,
		"config":        blobDesc(mtOCIConfig, configBlob),
		"layers":        []obj{},
	})
	missingConfigManifest = newTestManifest(mtOCIManifest, obj{
		"schemaVersion": 2, "mediaType": mtOCIManifest,
		"config": blobDesc(mtOCIConfig, unknownBlob),
		"layers": []obj{blobDesc(mtOCILayer, layerBlob)},
	})
	missingLayerManifest = newTestManifest(mtOCIManifest, obj{
		"schemaVersion": 2, "mediaType": mtOCIManifest,
		"config": blobDesc(mtOCIConfig, configBlob),
		"layers": []obj{blobDesc(mtOCILayer, layerBlob), blobDesc(mtOCILayer, unknownBlob)},
	})
	// secret is in the store, but not in seed/img: blobs are per repository.
	otherRepoLayerManifest = newTestManifest(mtOCIManifest, obj{
		"schemaVersion": 2, "mediaType": mtOCIManifest,
		"config": blobDesc(mtOCIConfig, configBlob),
		"layers": []obj{blobDesc(mtOCILayer, secretBlob)},
	})
	nonDistributableManifest = newTestManifest(mtOCIManifest, obj{
		"schemaVersion": 2, "mediaType": mtOCIManifest,
		"config": blobDesc(mtOCIConfig, configBlob),
		"layers": []obj{blobDesc("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", unknownBlob)},
	})
	foreignLayerManifest = newTestManifest(mtDockerManifest, obj{
		"schemaVersion": 2, "mediaType": mtDockerManifest,
		"config": blobDesc(mtDockerConfig, configBlob),
		"layers": []obj{func() obj {
			d := blobDesc("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", unknownBlob)
			d["urls"] = []string{"https://example.com/layer"}
			return d
		}()},
	})
	missingSubjectManifest = newTestManifest(mtOCIManifest, obj{
		"schemaVersion": 2, "mediaType": mtOCIManifest, "artifactType": artifactSig,
		"config":  blobDesc(mtEmpty, emptyBlob),
		"layers":  []obj{blobDesc(mtEmpty, emptyBlob)},
		"subject": desc(mtOCIManifest, unknownBlob.d, 123),
	})
	missingChildIndex = newTestManifest(mtOCIIndex, obj{
		"schemaVersion": 2, "mediaType": mtOCIIndex,
		"manifests": []obj{manifestDesc(ociManifest), desc(mtOCIManifest, unknownBlob.d, 100)},
	})
	newDockerList = newTestManifest(mtDockerList, obj{
		"schemaVersion": 2, "mediaType": mtDockerList,
		"manifests": []obj{platformDesc(dockerManifest, "linux", "amd64")},
	})
	newOCIIndex = newTestManifest(mtOCIIndex, obj{
		"schemaVersion": 2, "mediaType": mtOCIIndex,
		"manifests":   []obj{platformDesc(ociManifest, "linux", "amd64"), platformDesc(dockerManifest, "linux", "s390x")},
		"annotations": obj{"org.example.new": "yes"},
	})
	newDockerManifest = newTestManifest(mtDockerManifest, obj{
		"schemaVersion": 2, "mediaType": mtDockerManifest,
		"config": blobDesc(mtDockerConfig, armConfigBlob),
		"layers": []obj{},
	})
	indexWithLayers = newTestManifest(mtOCIIndex, obj{
		"schemaVersion": 2, "mediaType": mtOCIIndex,
		"manifests": []obj{manifestDesc(ociManifest)},
		"layers":    []obj{blobDesc(mtOCILayer, layerBlob)},
	})
	// A referrer that is an index, with an artifactType.
	indexReferrer = newTestManifest(mtOCIIndex, obj{
		"schemaVersion": 2, "mediaType": mtOCIIndex, "artifactType": "application/vnd.example.bundle",
		"manifests": []obj{manifestDesc(sigManifest)},
		"subject":   manifestDesc(ociManifest),
	})
	bigManifest = newTestManifest(mtOCIManifest, obj{
		"schemaVersion": 2, "mediaType": mtOCIManifest,
		"config":      blobDesc(mtOCIConfig, configBlob),
		"layers":      []obj{},
		"annotations": obj{"padding": strings.Repeat("x", 2000)},
	})
)

func TestAPI(t *testing.T) {
	t.Parallel()
	for _, tc := range apiCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := newTestRegistry(t, nil, tc.opts)
			seed(t, reg.store)
			vars := map[string]string{}
			for k, v := range tableDigests {
				vars[k] = v
			}
			for i, s := range tc.steps {
				runStep(t, reg.srv.URL, i, s, vars)
			}
		})
	}
}

func expand(s string, vars map[string]string) string {
	for k, v := range vars {
		s = strings.ReplaceAll(s, "{"+k+"}", v)
	}
	return s
}

func runStep(t *testing.T, base string, i int, s step, vars map[string]string) {
	t.Helper()
	path := expand(s.path, vars)
	what := fmt.Sprintf("step %d: %s %s", i, s.method, path)
	if s.status >= 400 && s.code == "" {
		t.Fatalf("%s: the table must give the error code of a %d", what, s.status)
	}
	var body io.Reader
	if s.body != "" || s.streamed {
		if s.streamed {
			body = struct{ io.Reader }{strings.NewReader(s.body)} // no length known: chunked
		} else {
			body = strings.NewReader(s.body)
		}
	}
	req, err := http.NewRequest(s.method, base+path, body)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	for k, v := range s.header {
		req.Header.Set(k, expand(v, vars))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("%s: reading the body: %v", what, err)
	}
	if loc := resp.Header.Get("Location"); strings.Contains(loc, "/blobs/uploads/") {
		vars["loc"] = loc
		vars["uuid"] = resp.Header.Get("Docker-Upload-UUID")
	}

	if resp.StatusCode != s.status {
		t.Errorf("%s: status %d, want %d (body %.300s)", what, resp.StatusCode, s.status, got)
	}
	if strings.HasPrefix(path, "/v2") {
		if v := resp.Header.Get("Docker-Distribution-API-Version"); v != "registry/2.0" {
			t.Errorf("%s: Docker-Distribution-API-Version %q, want registry/2.0", what, v)
		}
	}
	if s.method == http.MethodHead && len(got) > 0 {
		t.Errorf("%s: HEAD answered with a body: %.200q", what, got)
	}
	if s.code != "" {
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: error Content-Type %q, want application/json", what, ct)
		}
		if s.method != http.MethodHead {
			var e struct {
				Errors []struct {
					Code    string          `json:"code"`
					Message string          `json:"message"`
					Detail  json.RawMessage `json:"detail"`
				} `json:"errors"`
			}
			if err := json.Unmarshal(got, &e); err != nil || len(e.Errors) != 1 {
				t.Errorf("%s: error body %q is not one OCI error (%v)", what, got, err)
			} else {
				if e.Errors[0].Code != s.code {
					t.Errorf("%s: error code %q, want %q (message %q)", what, e.Errors[0].Code, s.code, e.Errors[0].Message)
				}
				if e.Errors[0].Message == "" {
					t.Errorf("%s: error %s has no message", what, e.Errors[0].Code)
				}
			}
		}
	}
	for k, v := range s.want {
		v = expand(v, vars)
		gv, present := resp.Header[http.CanonicalHeaderKey(k)]
		switch {
		case v == "":
			if present {
				t.Errorf("%s: header %s = %q, want none", what, k, gv)
			}
		case strings.HasPrefix(v, "re:"):
			if !present || !regexp.MustCompile(v[3:]).MatchString(strings.Join(gv, ",")) {
				t.Errorf("%s: header %s = %q, want it to match %s", what, k, gv, v[3:])
			}
		default:
			if !present || strings.Join(gv, ",") != v {
				t.Errorf("%s: header %s = %q, want %q", what, k, gv, v)
			}
		}
	}
	if s.wantBody != nil && string(got) != expand(*s.wantBody, vars) {
		t.Errorf("%s: body %.300q, want %.300q", what, got, expand(*s.wantBody, vars))
	}
	if s.wantJSON != "" {
		var a, b any
		if err := json.Unmarshal(got, &a); err != nil {
			t.Errorf("%s: body %.300q is not JSON: %v", what, got, err)
		} else if err := json.Unmarshal([]byte(expand(s.wantJSON, vars)), &b); err != nil {
			t.Fatalf("%s: bad wantJSON: %v", what, err)
		} else if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: body\n%s\nwant\n%s", what, got, expand(s.wantJSON, vars))
		}
	}
	if s.check != nil {
		s.check(t, resp, got)
	}
}

// Request helpers for the table.
func get(path string) step  { return step{method: http.MethodGet, path: path} }
func head(path string) step { return step{method: http.MethodHead, path: path} }

func (s step) with(k, v string) step {
	h := H{}
	for a, b := range s.header {
		h[a] = b
	}
	h[k] = v
	s.header = h
	return s
}

func (s step) expect(status int, want H) step { s.status, s.want = status, want; return s }

func (s step) fails(status int, code string) step { s.status, s.code = status, code; return s }

func req(method, path, body string) step { return step{method: method, path: path, body: body} }

func putManifest(path string, m testManifest) step {
	return req(http.MethodPut, path, string(m.data)).with("Content-Type", m.mediaType)
}

func manifestHeaders(m testManifest) H {
	return H{
		"Content-Type":          m.mediaType,
		"Content-Length":        strconv.Itoa(len(m.data)),
		"Docker-Content-Digest": m.d.String(),
		"ETag":                  `"` + m.d.String() + `"`,
	}
}

func getManifest(path string, m testManifest) step {
	s := get(path).expect(http.StatusOK, manifestHeaders(m))
	s.wantBody = ptr(string(m.data))
	return s
}

func headManifest(path string, m testManifest) step {
	return head(path).expect(http.StatusOK, manifestHeaders(m))
}

func pushed(m testManifest, name string) H {
	return H{"Location": "/v2/" + name + "/manifests/" + m.d.String(), "Docker-Content-Digest": m.d.String()}
}

func blobBody(b []byte) *string { return ptr(string(b)) }

func tagsJSON(name string, tags ...string) string {
	b, _ := json.Marshal(struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}{name, append([]string{}, tags...)})
	return string(b)
}

func catalogJSON(repos ...string) string {
	b, _ := json.Marshal(struct {
		Repositories []string `json:"repositories"`
	}{append([]string{}, repos...)})
	return string(b)
}

// referrersJSON is the referrers index listing ms, sorted by digest.
func referrersJSON(ms ...obj) string {
	ms = append([]obj{}, ms...)
	slices.SortFunc(ms, func(a, b obj) int { return strings.Compare(a["digest"].(string), b["digest"].(string)) })
	b, _ := json.Marshal(obj{"schemaVersion": 2, "mediaType": mtOCIIndex, "manifests": ms})
	return string(b)
}

func referrerDesc(m testManifest, artifactType string, annotations obj) obj {
	d := manifestDesc(m)
	if artifactType != "" {
		d["artifactType"] = artifactType
	}
	if annotations != nil {
		d["annotations"] = annotations
	}
	return d
}

func errorDetailDigest(want string) func(t *testing.T, resp *http.Response, body []byte) {
	return func(t *testing.T, _ *http.Response, body []byte) {
		t.Helper()
		var e struct {
			Errors []struct {
				Detail struct {
					Digest string `json:"digest"`
				} `json:"detail"`
			} `json:"errors"`
		}
		if err := json.Unmarshal(body, &e); err != nil || len(e.Errors) == 0 || e.Errors[0].Detail.Digest != want {
			t.Errorf("error detail: body %s, want detail.digest %s", body, want)
		}
	}
}

func apiCases() []apiCase {
	var (
		blobGot = H{
			"Content-Length": "2048", "Docker-Content-Digest": "{layer}", "ETag": `"{layer}"`,
			"Accept-Ranges": "bytes", "Content-Range": "",
		}
		tagsAll      = tagsJSON("seed/img", "docker", "index", "list", "v1")
		sigDesc      = referrerDesc(sigManifest, artifactSig, nil)
		sbomDesc     = referrerDesc(sbomManifest, sbomConfig, obj{"org.example.kind": "sbom"})
		indexRefDesc = referrerDesc(indexReferrer, "application/vnd.example.bundle", nil)
	)
	ranged := func(rng string, from, to int) step {
		s := get("/v2/seed/img/blobs/{layer}").with("Range", rng).expect(http.StatusPartialContent, H{
			"Content-Range":  fmt.Sprintf("bytes %d-%d/2048", from, to),
			"Content-Length": strconv.Itoa(to - from + 1),
		})
		s.wantBody = blobBody(layerBlob.data[from : to+1])
		return s
	}
	unsatisfiable := func(rng string) step {
		return get("/v2/seed/img/blobs/{layer}").with("Range", rng).fails(http.StatusRequestedRangeNotSatisfiable, "RANGE_INVALID")
	}
	unsatisfiable416 := func(rng string) step {
		s := unsatisfiable(rng)
		s.want = H{"Content-Range": "bytes */2048", "Docker-Content-Digest": ""}
		return s
	}
	post := func(path string) step { return req(http.MethodPost, path, "") }
	started := func(s step) step {
		return s.expect(http.StatusAccepted, H{"Location": uploadLoc, "Range": "0-0", "Docker-Upload-UUID": uploadUUID, "Content-Length": "0"})
	}
	startUpload := started(post("/v2/seed/img/blobs/uploads/"))
	blobCreated := func(name, d string) H {
		return H{"Location": "/v2/" + name + "/blobs/" + d, "Docker-Content-Digest": d, "Content-Length": "0"}
	}
	patch := func(body, contentRange string) step {
		s := req(http.MethodPatch, "{loc}", body)
		if contentRange != "" {
			s = s.with("Content-Range", contentRange)
		}
		return s
	}
	progress := func(rng string) H {
		return H{"Location": "{loc}", "Range": rng, "Docker-Upload-UUID": "{uuid}"}
	}

	return []apiCase{
		// The base endpoint and what is not an endpoint.
		{name: "base", steps: []step{
			func() step {
				s := get("/v2/").expect(200, H{"Content-Type": "application/json"})
				s.wantBody = ptr("{}")
				return s
			}(),
			get("/v2").expect(200, nil),
			head("/v2/").expect(200, nil),
			req(http.MethodPost, "/v2/", "").fails(405, "UNSUPPORTED"),
			req(http.MethodDelete, "/v2/", "").fails(405, "UNSUPPORTED"),
		}},
		{name: "unknown paths", steps: []step{
			get("/v2/seed").fails(404, "NOT_FOUND"),
			get("/v2/seed/img/manifests/").fails(404, "NOT_FOUND"),
			get("/v2/seed/img/blobs/").fails(404, "NOT_FOUND"),
			get("/v2/seed/img/tags").fails(404, "NOT_FOUND"),
			get("/v2/_catalog/x").fails(404, "NOT_FOUND"),
			head("/v2/seed").fails(404, "NOT_FOUND"),
			get("/nope").fails(404, "NOT_FOUND"),
			func() step { s := get("/healthz").expect(200, nil); s.wantBody = ptr("ok\n"); return s }(),
		}},
		{name: "methods not supported", steps: []step{
			req(http.MethodPatch, "/v2/seed/img/blobs/{layer}", "x").fails(405, "UNSUPPORTED"),
			req(http.MethodPut, "/v2/seed/img/blobs/{layer}", "x").fails(405, "UNSUPPORTED"),
			req(http.MethodPost, "/v2/seed/img/manifests/v1", "").fails(405, "UNSUPPORTED"),
			req(http.MethodPatch, "/v2/seed/img/manifests/v1", "").fails(405, "UNSUPPORTED"),
			req(http.MethodDelete, "/v2/seed/img/tags/list", "").fails(405, "UNSUPPORTED"),
			req(http.MethodPost, "/v2/_catalog", "").fails(405, "UNSUPPORTED"),
			req(http.MethodDelete, "/v2/seed/img/referrers/{oci}", "").fails(405, "UNSUPPORTED"),
			req(http.MethodGet, "/v2/seed/img/blobs/uploads/", "").fails(405, "UNSUPPORTED"),
			req(http.MethodPatch, "/v2/seed/img/blobs/uploads/", "x").fails(405, "UNSUPPORTED"),
			req(http.MethodPost, "/v2/seed/img/blobs/uploads/0123456789abcdef0123456789abcdef", "").fails(405, "UNSUPPORTED"),
		}},

		// Names.
		{name: "invalid names", steps: []step{
			get("/v2/Seed/img/tags/list").fails(400, "NAME_INVALID"),
			get("/v2/seed/a___b/manifests/v1").fails(400, "NAME_INVALID"),
			get("/v2/seed/a..b/blobs/{layer}").fails(400, "NAME_INVALID"),
			head("/v2/-a/manifests/v1").fails(400, "NAME_INVALID"),
			get("/v2//manifests/v1").fails(400, "NAME_INVALID"),
			get("/v2/a//b/manifests/v1").fails(400, "NAME_INVALID"),
			req(http.MethodPost, "/v2/BAD/blobs/uploads/", "").fails(400, "NAME_INVALID"),
			putManifest("/v2/Bad/manifests/v1", ociManifest).fails(400, "NAME_INVALID"),
			get("/v2/"+strings.Repeat("a", 256)+"/tags/list").fails(400, "NAME_INVALID"),
			get("/v2/x/img/tags/list?ns=..%2F..%2Fother-area%2Frepos%2Fquay.io").fails(400, "NAME_INVALID"),
		}},
		{name: "docker.io aliases name one repository", steps: []step{
			getManifest("/v2/seed/img/manifests/v1", ociManifest),
			getManifest("/v2/docker.io/seed/img/manifests/v1", ociManifest),
			getManifest("/v2/index.docker.io/seed/img/manifests/v1", ociManifest),
			getManifest("/v2/alpine/manifests/latest", ociManifest),
			getManifest("/v2/library/alpine/manifests/latest", ociManifest),
			getManifest("/v2/docker.io/library/alpine/manifests/latest", ociManifest),
			get("/v2/seed/img/blobs/{layer}").expect(200, nil),
			get("/v2/docker.io/seed/img/blobs/{layer}").expect(200, nil),
		}},
		{name: "containerd ns parameter", steps: []step{
			getManifest("/v2/org/img/manifests/latest?ns=quay.io", ociManifest),
			getManifest("/v2/alpine/manifests/latest?ns=docker.io", ociManifest),
			get("/v2/org/img/manifests/latest").fails(404, "MANIFEST_UNKNOWN"), // docker.io/org/img
			get("/v2/org/img/manifests/latest?ns=Quay.IO").expect(200, nil),
		}},

		// Tags.
		{name: "tags list", steps: []step{
			{method: "GET", path: "/v2/seed/img/tags/list", status: 200, wantJSON: tagsAll, want: H{"Content-Type": "application/json", "Link": ""}},
			{method: "GET", path: "/v2/docker.io/seed/img/tags/list", status: 200, wantJSON: tagsJSON("docker.io/seed/img", "docker", "index", "list", "v1")},
			{method: "GET", path: "/v2/other/img/tags/list", status: 200, wantJSON: tagsJSON("other/img")}, // blobs, no tags
			head("/v2/seed/img/tags/list").expect(200, nil),
			get("/v2/unknown/repo/tags/list").fails(404, "NAME_UNKNOWN"),
			get("/v2/quay.io/org/tags/list").fails(404, "NAME_UNKNOWN"), // only quay.io/org/img exists
			head("/v2/unknown/repo/tags/list").fails(404, "NAME_UNKNOWN"),
		}},
		{name: "tags list pagination", steps: []step{
			{method: "GET", path: "/v2/seed/img/tags/list?n=2", status: 200, wantJSON: tagsJSON("seed/img", "docker", "index"),
				want: H{"Link": `</v2/seed/img/tags/list?last=index&n=2>; rel="next"`}},
			{method: "GET", path: "/v2/seed/img/tags/list?last=index&n=2", status: 200, wantJSON: tagsJSON("seed/img", "list", "v1"), want: H{"Link": ""}},
			{method: "GET", path: "/v2/seed/img/tags/list?n=1&last=index", status: 200, wantJSON: tagsJSON("seed/img", "list"),
				want: H{"Link": `</v2/seed/img/tags/list?last=list&n=1>; rel="next"`}},
			{method: "GET", path: "/v2/seed/img/tags/list?last=j", status: 200, wantJSON: tagsJSON("seed/img", "list", "v1")},
			{method: "GET", path: "/v2/seed/img/tags/list?last=v1", status: 200, wantJSON: tagsJSON("seed/img")},
			{method: "GET", path: "/v2/seed/img/tags/list?n=4", status: 200, wantJSON: tagsAll, want: H{"Link": ""}},
			{method: "GET", path: "/v2/seed/img/tags/list?n=100", status: 200, wantJSON: tagsAll, want: H{"Link": ""}},
			{method: "GET", path: "/v2/seed/img/tags/list?n=0", status: 200, wantJSON: tagsJSON("seed/img"), want: H{"Link": ""}},
			get("/v2/seed/img/tags/list?n=abc").fails(400, "PAGINATION_NUMBER_INVALID"),
			get("/v2/seed/img/tags/list?n=-1").fails(400, "PAGINATION_NUMBER_INVALID"),
		}},

		// Catalog.
		{name: "catalog", steps: []step{
			{method: "GET", path: "/v2/_catalog", status: 200, wantJSON: catalogJSON("library/alpine", "quay.io/org/img", "seed/img")},
			{method: "GET", path: "/v2/_catalog?n=1", status: 200, wantJSON: catalogJSON("library/alpine"),
				want: H{"Link": `</v2/_catalog?last=library%2Falpine&n=1>; rel="next"`}},
			{method: "GET", path: "/v2/_catalog?n=1&last=library/alpine", status: 200, wantJSON: catalogJSON("quay.io/org/img"),
				want: H{"Link": `</v2/_catalog?last=quay.io%2Forg%2Fimg&n=1>; rel="next"`}},
			{method: "GET", path: "/v2/_catalog?n=2&last=quay.io/org/img", status: 200, wantJSON: catalogJSON("seed/img"), want: H{"Link": ""}},
			get("/v2/_catalog?n=x").fails(400, "PAGINATION_NUMBER_INVALID"),
		}},

		// Blobs.
		{name: "blob get and head", steps: []step{
			func() step {
				s := get("/v2/seed/img/blobs/{layer}").expect(200, blobGot)
				s.wantBody = blobBody(layerBlob.data)
				return s
			}(),
			head("/v2/seed/img/blobs/{layer}").expect(200, blobGot),
			get("/v2/quay.io/org/img/blobs/{layer}").expect(200, H{"Content-Length": "2048"}),
			func() step {
				s := get("/v2/seed/img/blobs/{config}").expect(200, H{"Content-Length": strconv.Itoa(len(configBlob.data))})
				s.wantBody = blobBody(configBlob.data)
				return s
			}(),
		}},
		{name: "blob unknown", steps: []step{
			get("/v2/seed/img/blobs/{unknown}").fails(404, "BLOB_UNKNOWN"),
			head("/v2/seed/img/blobs/{unknown}").fails(404, "BLOB_UNKNOWN"),
			get("/v2/seed/img/blobs/{secret}").fails(404, "BLOB_UNKNOWN"), // other/img holds it
			get("/v2/unknown/repo/blobs/{layer}").fails(404, "BLOB_UNKNOWN"),
		}},
		{name: "blob digest invalid", steps: []step{
			get("/v2/seed/img/blobs/sha256:nothex").fails(400, "DIGEST_INVALID"),
			get("/v2/seed/img/blobs/sha256:abc").fails(400, "DIGEST_INVALID"),
			get("/v2/seed/img/blobs/md5:d41d8cd98f00b204e9800998ecf8427e").fails(400, "DIGEST_INVALID"),
			get("/v2/seed/img/blobs/latest").fails(400, "DIGEST_INVALID"),
			req(http.MethodDelete, "/v2/seed/img/blobs/sha256:zz", "").fails(400, "DIGEST_INVALID"),
		}},
		{name: "blob ranges", steps: []step{
			ranged("bytes=0-", 0, 2047),
			ranged("bytes=500-1499", 500, 1499),
			ranged("bytes=-500", 1548, 2047),
			ranged("bytes=2000-5000", 2000, 2047),
			ranged("bytes=0-0", 0, 0),
			func() step {
				s := get("/v2/seed/img/blobs/{layer}").with("Range", "bytes=0-1,5-9").expect(200, blobGot)
				s.wantBody = blobBody(layerBlob.data)
				return s
			}(),
			get("/v2/seed/img/blobs/{layer}").with("Range", "items=0-10").expect(200, blobGot),
			head("/v2/seed/img/blobs/{layer}").with("Range", "bytes=500-1499").expect(206, H{"Content-Range": "bytes 500-1499/2048", "Content-Length": "1000"}),
			unsatisfiable("bytes=500-0"),
			unsatisfiable("bytes=5000-10000"),
			head("/v2/seed/img/blobs/{layer}").with("Range", "bytes=5000-").fails(416, "RANGE_INVALID"),
		}},
		{name: "blob unsatisfiable range says the size", steps: []step{
			unsatisfiable416("bytes=5000-10000"),
			unsatisfiable416("bytes=2048-"),
		}},
		{name: "blob conditional get", steps: []step{
			get("/v2/seed/img/blobs/{layer}").with("If-None-Match", `"{layer}"`).expect(304, H{"ETag": `"{layer}"`}),
			get("/v2/seed/img/blobs/{layer}").with("If-None-Match", `"{config}"`).expect(200, blobGot),
		}},
		{name: "blob delete is per repository", steps: []step{
			req(http.MethodDelete, "/v2/other/img/blobs/{layer}", "").expect(202, H{"Content-Length": "0"}),
			get("/v2/other/img/blobs/{layer}").fails(404, "BLOB_UNKNOWN"),
			head("/v2/other/img/blobs/{layer}").fails(404, "BLOB_UNKNOWN"),
			get("/v2/seed/img/blobs/{layer}").expect(200, blobGot),
			req(http.MethodDelete, "/v2/other/img/blobs/{layer}", "").fails(404, "BLOB_UNKNOWN"),
			req(http.MethodDelete, "/v2/seed/img/blobs/{unknown}", "").fails(404, "BLOB_UNKNOWN"),
		}},

		// Uploads.
		{name: "upload start", steps: []step{
			startUpload,
			started(post("/v2/seed/img/blobs/uploads")),
			head("{loc}").expect(204, H{"Range": "0-0", "Location": "{loc}", "Docker-Upload-UUID": "{uuid}"}),
			get("{loc}").expect(204, H{"Range": "0-0", "Location": "{loc}"}),
		}},
		{name: "upload streamed then put", steps: []step{
			startUpload,
			func() step {
				s := patch("hello ", "")
				s.streamed = true
				return s.expect(202, progress("0-5"))
			}(),
			get("{loc}").expect(204, progress("0-5")),
			req(http.MethodPut, "{loc}?digest={hello}", "world!").expect(201, blobCreated("seed/img", "{hello}")),
			func() step {
				s := get("/v2/seed/img/blobs/{hello}").expect(200, nil)
				s.wantBody = ptr(helloWorld)
				return s
			}(),
			get("{loc}").fails(404, "BLOB_UPLOAD_UNKNOWN"),
			req(http.MethodPut, "{loc}?digest={hello}", "").fails(404, "BLOB_UPLOAD_UNKNOWN"),
		}},
		{name: "upload chunked", steps: []step{
			startUpload,
			patch("hello", "0-4").expect(202, progress("0-4")),
			patch(" world", "5-10").expect(202, progress("0-10")),
			get("{loc}").expect(204, progress("0-10")),
			patch("!", "bytes 11-11/12").expect(202, progress("0-11")),
			req(http.MethodPut, "{loc}?digest={hello}", "").expect(201, blobCreated("seed/img", "{hello}")),
			func() step {
				s := get("/v2/seed/img/blobs/{hello}").expect(200, nil)
				s.wantBody = ptr(helloWorld)
				return s
			}(),
		}},
		{name: "upload chunk out of order", steps: []step{
			startUpload,
			patch("world", "5-9").fails(416, "BLOB_UPLOAD_INVALID").expect(416, H{"Range": "0-0", "Location": "{loc}", "Docker-Upload-UUID": "{uuid}"}),
			patch("hello", "0-4").expect(202, progress("0-4")),
			patch("hello", "0-4").fails(416, "BLOB_UPLOAD_INVALID").expect(416, H{"Range": "0-4", "Location": "{loc}", "Docker-Upload-UUID": "{uuid}"}),
			patch("world", "10-14").fails(416, "BLOB_UPLOAD_INVALID").expect(416, H{"Range": "0-4", "Location": "{loc}"}),
			get("{loc}").expect(204, progress("0-4")),
			req(http.MethodPut, "{loc}?digest={hello}", " world!").with("Content-Range", "6-12").
				fails(416, "BLOB_UPLOAD_INVALID").expect(416, H{"Range": "0-4", "Location": "{loc}", "Docker-Upload-UUID": "{uuid}"}),
			patch(" world!", "5-11").expect(202, progress("0-11")),
			req(http.MethodPut, "{loc}?digest={hello}", "").expect(201, blobCreated("seed/img", "{hello}")),
		}},
		{name: "upload bad chunks", steps: []step{
			startUpload,
			patch("hello", "abc").fails(416, "BLOB_UPLOAD_INVALID"),
			patch("hello", "4-0").fails(416, "BLOB_UPLOAD_INVALID"),
			patch("hello", "0-9").fails(400, "SIZE_INVALID"), // Content-Length 5
			func() step {
				s := patch("hello", "0-9")
				s.streamed = true
				return s.fails(400, "SIZE_INVALID")
			}(),
			get("{loc}").expect(204, progress("0-0")), // nothing kept
			patch("hello", "0-4").expect(202, progress("0-4")),
		}},
		{name: "upload finish needs a good digest", steps: []step{
			startUpload,
			patch("hello world!", "").expect(202, progress("0-11")),
			req(http.MethodPut, "{loc}", "").fails(400, "DIGEST_INVALID"),
			req(http.MethodPut, "{loc}?digest=sha256:nope", "").fails(400, "DIGEST_INVALID"),
			req(http.MethodPut, "{loc}?digest=md5:d41d8cd98f00b204e9800998ecf8427e", "").fails(400, "DIGEST_INVALID"),
			get("{loc}").expect(204, progress("0-11")), // the session is still there
			req(http.MethodPut, "{loc}?digest={layer}", "").fails(400, "DIGEST_INVALID"),
			get("{loc}").fails(404, "BLOB_UPLOAD_UNKNOWN"), // a mismatch discards it
			get("/v2/seed/img/blobs/{hello}").fails(404, "BLOB_UNKNOWN"),
		}},
		{name: "upload sha512", steps: []step{
			startUpload,
			patch("hello world!", "").expect(202, progress("0-11")),
			req(http.MethodPut, "{loc}?digest={hello512}", "").expect(201, blobCreated("seed/img", "{hello512}")),
			func() step {
				s := get("/v2/seed/img/blobs/{hello512}").expect(200, H{"Docker-Content-Digest": "{hello512}", "Content-Length": "12"})
				s.wantBody = ptr(helloWorld)
				return s
			}(),
			get("/v2/seed/img/blobs/{hello}").fails(404, "BLOB_UNKNOWN"),
		}},
		{name: "upload monolithic", steps: []step{
			req(http.MethodPost, "/v2/seed/img/blobs/uploads/?digest={hello}", helloWorld).expect(201, blobCreated("seed/img", "{hello}")),
			func() step {
				s := get("/v2/seed/img/blobs/{hello}").expect(200, nil)
				s.wantBody = ptr(helloWorld)
				return s
			}(),
			req(http.MethodPost, "/v2/seed/img/blobs/uploads/?digest={nothing}", "").expect(201, blobCreated("seed/img", "{nothing}")),
			func() step {
				s := get("/v2/seed/img/blobs/{nothing}").expect(200, H{"Content-Length": "0"})
				s.wantBody = ptr("")
				return s
			}(),
			req(http.MethodPost, "/v2/quay.io/org/img/blobs/uploads/?digest={layer}", helloWorld).fails(400, "DIGEST_INVALID"),
			get("/v2/quay.io/org/img/blobs/{hello}").fails(404, "BLOB_UNKNOWN"),
			req(http.MethodPost, "/v2/seed/img/blobs/uploads/?digest=sha256:bad", helloWorld).fails(400, "DIGEST_INVALID"),
		}},
		{name: "upload cancel", steps: []step{
			startUpload,
			patch("hello", "").expect(202, progress("0-4")),
			req(http.MethodDelete, "{loc}", "").expect(204, nil),
			get("{loc}").fails(404, "BLOB_UPLOAD_UNKNOWN"),
			req(http.MethodPatch, "{loc}", "x").fails(404, "BLOB_UPLOAD_UNKNOWN"),
			req(http.MethodDelete, "{loc}", "").fails(404, "BLOB_UPLOAD_UNKNOWN"),
		}},
		{name: "upload unknown", steps: []step{
			get("/v2/seed/img/blobs/uploads/0123456789abcdef0123456789abcdef").fails(404, "BLOB_UPLOAD_UNKNOWN"),
			get("/v2/seed/img/blobs/uploads/not-an-id").fails(404, "BLOB_UPLOAD_UNKNOWN"),
			req(http.MethodPatch, "/v2/seed/img/blobs/uploads/..", "x").fails(404, "BLOB_UPLOAD_UNKNOWN"),
			startUpload,
			// The session belongs to seed/img.
			get("/v2/other/img/blobs/uploads/{uuid}").fails(404, "BLOB_UPLOAD_UNKNOWN"),
			req(http.MethodPut, "/v2/other/img/blobs/uploads/{uuid}?digest={hello}", helloWorld).fails(404, "BLOB_UPLOAD_UNKNOWN"),
			get("{loc}").expect(204, progress("0-0")),
		}},
		{name: "mount", steps: []step{
			req(http.MethodPost, "/v2/new/repo/blobs/uploads/?mount={layer}&from=seed/img", "").expect(201, blobCreated("new/repo", "{layer}")),
			func() step {
				s := get("/v2/new/repo/blobs/{layer}").expect(200, blobGot)
				s.wantBody = blobBody(layerBlob.data)
				return s
			}(),
			req(http.MethodPost, "/v2/quay.io/x/y/blobs/uploads/?mount={layer}&from=docker.io/seed/img", "").expect(201, blobCreated("quay.io/x/y", "{layer}")),
		}},
		{name: "mount from a repository without the blob", steps: []step{
			started(post("/v2/seed/img/blobs/uploads/?mount={secret}&from=quay.io/org/img")),
			get("/v2/seed/img/blobs/{secret}").fails(404, "BLOB_UNKNOWN"),
			started(post("/v2/seed/img/blobs/uploads/?mount={secret}&from=Not/Valid")),
			started(post("/v2/seed/img/blobs/uploads/?mount={unknown}")),
			req(http.MethodPost, "/v2/seed/img/blobs/uploads/?mount=sha256:bad&from=other/img", "").fails(400, "DIGEST_INVALID"),
		}},
		{name: "mount without from", steps: []step{
			// Knowing the digest is knowing the content.
			req(http.MethodPost, "/v2/seed/img/blobs/uploads/?mount={secret}", "").expect(201, blobCreated("seed/img", "{secret}")),
			get("/v2/seed/img/blobs/{secret}").expect(200, H{"Docker-Content-Digest": "{secret}"}),
		}},

		// Manifests.
		{name: "manifest get and head of every kind", steps: []step{
			getManifest("/v2/seed/img/manifests/v1", ociManifest),
			getManifest("/v2/seed/img/manifests/{oci}", ociManifest),
			headManifest("/v2/seed/img/manifests/v1", ociManifest),
			headManifest("/v2/seed/img/manifests/{oci}", ociManifest),
			getManifest("/v2/seed/img/manifests/docker", dockerManifest),
			headManifest("/v2/seed/img/manifests/docker", dockerManifest),
			getManifest("/v2/seed/img/manifests/list", dockerList),
			headManifest("/v2/seed/img/manifests/list", dockerList),
			getManifest("/v2/seed/img/manifests/index", ociIndex),
			headManifest("/v2/seed/img/manifests/index", ociIndex),
			getManifest("/v2/seed/img/manifests/{dockerarm}", dockerArmManifest),
			getManifest("/v2/seed/img/manifests/{sig}", sigManifest),
		}},
		{name: "manifest unknown", steps: []step{
			get("/v2/seed/img/manifests/nope").fails(404, "MANIFEST_UNKNOWN"),
			head("/v2/seed/img/manifests/nope").fails(404, "MANIFEST_UNKNOWN"),
			get("/v2/seed/img/manifests/{unknown}").fails(404, "MANIFEST_UNKNOWN"),
			get("/v2/other/img/manifests/{oci}").fails(404, "MANIFEST_UNKNOWN"),
			get("/v2/unknown/repo/manifests/latest").fails(404, "MANIFEST_UNKNOWN"),
		}},
		{name: "manifest reference invalid", steps: []step{
			get("/v2/seed/img/manifests/bad!tag").fails(400, "TAG_INVALID"),
			get("/v2/seed/img/manifests/.dot").fails(400, "TAG_INVALID"),
			get("/v2/seed/img/manifests/"+strings.Repeat("t", 129)).fails(400, "TAG_INVALID"),
			get("/v2/seed/img/manifests/sha256:abc").fails(400, "DIGEST_INVALID"),
			head("/v2/seed/img/manifests/md5:d41d8cd98f00b204e9800998ecf8427e").fails(400, "DIGEST_INVALID"),
			get("/v2/seed/img/manifests/"+strings.Repeat("t", 128)).fails(404, "MANIFEST_UNKNOWN"),
		}},
		{name: "manifest accept negotiation", steps: []step{
			// A Docker list for a client that takes only Docker manifests:
			// its linux/amd64 child.
			getManifest("/v2/seed/img/manifests/list", dockerManifest).with("Accept", mtDockerManifest),
			headManifest("/v2/seed/img/manifests/list", dockerManifest).with("Accept", mtDockerManifest),
			getManifest("/v2/seed/img/manifests/index", ociManifest).with("Accept", mtOCIManifest),
			getManifest("/v2/seed/img/manifests/list", dockerList).with("Accept", mtDockerManifest+", "+mtDockerList),
			getManifest("/v2/seed/img/manifests/list", dockerList).with("Accept", "*/*"),
			getManifest("/v2/seed/img/manifests/v1", ociManifest).with("Accept", mtDockerManifest+", "+mtOCIManifest+";q=0.5"),
			// Nothing the client takes.
			get("/v2/seed/img/manifests/v1").with("Accept", mtDockerManifest+", "+mtDockerList).fails(404, "MANIFEST_UNKNOWN"),
			head("/v2/seed/img/manifests/v1").with("Accept", mtDockerManifest).fails(404, "MANIFEST_UNKNOWN"),
			get("/v2/seed/img/manifests/list").with("Accept", mtOCIManifest).fails(404, "MANIFEST_UNKNOWN"),
			get("/v2/seed/img/manifests/v1").with("Accept", mtOCIManifest+";q=0, "+mtDockerManifest).fails(404, "MANIFEST_UNKNOWN"),
		}},
		{name: "manifest conditional get", steps: []step{
			get("/v2/seed/img/manifests/v1").with("If-None-Match", `"{oci}"`).expect(304, H{"Docker-Content-Digest": "{oci}"}),
			getManifest("/v2/seed/img/manifests/v1", ociManifest).with("If-None-Match", `"{docker}"`),
		}},
		{name: "manifest put by tag, every kind", steps: []step{
			putManifest("/v2/seed/img/manifests/new", newOCIManifest).expect(201, pushed(newOCIManifest, "seed/img")),
			getManifest("/v2/seed/img/manifests/new", newOCIManifest),
			putManifest("/v2/seed/img/manifests/dockernew", newDockerManifest).expect(201, pushed(newDockerManifest, "seed/img")),
			getManifest("/v2/seed/img/manifests/dockernew", newDockerManifest),
			headManifest("/v2/seed/img/manifests/dockernew", newDockerManifest),
			putManifest("/v2/seed/img/manifests/listnew", newDockerList).expect(201, pushed(newDockerList, "seed/img")),
			getManifest("/v2/seed/img/manifests/listnew", newDockerList),
			putManifest("/v2/seed/img/manifests/indexnew", newOCIIndex).expect(201, pushed(newOCIIndex, "seed/img")),
			getManifest("/v2/seed/img/manifests/indexnew", newOCIIndex),
			getManifest("/v2/seed/img/manifests/{docker}", dockerManifest),
			{method: "GET", path: "/v2/seed/img/tags/list", status: 200,
				wantJSON: tagsJSON("seed/img", "docker", "dockernew", "index", "indexnew", "list", "listnew", "new", "v1")},
		}},
		{name: "manifest put moves a tag", steps: []step{
			putManifest("/v2/seed/img/manifests/v1", newOCIManifest).expect(201, pushed(newOCIManifest, "seed/img")),
			getManifest("/v2/seed/img/manifests/v1", newOCIManifest),
			getManifest("/v2/seed/img/manifests/{oci}", ociManifest),
			putManifest("/v2/seed/img/manifests/v1", ociManifest).expect(201, pushed(ociManifest, "seed/img")),
			getManifest("/v2/seed/img/manifests/v1", ociManifest),
		}},
		{name: "manifest put by digest", steps: []step{
			putManifest("/v2/seed/img/manifests/"+newOCIManifest.d.String(), newOCIManifest).expect(201, H{
				"Location": "/v2/seed/img/manifests/" + newOCIManifest.d.String(), "Docker-Content-Digest": newOCIManifest.d.String(), "OCI-Tag": ""}),
			getManifest("/v2/seed/img/manifests/"+newOCIManifest.d.String(), newOCIManifest),
			{method: "GET", path: "/v2/seed/img/tags/list", status: 200, wantJSON: tagsAll},
			putManifest("/v2/seed/img/manifests/"+newDockerManifest.d.String(), newDockerManifest).expect(201, pushed(newDockerManifest, "seed/img")),
			getManifest("/v2/seed/img/manifests/"+newDockerManifest.d.String(), newDockerManifest),
			putManifest("/v2/seed/img/manifests/"+newDockerList.d.String(), newDockerList).expect(201, pushed(newDockerList, "seed/img")),
			headManifest("/v2/seed/img/manifests/"+newDockerList.d.String(), newDockerList),
			putManifest("/v2/seed/img/manifests/"+newOCIIndex.d.String(), newOCIIndex).expect(201, pushed(newOCIIndex, "seed/img")),
			getManifest("/v2/seed/img/manifests/"+newOCIIndex.d.String(), newOCIIndex),
			{method: "GET", path: "/v2/seed/img/tags/list", status: 200, wantJSON: tagsAll},
			putManifest("/v2/seed/img/manifests/{oci}", newOCIManifest).fails(400, "DIGEST_INVALID"),
			putManifest("/v2/seed/img/manifests/sha256:abc", newOCIManifest).fails(400, "DIGEST_INVALID"),
		}},
		{name: "manifest put with tag parameters", steps: []step{
			putManifest("/v2/seed/img/manifests/"+newOCIManifest.d.String()+"?tag=a&tag=b", newOCIManifest).expect(201, H{
				"Docker-Content-Digest": newOCIManifest.d.String(), "OCI-Tag": "a,b"}),
			getManifest("/v2/seed/img/manifests/a", newOCIManifest),
			getManifest("/v2/seed/img/manifests/b", newOCIManifest),
			putManifest("/v2/seed/img/manifests/c?tag=d", newOCIManifest).expect(201, H{"OCI-Tag": "d"}),
			getManifest("/v2/seed/img/manifests/c", newOCIManifest),
			getManifest("/v2/seed/img/manifests/d", newOCIManifest),
			putManifest("/v2/seed/img/manifests/e?tag=bad!", newOCIManifest).fails(400, "TAG_INVALID"),
			get("/v2/seed/img/manifests/e").fails(404, "MANIFEST_UNKNOWN"),
		}},
		{name: "manifest put sha512", steps: []step{
			func() step {
				d := digest.SHA512.FromBytes(newOCIManifest.data).String()
				return putManifest("/v2/seed/img/manifests/"+d, newOCIManifest).expect(201, H{
					"Location": "/v2/seed/img/manifests/" + d, "Docker-Content-Digest": d})
			}(),
			func() step {
				d := digest.SHA512.FromBytes(newOCIManifest.data).String()
				s := get("/v2/seed/img/manifests/"+d).expect(200, H{"Docker-Content-Digest": d, "Content-Type": mtOCIManifest})
				s.wantBody = ptr(string(newOCIManifest.data))
				return s
			}(),
			get("/v2/seed/img/manifests/"+newOCIManifest.d.String()).fails(404, "MANIFEST_UNKNOWN"),
		}},
		{name: "manifest put media types", steps: []step{
			// No mediaType field: the Content-Type says what it is.
			putManifest("/v2/seed/img/manifests/plain", noMediaTypeManifest).expect(201, pushed(noMediaTypeManifest, "seed/img")),
			getManifest("/v2/seed/img/manifests/plain", noMediaTypeManifest),
			// Content-Type parameters are not part of the type.
			putManifest("/v2/seed/img/manifests/params", newOCIManifest).with("Content-Type", mtOCIManifest+"; charset=utf-8").expect(201, nil),
			getManifest("/v2/seed/img/manifests/params", newOCIManifest),
		}},
		{name: "manifest invalid", steps: []step{
			req(http.MethodPut, "/v2/seed/img/manifests/x", "not json").with("Content-Type", mtOCIManifest).fails(400, "MANIFEST_INVALID"),
			req(http.MethodPut, "/v2/seed/img/manifests/x", "").with("Content-Type", mtOCIManifest).fails(400, "MANIFEST_INVALID"),
			req(http.MethodPut, "/v2/seed/img/manifests/x", `{"schemaVersion":1,"name":"seed/img","tag":"x","fsLayers":[],"history":[]}`).
				with("Content-Type", "application/vnd.docker.distribution.manifest.v1+json").fails(400, "MANIFEST_INVALID"),
			req(http.MethodPut, "/v2/seed/img/manifests/x", `{"schemaVersion":1,"name":"seed/img","tag":"x","fsLayers":[],"history":[]}`).
				with("Content-Type", "application/vnd.docker.distribution.manifest.v1+prettyjws").fails(400, "MANIFEST_INVALID"),
			putManifest("/v2/seed/img/manifests/x", ociManifest).with("Content-Type", mtDockerManifest).fails(400, "MANIFEST_INVALID"),
			putManifest("/v2/seed/img/manifests/x", dockerList).with("Content-Type", mtOCIIndex).fails(400, "MANIFEST_INVALID"),
			putManifest("/v2/seed/img/manifests/x", indexWithLayers).fails(400, "MANIFEST_INVALID"),
			get("/v2/seed/img/manifests/x").fails(404, "MANIFEST_UNKNOWN"),
		}},
		{name: "manifest references unknown content", steps: []step{
			putManifest("/v2/seed/img/manifests/x", missingConfigManifest).fails(400, "MANIFEST_BLOB_UNKNOWN"),
			func() step {
				s := putManifest("/v2/seed/img/manifests/x", missingConfigManifest).fails(400, "MANIFEST_BLOB_UNKNOWN")
				s.check = errorDetailDigest(unknownBlob.d.String())
				return s
			}(),
			putManifest("/v2/seed/img/manifests/x", missingLayerManifest).fails(400, "MANIFEST_BLOB_UNKNOWN"),
			putManifest("/v2/seed/img/manifests/x", otherRepoLayerManifest).fails(400, "MANIFEST_BLOB_UNKNOWN"),
			func() step {
				s := putManifest("/v2/seed/img/manifests/x", missingChildIndex).fails(400, "MANIFEST_BLOB_UNKNOWN")
				s.check = errorDetailDigest(unknownBlob.d.String())
				return s
			}(),
			putManifest("/v2/quay.io/org/img/manifests/x", dockerList).fails(400, "MANIFEST_BLOB_UNKNOWN"), // its children are in seed/img only
			get("/v2/seed/img/manifests/x").fails(404, "MANIFEST_UNKNOWN"),
		}},
		{name: "manifest content that need not be here", steps: []step{
			putManifest("/v2/seed/img/manifests/nondist", nonDistributableManifest).expect(201, pushed(nonDistributableManifest, "seed/img")),
			getManifest("/v2/seed/img/manifests/nondist", nonDistributableManifest),
			putManifest("/v2/seed/img/manifests/foreign", foreignLayerManifest).expect(201, pushed(foreignLayerManifest, "seed/img")),
			// A subject need not exist (yet).
			putManifest("/v2/seed/img/manifests/{unknown}", missingSubjectManifest).fails(400, "DIGEST_INVALID"),
			putManifest("/v2/seed/img/manifests/"+missingSubjectManifest.d.String(), missingSubjectManifest).expect(201, H{
				"OCI-Subject": unknownBlob.d.String(), "Docker-Content-Digest": missingSubjectManifest.d.String()}),
			{method: "GET", path: "/v2/seed/img/referrers/{unknown}", status: 200, wantJSON: referrersJSON(referrerDesc(missingSubjectManifest, artifactSig, nil))},
		}},
		{name: "manifest too large", opts: Options{MaxManifestBytes: 1024}, steps: []step{
			putManifest("/v2/seed/img/manifests/big", bigManifest).fails(413, "SIZE_INVALID"),
			func() step {
				s := putManifest("/v2/seed/img/manifests/big", bigManifest)
				s.streamed = true
				return s.fails(413, "SIZE_INVALID")
			}(),
			get("/v2/seed/img/manifests/big").fails(404, "MANIFEST_UNKNOWN"),
			putManifest("/v2/seed/img/manifests/small", newOCIManifest).expect(201, nil),
		}},
		{name: "manifest at the default limit", steps: []step{
			putManifest("/v2/seed/img/manifests/big", bigManifest).expect(201, pushed(bigManifest, "seed/img")),
			req(http.MethodPut, "/v2/seed/img/manifests/huge", strings.Repeat(" ", 4<<20+1)).with("Content-Type", mtOCIManifest).fails(413, "SIZE_INVALID"),
		}},
		{name: "manifest put tag invalid", steps: []step{
			putManifest("/v2/seed/img/manifests/.bad", newOCIManifest).fails(400, "TAG_INVALID"),
			putManifest("/v2/seed/img/manifests/"+strings.Repeat("t", 129), newOCIManifest).fails(400, "TAG_INVALID"),
		}},

		// Referrers.
		{name: "referrers", steps: []step{
			{method: "GET", path: "/v2/seed/img/referrers/{oci}", status: 200, want: H{"Content-Type": mtOCIIndex, "OCI-Filters-Applied": ""},
				wantJSON: referrersJSON(sigDesc, sbomDesc)},
			{method: "GET", path: "/v2/docker.io/seed/img/referrers/{oci}", status: 200, wantJSON: referrersJSON(sigDesc, sbomDesc)},
			{method: "GET", path: "/v2/seed/img/referrers/{oci}?artifactType=" + artifactSig, status: 200,
				want: H{"OCI-Filters-Applied": "artifactType"}, wantJSON: referrersJSON(sigDesc)},
			{method: "GET", path: "/v2/seed/img/referrers/{oci}?artifactType=" + url.QueryEscape(sbomConfig), status: 200,
				want: H{"OCI-Filters-Applied": "artifactType"}, wantJSON: referrersJSON(sbomDesc)},
			{method: "GET", path: "/v2/seed/img/referrers/{oci}?artifactType=application/none", status: 200,
				want: H{"OCI-Filters-Applied": "artifactType"}, wantJSON: referrersJSON()},
			{method: "GET", path: "/v2/seed/img/referrers/{unknown}", status: 200, wantJSON: referrersJSON()},
			{method: "GET", path: "/v2/unknown/repo/referrers/{oci}", status: 200, wantJSON: referrersJSON()},
			{method: "GET", path: "/v2/other/img/referrers/{oci}", status: 200, wantJSON: referrersJSON()},
			head("/v2/seed/img/referrers/{oci}").expect(200, H{"Content-Type": mtOCIIndex}),
			get("/v2/seed/img/referrers/sha256:nope").fails(400, "DIGEST_INVALID"),
			get("/v2/seed/img/referrers/latest").fails(400, "DIGEST_INVALID"),
		}},
		{name: "referrers of a pushed index", steps: []step{
			putManifest("/v2/seed/img/manifests/"+indexReferrer.d.String(), indexReferrer).expect(201, H{"OCI-Subject": "{oci}"}),
			{method: "GET", path: "/v2/seed/img/referrers/{oci}", status: 200, wantJSON: referrersJSON(sigDesc, sbomDesc, indexRefDesc)},
			{method: "GET", path: "/v2/seed/img/referrers/{oci}?artifactType=application/vnd.example.bundle", status: 200, wantJSON: referrersJSON(indexRefDesc)},
		}},

		// Deletes.
		{name: "delete manifest by digest", steps: []step{
			req(http.MethodDelete, "/v2/seed/img/manifests/{oci}", "").expect(202, nil),
			get("/v2/seed/img/manifests/{oci}").fails(404, "MANIFEST_UNKNOWN"),
			head("/v2/seed/img/manifests/v1").fails(404, "MANIFEST_UNKNOWN"), // its tag went with it
			{method: "GET", path: "/v2/seed/img/tags/list", status: 200, wantJSON: tagsJSON("seed/img", "docker", "index", "list")},
			getManifest("/v2/quay.io/org/img/manifests/latest", ociManifest), // other repositories keep theirs
			req(http.MethodDelete, "/v2/seed/img/manifests/{oci}", "").fails(404, "MANIFEST_UNKNOWN"),
		}},
		{name: "delete referrer", steps: []step{
			req(http.MethodDelete, "/v2/seed/img/manifests/{sig}", "").expect(202, nil),
			{method: "GET", path: "/v2/seed/img/referrers/{oci}", status: 200, wantJSON: referrersJSON(sbomDesc)},
			req(http.MethodDelete, "/v2/seed/img/manifests/{sbom}", "").expect(202, nil),
			{method: "GET", path: "/v2/seed/img/referrers/{oci}", status: 200, wantJSON: referrersJSON()},
		}},
		{name: "delete tag", steps: []step{
			req(http.MethodDelete, "/v2/seed/img/manifests/v1", "").expect(202, nil),
			get("/v2/seed/img/manifests/v1").fails(404, "MANIFEST_UNKNOWN"),
			getManifest("/v2/seed/img/manifests/{oci}", ociManifest),
			{method: "GET", path: "/v2/seed/img/tags/list", status: 200, wantJSON: tagsJSON("seed/img", "docker", "index", "list")},
			req(http.MethodDelete, "/v2/seed/img/manifests/v1", "").fails(404, "MANIFEST_UNKNOWN"),
			req(http.MethodDelete, "/v2/seed/img/manifests/bad!", "").fails(400, "TAG_INVALID"),
			req(http.MethodDelete, "/v2/seed/img/manifests/sha256:abc", "").fails(400, "DIGEST_INVALID"),
			req(http.MethodDelete, "/v2/seed/img/manifests/{unknown}", "").fails(404, "MANIFEST_UNKNOWN"),
		}},
		{name: "catalog lists repositories with manifests", steps: []step{
			req(http.MethodPost, "/v2/blobs/only/blobs/uploads/?digest={hello}", helloWorld).expect(201, nil),
			putManifest("/v2/localhost:5000/a/b/manifests/v1", noMediaTypeManifest).fails(400, "MANIFEST_BLOB_UNKNOWN"),
			req(http.MethodPost, "/v2/localhost:5000/a/b/blobs/uploads/?mount={config}", "").expect(201, nil),
			putManifest("/v2/localhost:5000/a/b/manifests/v1", noMediaTypeManifest).expect(201, nil),
			req(http.MethodDelete, "/v2/seed/img/manifests/v1", "").expect(202, nil), // seed/img still has manifests
			{method: "GET", path: "/v2/_catalog", status: 200, wantJSON: catalogJSON("library/alpine", "localhost:5000/a/b", "quay.io/org/img", "seed/img")},
		}},
	}
}

// Case names must be unique, or t.Run renames them and failures are hard to
// find.
func TestAPICaseNames(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, tc := range apiCases() {
		if seen[tc.name] {
			t.Errorf("two cases named %q", tc.name)
		}
		seen[tc.name] = true
		if len(tc.steps) == 0 {
			t.Errorf("case %q has no steps", tc.name)
		}
	}
}

// containerd's ?ns= names a registry host. A value that is a path must not
// move the request's repository out of its folder in storage: into another
// area (a buildset's, the upstream cache) or anywhere else under the root.
func TestNamespaceParameterCannotLeaveTheRepository(t *testing.T) {
	t.Parallel()
	reg := newTestRegistry(t, nil, Options{})
	ns := url.QueryEscape("../../build1/repos/quay.io")
	resp, err := http.Post(reg.srv.URL+"/v2/x/img/blobs/uploads/?ns="+ns+"&digest="+helloDigest.String(), "application/octet-stream", strings.NewReader(helloWorld))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("POST with ns=%s: status %d, want 400 NAME_INVALID", ns, resp.StatusCode)
	}
	build, err := reg.store.Repo("quay.io/x/img", "build1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := build.BlobStat(bg, helloDigest); err == nil {
		t.Errorf("a push to x/img with ns=%s wrote into area build1's quay.io/x/img", ns)
	}
}
