package e2e

import (
	"regexp"
	"strings"
	"testing"
)

// TestTrustWithRealClients checks the trust model with real clients, as a
// CI job holds them:
//
//   - skopeo through a registries.conf mirror at buildsets/B with buildset
//     A's credentials (in its auth file, as Zuul writes them) cannot read B:
//     the registry refuses, and skopeo gets no image at all (the next
//     location, the real docker.io, is out of reach here), never B's;
//   - with C's credentials, C being B's child, it reads B's image, through
//     B's mirror and through C's (falling through to B);
//   - a user limited to team and buildsets/team-bs pushes library/alpine
//     into team-bs, then asks `shadowreg buildset promote team-bs`: refused
//     (it may not push the shared docker.io/library/alpine), and the shared
//     tag still names what it named.
func TestTrustWithRealClients(t *testing.T) {
	t.Parallel()
	abRequireShadowreg(t)
	cfg := abAuthYAML("none",
		abUser{Name: abZuulUser, Password: abZuulPass, Access: "write"},
		abUser{Name: "team", Password: "team-pass", Access: "write", Prefixes: []string{"team", "buildsets/team-bs"}})
	srv, _ := abStart(t, cfg, "")
	admin := newABAdmin(t, srv, abZuulUser, abZuulPass)
	zuul := abClient(t, srv.URL, abZuulUser, abZuulPass, "")
	a := admin.create("trust-a", "--ttl", "1h")
	admin.create("trust-b", "--ttl", "1h")
	c := admin.create("trust-c", "--ttl", "1h", "--parent", "trust-b")
	imgA, imgB := abImg(t, 2101), abImg(t, 2102)
	dA := zuul.pushContent("buildsets/trust-a/docker.io/org/app", "latest", imgA)
	dB := zuul.pushContent("buildsets/trust-b/docker.io/org/app", "latest", imgB)
	sk := newSkopeo(t)

	inspect := func(location string, who abBuildset) (string, toolResult) {
		t.Helper()
		s := abMirrorSkopeo(t, sk, srv.Addr+location, map[string][2]string{srv.Addr: {who.Username, who.Password}})
		r := tryTool(t, skopeoTimeout, s.env, "skopeo", append(append([]string{}, s.global...),
			"inspect", "--raw", "docker://docker.io/org/app:latest")...)
		if r.Err != nil {
			return "", r
		}
		return sha256Digest([]byte(r.Stdout)), r
	}
	if got, r := inspect("/buildsets/trust-b/docker.io", a); got != "" {
		t.Errorf("skopeo with buildset A's credentials through B's mirror read docker.io/org/app:latest = %s (B's is %s, A's %s)", got, dB, dA)
	} else if !strings.Contains(r.Stderr, "denied") && !strings.Contains(r.Stderr, "403") && !strings.Contains(r.Stderr, "unauthorized") {
		t.Errorf("skopeo with A's credentials through B's mirror failed, but not because access was refused:\n%s", clip(r.Stderr))
	}
	// The audit trail: who asked, for what, canonical, and the refusal
	// (skopeo uses the token flow: a token that grants nothing there, 401).
	refusedLine := regexp.MustCompile(`path=/v2/buildsets/trust-b/docker.io/org/app/manifests/latest status=40[13] .*user=buildset-trust-a area=bs.trust-b namespace=docker.io repository=org/app code=(UNAUTHORIZED|DENIED)`)
	if !refusedLine.MatchString(srv.Logs()) {
		t.Errorf("the server log has no line showing buildset-trust-a refused on bs.trust-b/docker.io/org/app")
	}
	for _, loc := range []string{"/buildsets/trust-b/docker.io", "/buildsets/trust-c/docker.io"} {
		if got, r := inspect(loc, c); got != dB {
			t.Errorf("skopeo with buildset C's credentials through %s: docker.io/org/app:latest = %q (%v), want B's %s\n%s", loc, got, r.Err, dB, clip(r.Stderr))
		}
	}

	// The prefix-limited user's promotion.
	shared := abImg(t, 2103)
	dShared := zuul.pushContent("docker.io/library/alpine", "latest", shared)
	team := newABAdmin(t, srv, "team", "team-pass")
	team.create("team-bs", "--ttl", "1h")
	teamRC := abClient(t, srv.URL, "team", "team-pass", "")
	dSpec := teamRC.pushContent("buildsets/team-bs/docker.io/library/alpine", "latest", abImg(t, 2104))
	if dSpec == dShared {
		t.Fatal("the test images are the same")
	}
	r := team.try("buildset", "promote", "team-bs")
	if r.Err == nil {
		t.Errorf("team promoted team-bs, which holds docker.io/library/alpine, a shared repository it may not push:\n%s", r.Stdout)
	} else if !strings.Contains(r.Stderr, "docker.io/library/alpine") {
		t.Errorf("the refused promotion does not say which repository it may not write:\n%s", clip(r.Stderr))
	}
	abExpect(t, zuul, "docker.io/library/alpine", "latest", dShared, "after a refused promotion, the shared tag")
	// zuul may promote it.
	admin.run("buildset", "promote", "team-bs")
	abExpect(t, zuul, "docker.io/library/alpine", "latest", dSpec, "after zuul's promotion, the shared tag")
}
