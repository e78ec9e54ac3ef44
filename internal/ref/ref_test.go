package ref

import (
	"strings"
	"testing"
)

var names = Names{}

func TestResolve(t *testing.T) {
	t.Parallel()
	long := func(n int) string { // a valid name of exactly n characters
		return "a/" + strings.Repeat("b", n-2)
	}
	shared := func(ns, path string) Target { return Target{Namespace: ns, Path: path} }
	tests := []struct {
		name, ns, bound string
		want            Target
		ok              bool
	}{
		// Names without a host belong to docker.io; single components are
		// official images under library/.
		{"library/alpine", "", "", shared("docker.io", "library/alpine"), true},
		{"alpine", "", "", shared("docker.io", "library/alpine"), true},
		{"docker.io/library/alpine", "", "", shared("docker.io", "library/alpine"), true},
		{"docker.io/alpine", "", "", shared("docker.io", "library/alpine"), true},
		{"index.docker.io/x/y", "", "", shared("docker.io", "x/y"), true},
		{"registry-1.docker.io/x/y", "", "", shared("docker.io", "x/y"), true},
		{"myorg/bar", "", "", shared("docker.io", "myorg/bar"), true},
		{"a/b/c/d", "", "", shared("docker.io", "a/b/c/d"), true},
		// Hosts: a first component with "." or ":", or localhost.
		{"quay.io/org/img", "", "", shared("quay.io", "org/img"), true},
		{"quay.io/img", "", "", shared("quay.io", "img"), true},
		{"localhost/foo", "", "", shared("localhost", "foo"), true},
		{"localhost:5000/a/b", "", "", shared("localhost:5000", "a/b"), true},
		{"127.0.0.1:5000/x", "", "", shared("127.0.0.1:5000", "x"), true},
		{"Quay.IO/org/x", "", "", shared("quay.io", "org/x"), true},
		{"my-registry.example.com:443/team/app", "", "", shared("my-registry.example.com:443", "team/app"), true},
		{"localhost", "", "", shared("docker.io", "library/localhost"), true}, // no path: a docker.io name
		{"docker.io", "", "", shared("docker.io", "library/docker.io"), true},
		// The path grammar.
		{"a.b/c", "", "", shared("a.b", "c"), true}, // "a.b" is a host
		{"x/a.b", "", "", shared("docker.io", "x/a.b"), true},
		{"x/a_b", "", "", shared("docker.io", "x/a_b"), true},
		{"x/a__b", "", "", shared("docker.io", "x/a__b"), true},
		{"x/a-b", "", "", shared("docker.io", "x/a-b"), true},
		{"x/a---b", "", "", shared("docker.io", "x/a---b"), true},
		{"x/0", "", "", shared("docker.io", "x/0"), true},
		{"x/a___b", "", "", Target{}, false},
		{"x/a..b", "", "", Target{}, false},
		{"a..b", "", "", Target{}, false},
		{"x/a.-b", "", "", Target{}, false},
		{"x/a_", "", "", Target{}, false},
		{"-a", "", "", Target{}, false},
		{"a-", "", "", Target{}, false},
		{"_a", "", "", Target{}, false},
		{"Library/alpine", "", "", Target{}, false}, // uppercase path
		{"library/Alpine", "", "", Target{}, false},
		{"quay.io/Org/img", "", "", Target{}, false},
		{"a//b", "", "", Target{}, false},
		{"a/", "", "", Target{}, false},
		{"/a", "", "", Target{}, false},
		{"quay.io/", "", "", Target{}, false},
		{"", "", "", Target{}, false},
		{"a b/c", "", "", Target{}, false},
		{"a/b c", "", "", Target{}, false},
		{"quay.io:x/a", "", "", Target{}, false},    // port not numeric
		{"-bad.io/a", "", "", Target{}, false},      // host label starts with "-"
		{"localhost:5000", "", "", Target{}, false}, // a host alone is no repository
		{"x/../y", "", "", Target{}, false},
		{"x/./y", "", "", Target{}, false},
		// Length: the name as written, at most 255 characters.
		{long(255), "", "", shared("docker.io", long(255)), true},
		{long(256), "", "", Target{}, false},
		// containerd names the registry with ?ns= when the path does not.
		{"org/img", "quay.io", "", shared("quay.io", "org/img"), true},
		{"img", "quay.io", "", shared("quay.io", "img"), true}, // library/ is Docker Hub's only
		{"alpine", "docker.io", "", shared("docker.io", "library/alpine"), true},
		{"alpine", "index.docker.io", "", shared("docker.io", "library/alpine"), true},
		{"docker.io/library/alpine", "index.docker.io", "", shared("docker.io", "library/alpine"), true},
		{"quay.io/x/y", "quay.io", "", shared("quay.io", "x/y"), true},
		// A path naming one namespace and ?ns= another: refused, not guessed.
		{"ghcr.io/x/y", "quay.io", "", Target{}, false},
		{"org/img", "localhost:5000", "", shared("localhost:5000", "org/img"), true},
		{"Org/img", "quay.io", "", Target{}, false},
		// The namespace is a host name like any other: lowercased, and never
		// a path that would reach outside the repository's folder in storage.
		{"org/img", "Quay.IO", "", shared("quay.io", "org/img"), true},
		{"org/img", "../../other-area/repos/quay.io", "", Target{}, false},
		{"org/img", "..", "", Target{}, false},
		{"org/img", "quay.io/evil", "", Target{}, false},
		{"org/img", "bad host", "", Target{}, false},
		// Buildsets: by prefix, or by the caller's credentials.
		{"buildsets/b1/library/alpine", "", "", Target{"b1", "docker.io", "library/alpine"}, true},
		{"buildsets/b1/alpine", "", "", Target{"b1", "docker.io", "library/alpine"}, true},
		{"buildsets/b1/quay.io/org/img", "", "", Target{"b1", "quay.io", "org/img"}, true},
		{"buildsets/b1/org/img", "quay.io", "", Target{"b1", "quay.io", "org/img"}, true},
		{"library/alpine", "", "b1", Target{"b1", "docker.io", "library/alpine"}, true},
		{"buildsets/b2/x/y", "", "b1", Target{"b2", "docker.io", "x/y"}, true}, // the prefix names the area; access decides
		{"buildsets/b1", "", "", Target{}, false},
		{"buildsets/b1/", "", "", Target{}, false},
		{"buildsets/B1/x", "", "", Target{}, false},
		{"buildsets/../x/y", "", "", Target{}, false},
		{"buildsets", "", "", Target{}, false},
		{"library/buildsets", "", "", shared("docker.io", "library/buildsets"), true},
		{"x/y", "", "Bad", Target{}, false},
	}
	for _, tt := range tests {
		got, err := names.Resolve(tt.name, tt.ns, tt.bound)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("Resolve(%q, %q, %q) = %#v, %v; want %#v, ok %v", tt.name, tt.ns, tt.bound, got, err, tt.want, tt.ok)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("multi-line error %q", err)
		}
	}
}

// The spellings of one repository resolve to one target: access decided on
// any of them is decided on the same thing.
func TestSpellingsOfOneRepository(t *testing.T) {
	t.Parallel()
	for _, group := range []struct {
		bound     string
		spellings [][2]string // name, ns
		want      string
	}{
		{"", [][2]string{{"team", ""}, {"library/team", ""}, {"docker.io/library/team", ""}, {"index.docker.io/library/team", ""},
			{"registry-1.docker.io/library/team", ""}, {"team", "docker.io"}, {"library/team", "index.docker.io"}, {"docker.io/team", ""}},
			"docker.io/library/team"},
		{"", [][2]string{{"quay.io/org/app", ""}, {"org/app", "quay.io"}, {"Quay.io/org/app", ""}, {"quay.io/org/app", "QUAY.IO"}}, "quay.io/org/app"},
		{"", [][2]string{{"buildsets/own-1/team", ""}, {"buildsets/own-1/docker.io/library/team", ""}, {"buildsets/own-1/team", "docker.io"}},
			"buildsets/own-1/docker.io/library/team"},
		{"own-1", [][2]string{{"team", ""}, {"library/team", ""}, {"buildsets/own-1/team", ""}, {"team", "docker.io"}},
			"buildsets/own-1/docker.io/library/team"},
	} {
		for _, sp := range group.spellings {
			got, err := names.Resolve(sp[0], sp[1], group.bound)
			if err != nil || got.String() != group.want {
				t.Errorf("Resolve(%q, ns %q, bound %q) = %v, %v; want %s", sp[0], sp[1], group.bound, got, err, group.want)
			}
		}
	}
}

// docker.io/library/alpine, library/alpine and alpine are one repository, and
// each name's canonical form parses back to it.
func TestCanonicalAndDisplay(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, canonical, display string
	}{
		{"alpine", "docker.io/library/alpine", "library/alpine"},
		{"library/alpine", "docker.io/library/alpine", "library/alpine"},
		{"docker.io/library/alpine", "docker.io/library/alpine", "library/alpine"},
		{"index.docker.io/library/alpine", "docker.io/library/alpine", "library/alpine"},
		{"myorg/app", "docker.io/myorg/app", "myorg/app"},
		{"quay.io/org/img", "quay.io/org/img", "quay.io/org/img"},
		{"Quay.IO/org/img", "quay.io/org/img", "quay.io/org/img"},
		{"localhost/foo", "localhost/foo", "localhost/foo"},
		{"localhost:5000/a/b", "localhost:5000/a/b", "localhost:5000/a/b"},
		{"127.0.0.1:5000/x", "127.0.0.1:5000/x", "127.0.0.1:5000/x"},
		{"buildsets/b/alpine", "buildsets/b/docker.io/library/alpine", "library/alpine"},
	}
	for _, tt := range tests {
		n, err := names.Resolve(tt.in, "", "")
		if err != nil {
			t.Errorf("Resolve(%q): %v", tt.in, err)
			continue
		}
		if got := n.String(); got != tt.canonical {
			t.Errorf("Resolve(%q).String() = %q, want %q", tt.in, got, tt.canonical)
		}
		if got := n.Display(); got != tt.display {
			t.Errorf("Resolve(%q).Display() = %q, want %q", tt.in, got, tt.display)
		}
		if got, ok := ParseCanonical(n.String()); !ok || got != n {
			t.Errorf("ParseCanonical(%q) = %#v, %v; want %#v", n.String(), got, ok, n)
		}
		if got, err := names.Canonical(tt.in, ""); err != nil || got != tt.canonical {
			t.Errorf("Canonical(%q) = %q, %v; want %q", tt.in, got, err, tt.canonical)
		}
	}
	for _, s := range []string{"library/alpine", "docker.io/alpine", "alpine", "buildsets/b", "buildsets/b/alpine", "quay.io", "Quay.io/x", "docker.io/Library/x"} {
		if got, ok := ParseCanonical(s); ok {
			t.Errorf("ParseCanonical(%q) = %#v: not a canonical form", s, got)
		}
	}
}

// Display is the name a client writes to reach the repository inside its
// area: resolving it again gives the same repository.
func TestDisplayRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, ns string }{
		{"alpine", ""}, {"library/alpine", ""}, {"docker.io/x/y", ""}, {"quay.io/org/img", ""},
		{"localhost/foo", ""}, {"localhost:5000/a/b/c", ""}, {"org/img", "quay.io"}, {"img", "ghcr.io"},
		// docker.io paths whose first component looks like a host: written
		// without docker.io/ they name another registry.
		{"docker.io/foo.bar/baz", ""}, {"docker.io/localhost/x", ""},
	} {
		n, err := names.Resolve(tt.name, tt.ns, "")
		if err != nil {
			t.Errorf("Resolve(%q, %q): %v", tt.name, tt.ns, err)
			continue
		}
		back, err := names.Resolve(n.Display(), "", "")
		if err != nil || back != n {
			t.Errorf("Resolve(%q, %q) = %#v; its Display %q resolves to %#v, %v", tt.name, tt.ns, n, n.Display(), back, err)
		}
	}
}

func TestCanonicalResources(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, bound, want string }{
		{"buildsets", "", "buildsets"},
		{"buildsets/b1", "", "buildsets/b1"},
		{"buildsets/b1/x/y", "", "buildsets/b1/docker.io/x/y"},
		{"team", "own", "buildsets/own/docker.io/library/team"},
		{"quay.io/org/x", "own", "buildsets/own/quay.io/org/x"}, // for a bound subject, its buildset's
		{"quay.io/org/x", "", "quay.io/org/x"},
		{"buildsets/b1/docker.io/library/x", "own", "buildsets/b1/docker.io/library/x"},
	} {
		if got, err := names.Canonical(tt.in, tt.bound); err != nil || got != tt.want {
			t.Errorf("Canonical(%q, %q) = %q, %v; want %q", tt.in, tt.bound, got, err, tt.want)
		}
	}
	for _, bad := range []string{"buildsets/B", "a//b", "", "buildsets/"} {
		if got, err := names.Canonical(bad, ""); err == nil {
			t.Errorf("Canonical(%q) = %q, want an error", bad, got)
		}
	}
}

func TestPrefix(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		{"team", "docker.io/team"},
		{"team/", "docker.io/team"},
		{"/infra", "docker.io/infra"},
		{"library", "docker.io/library"},
		{"docker.io/library", "docker.io/library"},
		{"index.docker.io/x", "docker.io/x"},
		{"quay.io/org", "quay.io/org"},
		{"Quay.io/org", "quay.io/org"},
		{"quay.io", "quay.io"},
		{"localhost:5000", "localhost:5000"},
		{"buildsets", "buildsets"},
		{"buildsets/own-1", "buildsets/own-1"},
		{"buildsets/own-1/team", "buildsets/own-1/docker.io/team"},
		{"buildsets/own-1/quay.io/org", "buildsets/own-1/quay.io/org"},
	} {
		if got, err := names.Prefix(tt.in); err != nil || got != tt.want {
			t.Errorf("Prefix(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "/", "a/../b", "A", "buildsets/B", "quay.io:x/a"} {
		if got, err := names.Prefix(bad); err == nil {
			t.Errorf("Prefix(%q) = %q, want an error", bad, got)
		}
	}
	cover := func(prefix, name string) bool {
		p, err := names.Prefix(prefix)
		if err != nil {
			t.Fatal(err)
		}
		tg, err := names.Resolve(name, "", "")
		if err != nil {
			t.Fatal(err)
		}
		return Covers(p, tg.String())
	}
	for _, tt := range []struct {
		prefix, name string
		want         bool
	}{
		{"team", "team/app", true},
		{"team", "team", false}, // docker.io/library/team: Docker Hub's official namespace
		{"team", "library/team", false},
		{"team", "teamx/app", false},
		{"library", "alpine", true},
		{"library", "docker.io/library/alpine", true},
		{"quay.io/org", "quay.io/org/app", true},
		{"quay.io/org", "quay.io/library/secret", false},
		{"library", "quay.io/library/secret", false},
		{"buildsets/own-1", "buildsets/own-1/x/y", true},
		{"buildsets/own-1", "buildsets/own-10/x/y", false},
		{"buildsets", "buildsets/any/x/y", true},
		{"docker.io", "buildsets/any/x/y", false},
	} {
		if got := cover(tt.prefix, tt.name); got != tt.want {
			t.Errorf("prefix %q covers %q: %v, want %v", tt.prefix, tt.name, got, tt.want)
		}
	}
}

// Under another prefix, "buildsets" is still reserved: canonical forms use it.
func TestOtherPrefix(t *testing.T) {
	t.Parallel()
	n := Names{BuildsetPrefix: "bs"}
	if got, err := n.Resolve("bs/b1/x/y", "", ""); err != nil || got.String() != "buildsets/b1/docker.io/x/y" {
		t.Errorf("Resolve(bs/b1/x/y) = %v, %v", got, err)
	}
	if _, err := n.Resolve("buildsets/b1/x/y", "", ""); err == nil {
		t.Error("buildsets/… resolved under the prefix bs")
	}
	if got, err := n.Resolve("docker.io/buildsets/b1/x", "", ""); err != nil || got.String() != "docker.io/buildsets/b1/x" {
		t.Errorf("docker.io/buildsets/b1/x = %v, %v", got, err)
	}
	if got, err := n.Prefix("bs/b1"); err != nil || got != "buildsets/b1" {
		t.Errorf("Prefix(bs/b1) = %q, %v", got, err)
	}
}

func TestWritten(t *testing.T) {
	t.Parallel()
	for _, n := range []Names{{}, {BuildsetPrefix: "bs"}} {
		for _, tt := range []struct{ name, ns, bound string }{
			{"alpine", "", ""}, {"org/img", "quay.io", ""}, {"buildsets/b1/x/y", "", ""}, {"x/y", "", "b1"},
			{"buildsets/b2/x/y", "quay.io", "b1"}, {"docker.io/foo.bar/x", "", ""},
		} {
			name := strings.Replace(tt.name, "buildsets/", n.prefix()+"/", 1)
			tg, err := n.Resolve(name, tt.ns, tt.bound)
			if err != nil {
				t.Fatalf("Resolve(%q): %v", name, err)
			}
			w := n.Written(tg, tt.bound)
			if back, err := n.Resolve(w, "", tt.bound); err != nil || back != tg {
				t.Errorf("prefix %q: Written(%v) = %q resolves to %v, %v", n.prefix(), tg, w, back, err)
			}
		}
	}
}

// FuzzResolve: whatever resolves has a canonical form that parses back to
// it, that Canonical keeps, and a Display that resolves back to it; nothing
// that resolves can reach outside its folder in storage.
func FuzzResolve(f *testing.F) {
	for _, s := range []string{"alpine", "library/alpine", "quay.io/org/img", "buildsets/b/x", "localhost:5000/a", "a/../b",
		"docker.io/foo.bar/baz", "buildsets", "x//y", "Quay.io/a"} {
		f.Add(s, "", "")
		f.Add(s, "quay.io", "")
		f.Add(s, "", "b1")
	}
	f.Fuzz(func(t *testing.T, name, ns, bound string) {
		tg, err := names.Resolve(name, ns, bound)
		if err != nil {
			return
		}
		if back, ok := ParseCanonical(tg.String()); !ok || back != tg {
			t.Fatalf("Resolve(%q, %q, %q) = %#v; ParseCanonical(%q) = %#v, %v", name, ns, bound, tg, tg.String(), back, ok)
		}
		if c, err := names.Canonical(tg.String(), tg.Buildset); err != nil || c != tg.String() {
			t.Fatalf("Canonical(%q) = %q, %v", tg.String(), c, err)
		}
		if back, err := names.Resolve(tg.Display(), "", tg.Buildset); err != nil || back != tg {
			t.Fatalf("Display %q of %#v resolves to %#v, %v", tg.Display(), tg, back, err)
		}
		if back, err := names.Resolve(names.Written(tg, bound), "", bound); err != nil || back != tg {
			t.Fatalf("Written %q of %#v resolves to %#v, %v", names.Written(tg, bound), tg, back, err)
		}
		for _, c := range strings.Split(tg.String(), "/") {
			if c == "" || c == "." || c == ".." || strings.ContainsAny(c, "\\\x00") {
				t.Fatalf("Resolve(%q) = %q: component %q", name, tg.String(), c)
			}
		}
	})
}
