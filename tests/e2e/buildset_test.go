package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// The buildset tests run shadowreg with auth on (user zuul may write) and
// drive buildsets with the shadowreg command line, as Zuul would.
const (
	abZuulUser = "zuul"
	abZuulPass = "zuul-buildset-pass"
)

// abBuildsetEnv is one shadowreg with auth and buildsets, its admin CLI,
// and an HTTP client authorized as zuul.
type abBuildsetEnv struct {
	srv   *Server
	cfg   string // the config file
	admin *abAdmin
	zuul  *regClient
}

// abBuildsetServer starts shadowreg for buildset tests. upstream, when not
// empty, is docker.io's upstream URL. extra is more YAML (buildsets:, gc:).
func abBuildsetServer(t *testing.T, upstream, extra string) *abBuildsetEnv {
	t.Helper()
	cfg := abAuthYAML("none", abUser{Name: abZuulUser, Password: abZuulPass, Access: "write"})
	if upstream != "" {
		cfg += fmt.Sprintf("upstreams:\n  docker.io: {url: %q}\n", upstream)
	}
	cfg += extra
	srv, cfgPath := abStart(t, cfg, "")
	return &abBuildsetEnv{
		srv:   srv,
		cfg:   cfgPath,
		admin: newABAdmin(t, srv, abZuulUser, abZuulPass),
		zuul:  abClient(t, srv.URL, abZuulUser, abZuulPass, ""),
	}
}

// abDigestOf GETs repo:ref and returns the manifest's digest, or "404" /
// the status when there is none.
func abDigestOf(rc *regClient, repo, ref string) string {
	rc.t.Helper()
	r := rc.getManifest(repo, ref)
	if r.Status != http.StatusOK {
		return strconv.Itoa(r.Status)
	}
	return sha256Digest(r.Body)
}

// abExpect checks that repo:ref resolves to the manifest digest want ("404"
// for not found).
func abExpect(t *testing.T, rc *regClient, repo, ref, want, why string) {
	t.Helper()
	if got := abDigestOf(rc, repo, ref); got != want {
		t.Errorf("%s: GET %s:%s = %s, want %s", why, repo, ref, got, want)
	}
}

// abImg makes a small Docker-format image for linux/amd64.
func abImg(t *testing.T, seed int64) v1.Image {
	return newImage(t, formatDocker, 1, 16<<10, "linux/amd64", seed)
}

// TestBuildsetIsolationParentsAndFallThrough: two buildsets do not see each
// other's images; a child sees its parent's, including what the parent
// pushes after the child was created and a tag it re-pushes; pushes stay
// in their buildset (not in the shared area); after the parent is deleted
// the child falls through to the shared area and to the upstream.
func TestBuildsetIsolationParentsAndFallThrough(t *testing.T) {
	t.Parallel()
	abRequireShadowreg(t)
	upURL, up := abUpstream(t)
	upApp := up.pushContent("org/app", "1", abImg(t, 1001))
	e := abBuildsetServer(t, upURL, "")
	zuul := e.zuul

	shared := zuul.pushContent("docker.io/org/tool", "1", abImg(t, 1002)) // the shared area
	e.admin.create("bs-a", "--ttl", "1h")
	e.admin.create("bs-b", "--ttl", "1h")
	e.admin.create("bs-c", "--ttl", "1h", "--parent", "bs-a")

	aApp := zuul.pushContent("buildsets/bs-a/docker.io/org/app", "1", abImg(t, 1011))
	aTool := zuul.pushContent("buildsets/bs-a/org/tool", "1", abImg(t, 1012))
	aOnly := zuul.pushContent("buildsets/bs-a/docker.io/org/only-a", "1", abImg(t, 1013))
	bApp := zuul.pushContent("buildsets/bs-b/docker.io/org/app", "1", abImg(t, 1021))

	// Isolation.
	abExpect(t, zuul, "buildsets/bs-a/docker.io/org/app", "1", aApp, "bs-a its own")
	abExpect(t, zuul, "buildsets/bs-b/docker.io/org/app", "1", bApp, "bs-b its own, not bs-a's")
	abExpect(t, zuul, "buildsets/bs-b/docker.io/org/only-a", "1", "404", "bs-b must not see bs-a's image")
	abExpect(t, zuul, "buildsets/bs-b/docker.io/org/tool", "1", shared, "bs-b falls through to the shared area")
	// Writes stay in the buildset: outside it, the shared area and upstream.
	abExpect(t, zuul, "docker.io/org/only-a", "1", "404", "a buildset's push is not in the shared area")
	abExpect(t, zuul, "docker.io/org/app", "1", upApp, "outside buildsets, org/app comes from upstream")
	abExpect(t, zuul, "docker.io/org/tool", "1", shared, "the shared area")

	// The child sees its parent's images (blobs too), under the name with
	// or without docker.io.
	abExpect(t, zuul, "buildsets/bs-c/docker.io/org/app", "1", aApp, "bs-c sees its parent bs-a's image")
	abExpect(t, zuul, "buildsets/bs-c/org/app", "1", aApp, "bs-c, name without docker.io")
	abExpect(t, zuul, "buildsets/bs-c/docker.io/org/tool", "1", aTool, "the parent shadows the shared area")
	abExpect(t, zuul, "buildsets/bs-c/docker.io/org/only-a", "1", aOnly, "bs-c sees bs-a's only-a")
	zuul.expectContent("buildsets/bs-c/docker.io/org/app", collectContent(t, abImg(t, 1011)))

	// The parent's LATER pushes: a new image, and a tag pushed again.
	aLater := zuul.pushContent("buildsets/bs-a/docker.io/org/later", "1", abImg(t, 1014))
	aApp2 := zuul.pushContent("buildsets/bs-a/docker.io/org/app", "1", abImg(t, 1015))
	abExpect(t, zuul, "buildsets/bs-c/docker.io/org/later", "1", aLater, "bs-c sees what bs-a pushed after bs-c was created")
	abExpect(t, zuul, "buildsets/bs-c/docker.io/org/app", "1", aApp2, "bs-c sees bs-a's re-pushed tag at once")

	// A push into a buildset that does not exist (implicit: false).
	if r := zuul.must("POST", "/v2/buildsets/nope/docker.io/org/app/blobs/uploads/", nil, nil); r.Status != http.StatusNotFound || errorCode(r.Body) != "NAME_UNKNOWN" {
		t.Errorf("push into a buildset that was never created: %s, want 404 NAME_UNKNOWN", r)
	}

	// Delete the parent: the child falls through to the shared area and
	// upstream.
	if out := e.admin.run("buildset", "delete", "bs-a"); !strings.Contains(out, "deleted buildset bs-a") {
		t.Errorf("buildset delete printed %q", out)
	}
	abExpect(t, zuul, "buildsets/bs-a/docker.io/org/app", "1", "404", "the deleted buildset")
	abExpect(t, zuul, "buildsets/bs-c/docker.io/org/app", "1", upApp, "after bs-a is deleted, bs-c falls through to upstream")
	abExpect(t, zuul, "buildsets/bs-c/docker.io/org/tool", "1", shared, "after bs-a is deleted, bs-c falls through to the shared area")
	abExpect(t, zuul, "buildsets/bs-c/docker.io/org/later", "1", "404", "bs-a's image is gone for bs-c")
	zuul.expectContent("buildsets/bs-c/docker.io/org/app", collectContent(t, abImg(t, 1001)))

	// A new, unrelated buildset under the deleted parent's id is not bs-c's
	// parent.
	e.admin.create("bs-a", "--ttl", "1h")
	zuul.pushContent("buildsets/bs-a/docker.io/org/app", "1", abImg(t, 1016))
	abExpect(t, zuul, "buildsets/bs-c/docker.io/org/app", "1", upApp, "a recreated bs-a is not bs-c's parent")
	e.admin.run("buildset", "delete", "bs-a")
	if r := e.admin.try("buildset", "create", "bs-d", "--parent", "no-such-buildset"); r.Err == nil {
		t.Errorf("buildset create with a parent that does not exist succeeded: %s", r.Stdout)
	}

	var ids []string
	for _, b := range e.admin.list() {
		ids = append(ids, b.ID)
		if b.ID == "bs-c" && !slices.Equal(b.Parents, []string{"bs-a"}) {
			t.Errorf("list: bs-c parents %v, want [bs-a] (as created)", b.Parents)
		}
	}
	if !slices.Equal(ids, []string{"bs-b", "bs-c"}) {
		t.Errorf("buildset list after deleting bs-a: %v, want [bs-b bs-c]", ids)
	}
}

// TestBuildsetListShowPromote: list (text and -o json) shows each
// buildset's size, quota, age, expiry and parents; show lists the areas
// reads fall through; the buildset's own credentials address it without a
// prefix and may not create or promote; promote makes the images visible in
// the shared area without adding a single file under <data>/blobs.
func TestBuildsetListShowPromote(t *testing.T) {
	t.Parallel()
	abRequireShadowreg(t)
	e := abBuildsetServer(t, "", "gc: {grace: 1s}\n")
	zuul := e.zuul

	start := time.Now()
	p := e.admin.create("promo-p", "--ttl", "6h", "--quota", "20GiB")
	e.admin.create("promo-q", "--parent", "promo-p", "--ttl", "never")
	img := newImage(t, formatOCI, 2, 64<<10, "linux/amd64", 1031)
	cs := collectContent(t, img)
	dg := zuul.pushContent("buildsets/promo-p/docker.io/org/promo", "1", img)
	var content int64
	for _, n := range cs.Blobs {
		content += n
	}
	content += int64(len(rawManifest(t, img)))

	all := e.admin.list()
	if len(all) != 2 {
		t.Fatalf("buildset list -o json: %d buildsets, want 2: %+v", len(all), all)
	}
	bp, bq := all[0], all[1]
	if bp.ID != "promo-p" || bq.ID != "promo-q" {
		t.Fatalf("buildset list -o json: ids %s, %s; want promo-p, promo-q", bp.ID, bq.ID)
	}
	if bp.Size < content-int64(len(rawManifest(t, img))) || bp.Size > content+4096 {
		t.Errorf("promo-p size %d, want about %d (its image's blobs and manifest)", bp.Size, content)
	}
	if bq.Size != 0 {
		t.Errorf("promo-q size %d, want 0: it names nothing of its own", bq.Size)
	}
	if bp.Quota != 20<<30 {
		t.Errorf("promo-p quota %d, want %d (20GiB)", bp.Quota, int64(20<<30))
	}
	if bp.AgeSecs < 0 || bp.AgeSecs > int64(time.Since(start)/time.Second)+1 {
		t.Errorf("promo-p age %ds, want between 0 and %v", bp.AgeSecs, time.Since(start))
	}
	if bp.Expires == nil || bp.Expires.Sub(bp.Created) != 6*time.Hour {
		t.Errorf("promo-p created %v expires %v, want 6h later", bp.Created, bp.Expires)
	}
	if bq.Expires != nil {
		t.Errorf("promo-q (--ttl never) expires %v, want never", bq.Expires)
	}
	if len(bp.Parents) != 0 || !slices.Equal(bq.Parents, []string{"promo-p"}) {
		t.Errorf("parents: promo-p %v, promo-q %v; want [] and [promo-p]", bp.Parents, bq.Parents)
	}
	text := e.admin.run("buildset", "list")
	t.Logf("buildset list:\n%s", text)
	for _, want := range []string{"ID", "SIZE", "QUOTA", "AGE", "EXPIRES IN", "PARENTS", "promo-p", "promo-q", "20.0 GiB", "never"} {
		if !strings.Contains(text, want) {
			t.Errorf("buildset list (text) lacks %q", want)
		}
	}
	if !regexp.MustCompile(`promo-p\s.*\s(6h0m0s|5h59m0s)\s`).MatchString(text) {
		t.Errorf("buildset list (text): promo-p's expiry is not about 6h")
	}

	var show abBuildset
	if err := json.Unmarshal([]byte(e.admin.run("buildset", "show", "promo-q")), &show); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(show.Areas, []string{"bs.promo-q", "bs.promo-p", "shared"}) {
		t.Errorf("buildset show promo-q: areas %v, want [bs.promo-q bs.promo-p shared]", show.Areas)
	}

	// create's text output, and --password instead of SHADOWREG_PASSWORD.
	text = abCLI(t, nil, "buildset", "create", "promo-t", "--ttl", "1h", "--server", e.srv.URL, "--username", abZuulUser, "--password", abZuulPass)
	m := regexp.MustCompile(`(?m)^created buildset promo-t, expires .*\nusername: (buildset-promo-t)\npassword: (\S+)$`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("buildset create (text) printed %q; want the buildset, its expiry, username and password", text)
	}
	tCreds := abClient(t, e.srv.URL, m[1], m[2], "")
	abExpect(t, tCreds, "org/promo", "1", "404", "promo-t's credentials (its own, empty, buildset)")
	// A buildset's credentials may delete their own buildset, not collect.
	tAdmin := newABAdmin(t, e.srv, m[1], m[2])
	if r := tAdmin.try("prune", "--dry-run"); r.Err == nil || !strings.Contains(r.Stderr, "DENIED") {
		t.Errorf("prune with a buildset's credentials: err %v, %q; want DENIED", r.Err, r.Stderr)
	}
	tAdmin.run("buildset", "delete", "promo-t")
	if r := tCreds.getManifest("org/promo", "1"); r.Status != http.StatusUnauthorized {
		t.Errorf("the credentials of a deleted buildset: GET = %s, want 401", r)
	}

	// The buildset's credentials: its images without a prefix (docker's
	// mirror path); they cannot create buildsets nor promote.
	own := abClient(t, e.srv.URL, p.Username, p.Password, "")
	abExpect(t, own, "org/promo", "1", dg, "promo-p's credentials, no prefix")
	if r := own.must("GET", "/v2/_catalog", nil, nil); r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"org/promo"`) {
		t.Errorf("GET /v2/_catalog with promo-p's credentials: %s, want org/promo listed", r)
	}
	abExpect(t, zuul, "org/promo", "1", "404", "not promoted yet: not in the shared area")
	bsAdmin := newABAdmin(t, e.srv, p.Username, p.Password)
	if r := bsAdmin.try("buildset", "create", "by-a-job"); r.Err == nil || !strings.Contains(r.Stderr, "DENIED") {
		t.Errorf("buildset create with a buildset's credentials: err %v, %q; want DENIED", r.Err, r.Stderr)
	}
	if r := bsAdmin.try("buildset", "promote", "promo-p"); r.Err == nil || !strings.Contains(r.Stderr, "DENIED") {
		t.Errorf("buildset promote with the buildset's own credentials: err %v, %q; want DENIED", r.Err, r.Stderr)
	}

	// Promote: by reference, no blob files added.
	blobsDir := filepath.Join(e.srv.DataDir, "blobs")
	filesBefore, bytesBefore := abDirStats(t, blobsDir)
	out := e.admin.run("buildset", "promote", "promo-p")
	filesAfter, bytesAfter := abDirStats(t, blobsDir)
	t.Logf("promote: %s; <data>/blobs: %d files (%d bytes) before, %d files (%d bytes) after",
		strings.TrimSpace(out), filesBefore, bytesBefore, filesAfter, bytesAfter)
	if filesAfter != filesBefore || bytesAfter != bytesBefore {
		t.Errorf("promote added content under <data>/blobs: %d→%d files, %d→%d bytes", filesBefore, filesAfter, bytesBefore, bytesAfter)
	}
	abExpect(t, zuul, "org/promo", "1", dg, "promoted: in the shared area")
	abExpect(t, zuul, "docker.io/org/promo", "1", dg, "promoted: in the shared area (docker.io/…)")
	zuul.expectContent("docker.io/org/promo", cs)
	for _, b := range e.admin.list() {
		if b.ID == "promo-p" && (b.Promoted == nil || b.Promoted.Before(start.Add(-time.Minute))) {
			t.Errorf("list after promote: promo-p promoted %v, want a time", b.Promoted)
		}
	}
}

// abTryPush pushes a single-image manifest and its blobs, returning errors
// instead of failing the test.
func abTryPush(rc *regClient, repo, tag string, img v1.Image) (string, error) {
	cfg, err := img.RawConfigFile()
	if err != nil {
		return "", err
	}
	if _, err := rc.tryPushBlob(repo, cfg); err != nil {
		return "", err
	}
	layers, err := img.Layers()
	if err != nil {
		return "", err
	}
	for _, l := range layers {
		r, err := l.Compressed()
		if err != nil {
			return "", err
		}
		b, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			return "", err
		}
		if _, err := rc.tryPushBlob(repo, b); err != nil {
			return "", err
		}
	}
	raw, err := img.RawManifest()
	if err != nil {
		return "", err
	}
	mt, _ := img.MediaType()
	resp, err := rc.putManifest(repo, tag, string(mt), raw)
	if err != nil {
		return "", err
	}
	if resp.Status != http.StatusCreated {
		return "", fmt.Errorf("PUT manifest %s:%s: %s", repo, tag, resp)
	}
	return sha256Digest(raw), nil
}

// TestBuildsetExpiry: a buildset created with --ttl 2s answers 404 once it
// has expired, shows as expired, and `prune` deletes it: its area and
// metadata are gone and its content is freed.
func TestBuildsetExpiry(t *testing.T) {
	t.Parallel()
	abRequireShadowreg(t)
	e := abBuildsetServer(t, "", "gc: {grace: 1s, interval: 0s}\n")
	img := newImage(t, formatOCI, 2, 100<<10, "linux/amd64", 1041)
	cs := collectContent(t, img)
	// The push must land within the 2 seconds: on a slow machine (or a
	// -race build) a try may expire first; then try again, the last time
	// with more time.
	var (
		created time.Time
		dg      string
		id      string
	)
	for i, ttl := range []string{"2s", "2s", "6s"} {
		id = fmt.Sprintf("short-lived-%d", i)
		created = time.Now()
		b := e.admin.create(id, "--ttl", ttl)
		if d, _ := time.ParseDuration(ttl); b.Expires == nil || b.Expires.Sub(b.Created) != d {
			t.Errorf("created %v expires %v, want %s later", b.Created, b.Expires, ttl)
		}
		var err error
		if dg, err = abTryPush(e.zuul, "buildsets/"+id+"/docker.io/org/exp", "1", img); err == nil {
			break
		}
		if !strings.Contains(err.Error(), "NAME_UNKNOWN") || i == 2 {
			t.Fatalf("push into %s: %v", id, err)
		}
		t.Logf("%s expired before its push was done (%v after create): trying again", id, time.Since(created))
	}
	if time.Since(created) < 1500*time.Millisecond {
		abExpect(t, e.zuul, "buildsets/"+id+"/docker.io/org/exp", "1", dg, "before expiry")
	}
	areaDir := filepath.Join(e.srv.DataDir, "areas", "bs."+id)
	if n, _ := abDirStats(t, areaDir); n == 0 {
		t.Fatalf("no files under %s after a push into the buildset: is the layout in README still right?", areaDir)
	}

	var r response
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if r = e.zuul.getManifest("buildsets/"+id+"/docker.io/org/exp", "1"); r.Status == http.StatusNotFound {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if r.Status != http.StatusNotFound {
		t.Fatalf("10s after --ttl 2s: GET the buildset's image: %s, want 404", r)
	}
	t.Logf("expired %v after creation: %s", time.Since(created).Round(100*time.Millisecond), r)
	if s := e.admin.try("buildset", "show", id); s.Err == nil {
		t.Logf("buildset show of an expired buildset: %s", s.Stdout)
	}
	found := false
	for _, x := range e.admin.list() {
		if x.ID == id {
			found = true
			if !x.Expired {
				t.Errorf("list: %s not marked expired: %+v", id, x)
			}
		}
	}
	if !found {
		t.Errorf("list: the expired (not yet collected) buildset is missing")
	}
	time.Sleep(1100 * time.Millisecond) // gc.grace: 1s

	dry := abParsePrune(t, e.admin.run("prune", "--dry-run", "-o", "json"))
	if n, _ := abDirStats(t, areaDir); n == 0 {
		t.Errorf("prune --dry-run deleted the expired buildset's area")
	}
	rep := abParsePrune(t, e.admin.run("prune", "-o", "json"))
	t.Logf("prune after expiry: %+v (--dry-run: %+v)", rep, dry)
	if dry.FreedBytes != rep.FreedBytes || !slices.Equal(dry.Areas, rep.Areas) {
		t.Errorf("prune --dry-run reported %d bytes and areas %v, prune freed %d bytes and areas %v", dry.FreedBytes, dry.Areas, rep.FreedBytes, rep.Areas)
	}
	if !slices.Contains(rep.Areas, "bs."+id) {
		t.Errorf("prune: areas %v, want bs.%s", rep.Areas, id)
	}
	var content int64
	for _, n := range cs.Blobs {
		content += n
	}
	if rep.FreedBytes < content {
		t.Errorf("prune freed %d bytes, want at least the expired buildset's %d bytes of blobs", rep.FreedBytes, content)
	}
	if _, err := os.Stat(areaDir); !os.IsNotExist(err) {
		t.Errorf("after prune, %s still exists (%v)", areaDir, err)
	}
	if _, err := os.Stat(filepath.Join(e.srv.DataDir, "buildsets", id)); !os.IsNotExist(err) {
		t.Errorf("after prune, the buildset's metadata still exists (%v)", err)
	}
	for _, x := range e.admin.list() {
		if x.ID == id {
			t.Errorf("list after prune still shows %s", id)
		}
	}
	cfgName, _ := img.ConfigName()
	if r := e.zuul.getBlob("buildsets/"+id+"/docker.io/org/exp", cfgName.String()); r.Status != http.StatusNotFound {
		t.Errorf("after prune, a blob of the expired buildset: %s, want 404", r)
	}
}

// TestBuildsetQuota: a push that would take a buildset past --quota is
// refused with DENIED, and the client's error carries the bytes used and
// allowed; what fits is accepted.
func TestBuildsetQuota(t *testing.T) {
	t.Parallel()
	abRequireShadowreg(t)
	sk := newSkopeo(t)
	e := abBuildsetServer(t, "", "")
	e.admin.create("quota-q", "--quota", "1MiB")

	small := newImage(t, formatOCI, 1, 100<<10, "linux/amd64", 1051)
	big := newImage(t, formatOCI, 2, 600<<10, "linux/amd64", 1052)
	src := filepath.Join(t.TempDir(), "src")
	writeLayout(t, src, map[string]any{"small": small, "big": big})
	creds := abZuulUser + ":" + abZuulPass
	sk.run("copy", "--dest-tls-verify=false", "--dest-creds", creds, "oci:"+src+":small", "docker://"+e.srv.Ref("buildsets/quota-q/docker.io/org/small:1"))
	abExpect(t, e.zuul, "buildsets/quota-q/docker.io/org/small", "1", manifestDigest(t, small), "within the quota")

	r := abSkopeoTry(t, sk, "copy", "--dest-tls-verify=false", "--dest-creds", creds, "oci:"+src+":big", "docker://"+e.srv.Ref("buildsets/quota-q/docker.io/org/big:1"))
	if r.Err == nil {
		t.Fatalf("skopeo pushed %d KiB into a buildset with a 1 MiB quota", 1200)
	}
	t.Logf("skopeo's error: %s", abLastLine(r))
	m := regexp.MustCompile(`denied: quota exceeded: (\d+) bytes used of (\d+) allowed; this would add (\d+)`).FindStringSubmatch(r.Stderr)
	if m == nil {
		t.Fatalf("skopeo's error does not say DENIED with the used and allowed bytes:\n%s", clip(r.Stderr))
	}
	used, _ := strconv.ParseInt(m[1], 10, 64)
	allowed, _ := strconv.ParseInt(m[2], 10, 64)
	adding, _ := strconv.ParseInt(m[3], 10, 64)
	if allowed != 1<<20 || used > allowed || used+adding <= allowed || used < 100<<10 {
		t.Errorf("quota error: used %d, allowed %d, adding %d; want allowed 1048576, used ≥ 100 KiB and used+adding > allowed", used, allowed, adding)
	}
	abExpect(t, e.zuul, "buildsets/quota-q/docker.io/org/big", "1", "404", "the refused image")

	// The registry's answer itself: 403 DENIED with the numbers as detail.
	blob := make([]byte, 1100<<10)
	for i := range blob {
		blob[i] = byte(i*7 + i>>10)
	}
	_, err := e.zuul.tryPushBlob("buildsets/quota-q/docker.io/org/raw", blob)
	if err == nil || !strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), `"code":"DENIED"`) ||
		!strings.Contains(err.Error(), `"allowed":1048576`) || !strings.Contains(err.Error(), `"used":`) {
		t.Errorf("pushing 1.1 MiB into the 1 MiB buildset: %v; want 403 DENIED with detail used/allowed", err)
	}
	for _, b := range e.admin.list() {
		if b.ID == "quota-q" && (b.Size > b.Quota || b.Quota != 1<<20) {
			t.Errorf("list: quota-q size %d, quota %d; want size ≤ quota = 1 MiB", b.Size, b.Quota)
		}
	}
}

// TestBuildsetImplicit: with buildsets.implicit: true (and a custom
// buildsets.prefix), the first push under <prefix>/<id>/ creates buildset
// <id> with buildsets.default-ttl.
func TestBuildsetImplicit(t *testing.T) {
	t.Parallel()
	abRequireShadowreg(t)
	sk := newSkopeo(t)
	e := abBuildsetServer(t, "", "buildsets: {prefix: speculative, implicit: true, default-ttl: 2h}\n")
	img := newImage(t, formatOCI, 1, 32<<10, "linux/amd64", 1061)
	src := filepath.Join(t.TempDir(), "src")
	writeLayout(t, src, map[string]any{"img": img})
	if all := e.admin.list(); len(all) != 0 {
		t.Fatalf("fresh registry lists buildsets: %+v", all)
	}
	sk.run("copy", "--dest-tls-verify=false", "--dest-creds", abZuulUser+":"+abZuulPass, "oci:"+src+":img",
		"docker://"+e.srv.Ref("speculative/auto-7/docker.io/org/app:1"))
	all := e.admin.list()
	if len(all) != 1 || all[0].ID != "auto-7" {
		t.Fatalf("after a push into speculative/auto-7/…, buildset list: %+v, want auto-7", all)
	}
	if b := all[0]; b.Expires == nil || b.Expires.Sub(b.Created) != 2*time.Hour || b.Size == 0 {
		t.Errorf("implicit buildset: created %v, expires %v, size %d; want default-ttl 2h and its content", b.Created, b.Expires, b.Size)
	}
	abExpect(t, e.zuul, "speculative/auto-7/docker.io/org/app", "1", manifestDigest(t, img), "the implicit buildset")
	abExpect(t, e.zuul, "docker.io/org/app", "1", "404", "not in the shared area")
	// A read does not create one.
	abExpect(t, e.zuul, "speculative/never-pushed/docker.io/org/app", "1", "404", "a read of an unknown buildset")
	if all := e.admin.list(); len(all) != 1 {
		t.Errorf("a read created a buildset: %+v", all)
	}
}

// TestGateQueue is a Zuul gate queue of three dependent changes A ← B ← C:
// each has a buildset (B's parent is A's, C's is B's) and pushes its own
// image with skopeo. A job of C, whose registries.conf mirror is C's
// buildset and whose auth.json holds C's credentials, resolves A's image,
// B's image and an upstream image without any copy (C's area stays empty,
// no blob files appear but the upstream image's); A's rebuilt image is seen
// at once. Then A merges: promoted and deleted; C still sees A's image,
// through the shared area.
func TestGateQueue(t *testing.T) {
	t.Parallel()
	abRequireShadowreg(t)
	sk := newSkopeo(t)
	upURL, up := abUpstream(t)
	python := newImage(t, formatOCI, 2, 48<<10, "linux/amd64", 1071)
	pyDigest := up.pushContent("library/python", "3", python)
	e := abBuildsetServer(t, upURL, "gc: {grace: 1s, interval: 0s}\n")
	e.admin.create("gate-a", "--ttl", "6h")
	e.admin.create("gate-b", "--ttl", "6h", "--parent", "gate-a")
	c := e.admin.create("gate-c", "--ttl", "6h", "--parent", "gate-b", "--quota", "20GiB")

	app := newImage(t, formatOCI, 2, 64<<10, "linux/amd64", 1072)
	app2 := newImage(t, formatOCI, 2, 64<<10, "linux/amd64", 1073)
	worker := newImage(t, formatOCI, 2, 64<<10, "linux/amd64", 1074)
	src := filepath.Join(t.TempDir(), "src")
	writeLayout(t, src, map[string]any{"app": app, "app2": app2, "worker": worker})
	push := func(name, buildset, repo string) {
		t.Helper()
		sk.run("copy", "--dest-tls-verify=false", "--dest-creds", abZuulUser+":"+abZuulPass,
			"oci:"+src+":"+name, "docker://"+e.srv.Ref("buildsets/"+buildset+"/docker.io/"+repo))
	}
	push("app", "gate-a", "org/app:latest")       // A's image job
	push("worker", "gate-b", "org/worker:latest") // B's image job

	// C's job: the mirror is C's buildset, C's credentials in auth.json.
	skc := abMirrorSkopeo(t, sk, e.srv.Addr+"/buildsets/gate-c/docker.io", map[string][2]string{e.srv.Addr: {c.Username, c.Password}})
	view := func(ref string) string {
		t.Helper()
		return sha256Digest([]byte(skc.run("inspect", "--raw", "docker://"+ref)))
	}
	blobsDir := filepath.Join(e.srv.DataDir, "blobs")
	filesBefore, _ := abDirStats(t, blobsDir)
	if got, want := view("docker.io/org/app:latest"), manifestDigest(t, app); got != want {
		t.Errorf("C's view of org/app:latest: %s, want A's %s", got, want)
	}
	if got, want := view("docker.io/org/worker:latest"), manifestDigest(t, worker); got != want {
		t.Errorf("C's view of org/worker:latest: %s, want B's %s", got, want)
	}
	if got := view("docker.io/library/python:3"); got != pyDigest {
		t.Errorf("C's view of library/python:3: %s, want upstream's %s", got, pyDigest)
	}
	out := filepath.Join(t.TempDir(), "out")
	skc.run("copy", "docker://docker.io/org/app:latest", "oci:"+out+":app")
	skc.run("copy", "docker://docker.io/org/worker:latest", "oci:"+out+":worker")
	skc.run("copy", "docker://docker.io/library/python:3", "oci:"+out+":python")
	verifyLayoutHas(t, out, "app", manifestDigest(t, app), collectContent(t, app))
	verifyLayoutHas(t, out, "worker", manifestDigest(t, worker), collectContent(t, worker))
	verifyLayoutHas(t, out, "python", pyDigest, collectContent(t, python))

	// Nothing copied: C's area holds nothing, and the only new content is
	// the upstream image, fetched and cached once.
	filesAfter, _ := abDirStats(t, blobsDir)
	pyFiles := len(collectContent(t, python).Blobs) + 1
	if n, _ := abDirStats(t, filepath.Join(e.srv.DataDir, "areas", "bs.gate-c")); n != 0 {
		t.Errorf("C's area holds %d files after C's job only read: something was copied into it", n)
	}
	if filesAfter-filesBefore != pyFiles {
		t.Errorf("<data>/blobs: %d files before C's job, %d after; want exactly the %d of the cached upstream image", filesBefore, filesAfter, pyFiles)
	}
	t.Logf("C's job read 3 images: <data>/blobs %d → %d files (the upstream image's %d)", filesBefore, filesAfter, pyFiles)

	// A is rebuilt (a new patchset): C sees it at once.
	push("app2", "gate-a", "org/app:latest")
	if got, want := view("docker.io/org/app:latest"), manifestDigest(t, app2); got != want {
		t.Errorf("C's view after A's rebuild: %s, want %s", got, want)
	}

	// A merges: promoted, then its buildset deleted.
	e.admin.run("buildset", "promote", "gate-a")
	e.admin.run("buildset", "delete", "gate-a")
	if got, want := view("docker.io/org/app:latest"), manifestDigest(t, app2); got != want {
		t.Errorf("C's view after A merged (promoted and deleted): %s, want A's %s through the shared area", got, want)
	}
	if got, want := view("docker.io/org/worker:latest"), manifestDigest(t, worker); got != want {
		t.Errorf("C's view of B's image after A merged: %s, want %s", got, want)
	}
	if got := view("docker.io/library/python:3"); got != pyDigest {
		t.Errorf("C's view of library/python:3 after A merged: %s, want %s", got, pyDigest)
	}
	var show abBuildset
	if err := json.Unmarshal([]byte(e.admin.run("buildset", "show", "gate-c")), &show); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(show.Areas, []string{"bs.gate-c", "bs.gate-b", "shared"}) {
		t.Errorf("gate-c's areas after A merged: %v, want [bs.gate-c bs.gate-b shared]", show.Areas)
	}
	abExpect(t, e.zuul, "docker.io/org/app", "latest", manifestDigest(t, app2), "A's image in the shared area")

	// A garbage collection now must keep what A's promotion references.
	time.Sleep(1100 * time.Millisecond) // gc.grace
	rep := abParsePrune(t, e.admin.run("prune", "-o", "json"))
	t.Logf("prune after A merged: %+v", rep)
	out2 := filepath.Join(t.TempDir(), "out2")
	skc.run("copy", "docker://docker.io/org/app:latest", "oci:"+out2+":app")
	verifyLayoutHas(t, out2, "app", manifestDigest(t, app2), collectContent(t, app2))

	// Zuul's older way, copying the images of the changes ahead into the
	// next buildset (pull-from-intermediate-registry), within one registry:
	// skopeo mounts the blobs across buildsets, no blob file is added.
	filesBefore, _ = abDirStats(t, blobsDir)
	sk.run("copy", "--src-tls-verify=false", "--dest-tls-verify=false", "--src-creds", abZuulUser+":"+abZuulPass,
		"--dest-creds", abZuulUser+":"+abZuulPass, "docker://"+e.srv.Ref("buildsets/gate-b/docker.io/org/worker:latest"),
		"docker://"+e.srv.Ref("buildsets/gate-c/docker.io/org/worker:copied"))
	filesAfter, _ = abDirStats(t, blobsDir)
	if filesAfter != filesBefore {
		t.Errorf("copying B's image into C's buildset added %d files under <data>/blobs, want 0 (mounts)", filesAfter-filesBefore)
	}
	abExpect(t, e.zuul, "buildsets/gate-c/docker.io/org/worker", "copied", manifestDigest(t, worker), "the copy in C's buildset")
	e.zuul.expectContent("buildsets/gate-c/docker.io/org/worker", collectContent(t, worker))
}
