package registry

import (
	"regexp"
	"strings"
)

// Repository names. A name is an optional namespace — a first component that
// looks like a host: it has a "." or ":" or is "localhost" — and a path in
// the OCI name grammar. Names without a namespace belong to docker.io, the
// way docker's registry-mirrors sends them (library/alpine), so one endpoint
// serves docker and OCI tools alike and docker.io/library/alpine is the same
// repository as library/alpine. zuul-registry settled on the same mapping.

const (
	// DockerHub is the namespace of names without a host.
	DockerHub = "docker.io"
	// maxNameLength bounds a whole name, as distribution does.
	maxNameLength = 255
)

var (
	pathComponentRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$`)
	hostRE          = regexp.MustCompile(`^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::[0-9]+)?$`)
)

// dockerHubAliases are the host names docker.io content is known under.
var dockerHubAliases = map[string]bool{"docker.io": true, "index.docker.io": true, "registry-1.docker.io": true}

// Name is a parsed repository name.
type Name struct {
	Namespace string // upstream registry host: "docker.io", "quay.io", "localhost:5000"
	Path      string // repository path inside it: "library/alpine"
}

// String is the canonical form, the key the store files the repository
// under: namespace/path.
func (n Name) String() string { return n.Namespace + "/" + n.Path }

// Display is the name as clients would write it: docker.io names without
// their namespace, every other name with it.
func (n Name) Display() string {
	first, _, _ := strings.Cut(n.Path, "/")
	if n.Namespace == DockerHub && !looksLikeHost(first) {
		return n.Path
	}
	return n.String()
}

// looksLikeHost reports whether a first name component names a registry.
func looksLikeHost(c string) bool {
	return c == "localhost" || strings.ContainsAny(c, ".:")
}

// ParseName validates a repository name and splits off its namespace.
// defaultNamespace is used when the name has none ("" means docker.io);
// containerd says which registry it means with ?ns=.
func ParseName(name, defaultNamespace string) (Name, bool) {
	if name == "" || len(name) > maxNameLength {
		return Name{}, false
	}
	ns := strings.ToLower(defaultNamespace)
	if ns != "" && !hostRE.MatchString(ns) {
		return Name{}, false // containerd's ?ns= names a host, nothing else
	}
	path := name
	if first, rest, ok := strings.Cut(name, "/"); ok && looksLikeHost(first) {
		if !hostRE.MatchString(first) {
			return Name{}, false
		}
		ns, path = strings.ToLower(first), rest
	}
	if ns == "" || dockerHubAliases[ns] {
		ns = DockerHub
	}
	for _, c := range strings.Split(path, "/") {
		if !pathComponentRE.MatchString(c) {
			return Name{}, false
		}
	}
	// Docker Hub's official images live under library/: "alpine" there is
	// "library/alpine", and docker sends the latter.
	if ns == DockerHub && !strings.Contains(path, "/") {
		path = "library/" + path
	}
	return Name{Namespace: ns, Path: path}, true
}

// ParseCanonical splits a canonical name (Name.String) back.
func ParseCanonical(s string) Name {
	ns, path, _ := strings.Cut(s, "/")
	return Name{Namespace: ns, Path: path}
}
