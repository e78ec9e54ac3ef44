package registry

import (
	"strings"
	"testing"
)

func TestParseName(t *testing.T) {
	t.Parallel()
	long := func(n int) string { // a valid name of exactly n characters
		return "a/" + strings.Repeat("b", n-2)
	}
	tests := []struct {
		name, ns string
		want     Name
		ok       bool
	}{
		// Names without a host belong to docker.io; single components are
		// official images under library/.
		{"library/alpine", "", Name{"docker.io", "library/alpine"}, true},
		{"alpine", "", Name{"docker.io", "library/alpine"}, true},
		{"docker.io/library/alpine", "", Name{"docker.io", "library/alpine"}, true},
		{"docker.io/alpine", "", Name{"docker.io", "library/alpine"}, true},
		{"index.docker.io/x/y", "", Name{"docker.io", "x/y"}, true},
		{"registry-1.docker.io/x/y", "", Name{"docker.io", "x/y"}, true},
		{"myorg/bar", "", Name{"docker.io", "myorg/bar"}, true},
		{"a/b/c/d", "", Name{"docker.io", "a/b/c/d"}, true},
		// Hosts: a first component with "." or ":", or localhost.
		{"quay.io/org/img", "", Name{"quay.io", "org/img"}, true},
		{"quay.io/img", "", Name{"quay.io", "img"}, true},
		{"localhost/foo", "", Name{"localhost", "foo"}, true},
		{"localhost:5000/a/b", "", Name{"localhost:5000", "a/b"}, true},
		{"127.0.0.1:5000/x", "", Name{"127.0.0.1:5000", "x"}, true},
		{"Quay.IO/org/x", "", Name{"quay.io", "org/x"}, true},
		{"my-registry.example.com:443/team/app", "", Name{"my-registry.example.com:443", "team/app"}, true},
		{"localhost", "", Name{"docker.io", "library/localhost"}, true}, // no path: a docker.io name
		{"docker.io", "", Name{"docker.io", "library/docker.io"}, true},
		// The path grammar.
		{"a.b/c", "", Name{"a.b", "c"}, true}, // "a.b" is a host
		{"x/a.b", "", Name{"docker.io", "x/a.b"}, true},
		{"x/a_b", "", Name{"docker.io", "x/a_b"}, true},
		{"x/a__b", "", Name{"docker.io", "x/a__b"}, true},
		{"x/a-b", "", Name{"docker.io", "x/a-b"}, true},
		{"x/a---b", "", Name{"docker.io", "x/a---b"}, true},
		{"x/0", "", Name{"docker.io", "x/0"}, true},
		{"x/a___b", "", Name{}, false},
		{"x/a..b", "", Name{}, false},
		{"a..b", "", Name{}, false},
		{"x/a.-b", "", Name{}, false},
		{"x/a_", "", Name{}, false},
		{"-a", "", Name{}, false},
		{"a-", "", Name{}, false},
		{"_a", "", Name{}, false},
		{"Library/alpine", "", Name{}, false}, // uppercase path
		{"library/Alpine", "", Name{}, false},
		{"quay.io/Org/img", "", Name{}, false},
		{"a//b", "", Name{}, false},
		{"a/", "", Name{}, false},
		{"/a", "", Name{}, false},
		{"quay.io/", "", Name{}, false},
		{"", "", Name{}, false},
		{"a b/c", "", Name{}, false},
		{"a/b c", "", Name{}, false},
		{"quay.io:x/a", "", Name{}, false},    // port not numeric
		{"-bad.io/a", "", Name{}, false},      // host label starts with "-"
		{"localhost:5000", "", Name{}, false}, // a host alone is no repository
		{"x/../y", "", Name{}, false},
		{"x/./y", "", Name{}, false},
		// Length: the whole name as written, at most 255 characters.
		{long(255), "", Name{"docker.io", long(255)}, true},
		{long(256), "", Name{}, false},
		// containerd names the registry with ?ns= when the path does not.
		{"org/img", "quay.io", Name{"quay.io", "org/img"}, true},
		{"img", "quay.io", Name{"quay.io", "img"}, true}, // library/ is Docker Hub's only
		{"alpine", "docker.io", Name{"docker.io", "library/alpine"}, true},
		{"alpine", "index.docker.io", Name{"docker.io", "library/alpine"}, true},
		{"ghcr.io/x/y", "quay.io", Name{"ghcr.io", "x/y"}, true}, // a host in the path wins
		{"org/img", "localhost:5000", Name{"localhost:5000", "org/img"}, true},
		{"Org/img", "quay.io", Name{}, false},
		// The namespace is a host name like any other: lowercased, and never
		// a path that would reach outside the repository's folder in storage.
		{"org/img", "Quay.IO", Name{"quay.io", "org/img"}, true},
		{"org/img", "../../other-area/repos/quay.io", Name{}, false},
		{"org/img", "..", Name{}, false},
		{"org/img", "quay.io/evil", Name{}, false},
		{"org/img", "bad host", Name{}, false},
	}
	for _, tt := range tests {
		got, ok := ParseName(tt.name, tt.ns)
		if ok != tt.ok || got != tt.want {
			t.Errorf("ParseName(%q, %q) = %#v, %v; want %#v, %v", tt.name, tt.ns, got, ok, tt.want, tt.ok)
		}
	}
}

// docker.io/library/alpine, library/alpine and alpine are one repository, and
// each name's canonical form parses back to it.
func TestNameCanonicalAndDisplay(t *testing.T) {
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
	}
	for _, tt := range tests {
		n, ok := ParseName(tt.in, "")
		if !ok {
			t.Errorf("ParseName(%q) failed", tt.in)
			continue
		}
		if got := n.String(); got != tt.canonical {
			t.Errorf("ParseName(%q).String() = %q, want %q", tt.in, got, tt.canonical)
		}
		if got := n.Display(); got != tt.display {
			t.Errorf("ParseName(%q).Display() = %q, want %q", tt.in, got, tt.display)
		}
		if got := ParseCanonical(n.String()); got != n {
			t.Errorf("ParseCanonical(%q) = %#v, want %#v", n.String(), got, n)
		}
	}
}

// Display is the name a client writes to reach the repository: parsing it
// again must give the same repository, for every name ParseName accepts.
func TestNameDisplayRoundTrip(t *testing.T) {
	t.Parallel()
	names := []struct{ name, ns string }{
		{"alpine", ""},
		{"library/alpine", ""},
		{"docker.io/x/y", ""},
		{"quay.io/org/img", ""},
		{"localhost/foo", ""},
		{"localhost:5000/a/b/c", ""},
		{"org/img", "quay.io"},
		{"img", "ghcr.io"},
		// docker.io paths whose first component looks like a host: written
		// without docker.io/ they name another registry.
		{"docker.io/foo.bar/baz", ""},
		{"docker.io/localhost/x", ""},
	}
	for _, tt := range names {
		n, ok := ParseName(tt.name, tt.ns)
		if !ok {
			t.Errorf("ParseName(%q, %q) failed", tt.name, tt.ns)
			continue
		}
		back, ok := ParseName(n.Display(), "")
		if !ok || back != n {
			t.Errorf("ParseName(%q, %q) = %#v; its Display %q parses as %#v, %v", tt.name, tt.ns, n, n.Display(), back, ok)
		}
	}
}
