package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// abMirrorConf writes a registries.conf in which docker.io is mirrored at
// location (insecure), as Zuul's use-buildset-registry writes it, with
// docker.io for short names. When location ends in /docker.io, quay.io is
// mirrored the same way at …/quay.io.
func abMirrorConf(t *testing.T, location string) string {
	t.Helper()
	conf := filepath.Join(t.TempDir(), "registries.conf")
	text := `unqualified-search-registries = ["docker.io"]
short-name-mode = "permissive"
`
	locations := [][2]string{{"docker.io", location}}
	if base, ok := strings.CutSuffix(location, "/docker.io"); ok {
		locations = append(locations, [2]string{"quay.io", base + "/quay.io"})
	}
	for _, l := range locations {
		text += fmt.Sprintf(`
[[registry]]
prefix = %q
location = %q
[[registry.mirror]]
location = %q
insecure = true
`, l[0], l[0], l[1])
	}
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return conf
}

// abMirrorSkopeo is sk with a registries.conf mirroring docker.io at
// location, and an auth file holding creds (server → user, password).
// skopeo sends --creds only to the primary registry, never to mirrors:
// mirror credentials come from the auth file, as Zuul writes them.
func abMirrorSkopeo(t *testing.T, sk *skopeo, location string, creds map[string][2]string) *skopeo {
	t.Helper()
	authFile := filepath.Join(t.TempDir(), "auth.json")
	abWriteAuths(t, authFile, creds)
	policy := ""
	for i, a := range sk.global {
		if a == "--policy" && i+1 < len(sk.global) {
			policy = sk.global[i+1]
		}
	}
	env := append(append([]string{}, sk.env...), "REGISTRY_AUTH_FILE="+authFile)
	return &skopeo{t: t, env: env, global: []string{"--registries-conf", abMirrorConf(t, location), "--policy", policy}}
}

// TestBuildsetSkopeoPodmanMirror points skopeo and podman at a buildset by
// path, with a registries.conf mirror location
// 127.0.0.1:PORT/buildsets/<id>/docker.io: pulls of docker.io/org/app get
// the buildset's speculative image, not the shared area's, and another
// buildset's mirror gets that buildset's.
func TestBuildsetSkopeoPodmanMirror(t *testing.T) {
	t.Parallel()
	abRequireShadowreg(t)
	sk := newSkopeo(t)
	e := abBuildsetServer(t, "", "")
	x := e.admin.create("mirror-x", "--ttl", "1h")
	e.admin.create("mirror-y", "--ttl", "1h")
	shared, imgX, imgY, short := abImg(t, 1101), abImg(t, 1102), abImg(t, 1103), abImg(t, 1104)
	e.zuul.pushContent("docker.io/org/app", "latest", shared)
	dX := e.zuul.pushContent("buildsets/mirror-x/docker.io/org/app", "latest", imgX)
	dY := e.zuul.pushContent("buildsets/mirror-y/docker.io/org/app", "latest", imgY)
	dShort := e.zuul.pushContent("buildsets/mirror-x/docker.io/library/app", "latest", short)
	dQuay := e.zuul.pushContent("buildsets/mirror-x/quay.io/org/img", "tag", abImg(t, 1105))
	zuulCreds := map[string][2]string{e.srv.Addr: {abZuulUser, abZuulPass}}

	t.Run("skopeo", func(t *testing.T) {
		for _, tc := range []struct{ id, want string }{{"mirror-x", dX}, {"mirror-y", dY}} {
			s := abMirrorSkopeo(t, sk, e.srv.Addr+"/buildsets/"+tc.id+"/docker.io", zuulCreds)
			s.t = t
			if got := sha256Digest([]byte(s.run("inspect", "--raw", "docker://docker.io/org/app:latest"))); got != tc.want {
				t.Errorf("skopeo through the %s mirror: docker.io/org/app:latest = %s, want %s", tc.id, got, tc.want)
			}
		}
		s := abMirrorSkopeo(t, sk, e.srv.Addr+"/buildsets/mirror-x/docker.io", zuulCreds)
		s.t = t
		// Another namespace: quay.io mirrored at …/buildsets/mirror-x/quay.io.
		if got := sha256Digest([]byte(s.run("inspect", "--raw", "docker://quay.io/org/img:tag"))); got != dQuay {
			t.Errorf("skopeo through the mirror-x quay.io mirror: quay.io/org/img:tag = %s, want %s", got, dQuay)
		}
		// dir: keeps the Docker media types (oci: would convert them).
		out := filepath.Join(t.TempDir(), "out")
		s.run("copy", "docker://docker.io/org/app:latest", "dir:"+out)
		if got, _ := hashFile(t, filepath.Join(out, "manifest.json")); got != dX {
			t.Errorf("skopeo copy through the mirror-x mirror: manifest %s, want %s", got, dX)
		}
		for d := range collectContent(t, imgX).Blobs {
			if got, _ := hashFile(t, filepath.Join(out, strings.TrimPrefix(d, "sha256:"))); got != d {
				t.Errorf("skopeo copy through the mirror-x mirror: blob %s hashes to %s", d, got)
			}
		}
	})

	t.Run("podman", func(t *testing.T) {
		env := clientEnv(t)
		env = append(env, "CONTAINERS_REGISTRIES_CONF="+abMirrorConf(t, e.srv.Addr+"/buildsets/mirror-x/docker.io"))
		// The buildset's own credentials, in podman's auth file.
		abWriteAuths(t, abEnvValue(env, "REGISTRY_AUTH_FILE"), map[string][2]string{e.srv.Addr: {x.Username, x.Password}})
		podman := abPodman(t, env)
		for _, tc := range []struct {
			ref, wantID, wantDigest string
		}{
			{"docker.io/org/app:latest", abConfigID(t, imgX), dX},
			{"app", abConfigID(t, short), dShort}, // a short name, via docker.io
		} {
			r := podman("pull", "--quiet", "--arch", "amd64", "--os", "linux", tc.ref)
			if r.Err != nil {
				t.Errorf("podman pull %s through the buildset mirror: %v\n%s", tc.ref, r.Err, clip(r.Stderr))
				continue
			}
			if id := strings.TrimSpace(r.Stdout); id != tc.wantID {
				t.Errorf("podman pull %s: image ID %s, want %s (the buildset's)", tc.ref, id, tc.wantID)
			}
			if d := strings.TrimSpace(podman("image", "inspect", "--format", "{{.Digest}}", tc.ref).Stdout); d != tc.wantDigest {
				t.Errorf("podman image inspect %s: digest %s, want %s", tc.ref, d, tc.wantDigest)
			}
		}
	})
}

// TestBuildsetDockerMirror runs a real dockerd whose registry-mirrors is
// the registry, without any path: a docker client whose config.json holds a
// buildset's credentials as docker.io's ("https://index.docker.io/v1/")
// pulls org/app and app from that buildset, a second client with a second
// buildset's credentials gets that one's image, and a client without
// credentials the shared area's. The server log shows the mirror requests
// carry no prefix. docker login with the buildset's credentials, then
// docker push without a prefix, lands in that buildset.
func TestBuildsetDockerMirror(t *testing.T) {
	t.Parallel()
	abRequireShadowreg(t)
	cfg := abAuthYAML("read", abUser{Name: abZuulUser, Password: abZuulPass, Access: "write"}) + "log: {level: debug}\n"
	srv, _ := abStart(t, cfg, "")
	admin := newABAdmin(t, srv, abZuulUser, abZuulPass)
	zuul := abClient(t, srv.URL, abZuulUser, abZuulPass, "")
	b1 := admin.create("docker-1", "--ttl", "1h")
	b2 := admin.create("docker-2", "--ttl", "1h")
	shared, img1, img2, short1 := abImg(t, 1201), abImg(t, 1202), abImg(t, 1203), abImg(t, 1204)
	zuul.pushContent("docker.io/org/app", "latest", shared)
	d1 := zuul.pushContent("buildsets/docker-1/docker.io/org/app", "latest", img1)
	d2 := zuul.pushContent("buildsets/docker-2/docker.io/org/app", "latest", img2)
	zuul.pushContent("buildsets/docker-1/docker.io/library/app", "latest", short1)

	base := startDockerd(t, srv)
	client := func(b *abBuildset) []string {
		dir := t.TempDir()
		if b != nil {
			// docker login with no server would go to Docker Hub itself.
			abWriteAuths(t, filepath.Join(dir, "config.json"), map[string][2]string{"https://index.docker.io/v1/": {b.Username, b.Password}})
		}
		return append(append([]string{}, base...), "DOCKER_CONFIG="+dir)
	}
	pull := func(env []string, ref, wantID, wantDigest, who string) {
		t.Helper()
		r := tryTool(t, clientTimeout, env, "docker", "pull", ref)
		if r.Err != nil {
			t.Errorf("%s: docker pull %s: %v\n%s%s", who, ref, r.Err, r.Stdout, clip(r.Stderr))
			return
		}
		if !strings.Contains(r.Stdout, wantDigest) {
			t.Errorf("%s: docker pull %s printed\n%s\nwant digest %s", who, ref, r.Stdout, wantDigest)
		}
		id := strings.TrimSpace(runTool(t, clientTimeout, env, "docker", "image", "inspect", "--format", "{{.Id}}", ref))
		if id != "sha256:"+wantID {
			t.Errorf("%s: docker pull %s: image ID %s, want sha256:%s", who, ref, id, wantID)
		}
	}
	env1, env2, env0 := client(&b1), client(&b2), client(nil)
	pull(env1, "org/app", abConfigID(t, img1), d1, "buildset docker-1's client")
	pull(env1, "app", abConfigID(t, short1), "", "buildset docker-1's client")
	pull(env2, "org/app", abConfigID(t, img2), d2, "buildset docker-2's client")
	pull(env0, "org/app", abConfigID(t, shared), "", "a client without credentials (anonymous read)")
	pull(env1, "org/app", abConfigID(t, img1), d1, "buildset docker-1's client, again")

	// docker login with the buildset's credentials to the registry itself:
	// a push without any prefix lands in the buildset, not the shared area.
	envP := client(nil)
	runTool(t, clientTimeout, envP, "docker", "login", srv.Addr, "-u", b1.Username, "-p", b1.Password)
	pushed := srv.Ref("org/pushed:1")
	runTool(t, clientTimeout, envP, "docker", "tag", "org/app", pushed)
	out := runTool(t, clientTimeout, envP, "docker", "push", pushed)
	i := strings.Index(out, "digest: sha256:")
	if i < 0 {
		t.Fatalf("docker push printed no digest:\n%s", out)
	}
	// docker writes its own manifest: its digest, not necessarily d1.
	pushedDigest := strings.Fields(out[i+len("digest: "):])[0]
	abExpect(t, zuul, "buildsets/docker-1/docker.io/org/pushed", "1", pushedDigest, "docker push with buildset docker-1's login")
	abExpect(t, zuul, "docker.io/org/pushed", "1", "404", "a buildset's docker push is not in the shared area")
	abExpect(t, zuul, "buildsets/docker-2/docker.io/org/pushed", "1", "404", "nor in another buildset")

	// docker asked for the names without any prefix: the mirror path.
	logs := srv.Logs()
	for _, p := range []string{"/v2/org/app/manifests/latest", "/v2/library/app/manifests/latest"} {
		if !regexp.MustCompile(`path=` + regexp.QuoteMeta(p) + ` status=200`).MatchString(logs) {
			t.Errorf("the server log (debug) shows no successful mirror request %s", p)
		}
	}
}
