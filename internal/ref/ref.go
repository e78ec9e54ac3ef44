// Package ref owns shadowreg's names. It holds the reference grammar
// (repository path components, registry hosts, tags), Docker Hub's rules
// (the host names it goes by, library/ for its official images) and the
// buildset prefix, and resolves a name as a request writes it — its path,
// containerd's ?ns=, the caller's buildset credentials — once, into the
// canonical Target that access is decided on, storage files content under
// and logs name. Nothing else in shadowreg parses a repository name.
//
// Canonical form. A Target's String is
//
//	[buildsets/<id>/]<namespace>/<path>       docker.io/library/alpine
//	                                           buildsets/gate-1/quay.io/org/app
//
// Every spelling of one repository has the same canonical form: alpine,
// library/alpine, docker.io/library/alpine, index.docker.io/library/alpine
// and alpine?ns=docker.io are all docker.io/library/alpine. Canonical forms
// parse back to themselves, so a token that carries one, a configured
// prefix and a log line all mean the same repository. The literal
// "buildsets" marks a buildset in canonical forms whatever prefix clients
// use: it cannot be a namespace, since a namespace is a host name (it has a
// "." or ":", or is "localhost").
//
// The package is a leaf: it imports nothing of shadowreg but the error
// vocabulary (internal/errcode).
package ref

import (
	"errors"
	"fmt"
	"strings"

	"github.com/shadowreg/shadowreg/internal/errcode"
)

const (
	// DockerHub is the namespace of names that do not name a host.
	DockerHub = "docker.io"
	// MaxNameLength bounds a repository name as written (after any buildset
	// prefix), as distribution does.
	MaxNameLength = 255
	// DefaultBuildsetPrefix is the first name component that addresses a
	// buildset unless configured otherwise: buildsets/<id>/library/alpine.
	DefaultBuildsetPrefix = "buildsets"
	// canonicalBuildsets marks a buildset in canonical forms.
	canonicalBuildsets = "buildsets"
	// SharedArea is the store area of what was pushed outside any buildset
	// (and what buildsets promoted).
	SharedArea = "shared"
	// buildsetAreaPrefix starts the store area of a buildset: bs.<id>.
	buildsetAreaPrefix = "bs."
)

// dockerHubAliases are the host names Docker Hub's content is known under.
var dockerHubAliases = map[string]bool{"docker.io": true, "index.docker.io": true, "registry-1.docker.io": true}

// LooksLikeHost reports whether a first name component names a registry:
// it has a "." or a ":", or is "localhost" (docker's rule).
func LooksLikeHost(c string) bool {
	return c == "localhost" || strings.ContainsAny(c, ".:")
}

// Namespace normalizes a registry host into the namespace shadowreg files
// it under: lower case, Docker Hub's aliases as docker.io. ok is false when
// host is not a host name with an optional port that looks like a host
// (LooksLikeHost): a namespace must be told apart from a path component.
func Namespace(host string) (string, bool) {
	h := strings.ToLower(host)
	if !validHost(h) || !LooksLikeHost(h) {
		return "", false
	}
	if dockerHubAliases[h] {
		return DockerHub, true
	}
	return h, true
}

// ValidTag reports whether tag matches the OCI tag grammar.
func ValidTag(tag string) bool { return validTag(tag) }

// ValidBuildsetID reports whether id can name a buildset: lower case
// letters, digits, ".", "_" and "-", starting with a letter or digit, at
// most 64 characters (Zuul's buildset UUIDs are 32 hex digits).
func ValidBuildsetID(id string) bool { return validBuildsetID(id) }

// validPath reports whether every component of a repository path (or of a
// prefix of one) matches the OCI grammar.
func validPath(p string) bool {
	for c := range strings.SplitSeq(p, "/") {
		if !validPathComponent(c) {
			return false
		}
	}
	return true
}

// Target is what a request reads or writes: a repository in an area.
type Target struct {
	// Buildset is the buildset whose area holds the repository; "" for
	// the shared area.
	Buildset string
	// Namespace is the registry the repository belongs to: "docker.io",
	// "quay.io", "localhost:5000".
	Namespace string
	// Path is the repository's path inside the namespace: "library/alpine".
	Path string
}

// Repository is the repository's name in the store, whatever its area:
// namespace/path.
func (t Target) Repository() string { return t.Namespace + "/" + t.Path }

// String is the canonical form.
func (t Target) String() string {
	if t.Buildset == "" {
		return t.Repository()
	}
	return BuildsetResource(t.Buildset) + "/" + t.Repository()
}

// Area is the store area holding the repository: SharedArea or bs.<id>.
func (t Target) Area() string {
	if t.Buildset == "" {
		return SharedArea
	}
	return BuildsetArea(t.Buildset)
}

// Display is the repository's name as clients write it inside its area:
// docker.io names without their namespace (library/alpine), every other
// name with it (quay.io/org/img). It resolves back to the same repository.
func (t Target) Display() string {
	first, _, _ := strings.Cut(t.Path, "/")
	if t.Namespace == DockerHub && !LooksLikeHost(first) {
		return t.Path
	}
	return t.Repository()
}

// BuildsetArea is the store area of buildset id.
func BuildsetArea(id string) string { return buildsetAreaPrefix + id }

// BuildsetOfArea is the buildset whose area is area; ok is false for areas
// of no buildset (shared, cache).
func BuildsetOfArea(area string) (id string, ok bool) {
	return strings.CutPrefix(area, buildsetAreaPrefix)
}

// BuildsetResource is the canonical name of a whole buildset, which the
// admin API decides access on: buildsets/<id>. Every repository in the
// buildset lies below it.
func BuildsetResource(id string) string { return canonicalBuildsets + "/" + id }

// AllBuildsets is the canonical name above every buildset: what listing
// buildsets and running garbage collection need access to.
const AllBuildsets = canonicalBuildsets

// Error is a name that does not resolve, and why. The registry answers it
// with NAME_INVALID.
type Error struct {
	Name   string
	Reason string
}

func (e *Error) Error() string {
	return fmt.Sprintf("invalid repository name %q: %s", e.Name, e.Reason)
}

// OCIError: NAME_INVALID.
func (e *Error) OCIError() *errcode.Error { return errcode.New(errcode.NameInvalid, "%s", e.Error()) }

func invalid(name, format string, args ...any) error {
	return &Error{Name: name, Reason: fmt.Sprintf(format, args...)}
}

// Names resolves names for one registry: the buildset prefix it uses.
// The zero value uses DefaultBuildsetPrefix.
type Names struct {
	// BuildsetPrefix is the first name component that addresses a
	// buildset: "buildsets" makes buildsets/<id>/library/alpine.
	BuildsetPrefix string
}

func (n Names) prefix() string {
	if n.BuildsetPrefix == "" {
		return DefaultBuildsetPrefix
	}
	return n.BuildsetPrefix
}

// Resolve resolves a repository name as a request writes it:
//
//   - a name under the buildset prefix (buildsets/<id>/…) is in buildset
//     <id>; any other name is in bound, the buildset the caller's
//     credentials are bound to, or in the shared area when bound is "";
//   - the rest's first component names the namespace when it looks like a
//     host; otherwise ns does (containerd's ?ns=), else docker.io. A path
//     that names one namespace and an ns that names another are refused:
//     the client meant one of them, and serving the other would hand it
//     another registry's image;
//   - Docker Hub's aliases are docker.io, and a single-component docker.io
//     path is an official image, under library/;
//   - the bare prefix is reserved (it names every buildset): library/<prefix>
//     reaches the docker.io repository of that name. So is "buildsets", the
//     word canonical forms mark buildsets with, under another prefix.
func (n Names) Resolve(name, ns, bound string) (Target, error) {
	if name == "" {
		return Target{}, invalid(name, "empty")
	}
	t := Target{Buildset: bound}
	rest := name
	if name == n.prefix() {
		return Target{}, invalid(name, "%q alone names every buildset; write %s/<id>/<name> for a buildset's repository, or library/%s for Docker Hub's", name, name, name)
	}
	if first, _, _ := strings.Cut(name, "/"); first == canonicalBuildsets && n.prefix() != canonicalBuildsets {
		// Canonical forms mark buildsets with this word whatever the
		// prefix: a name written with it would read as one.
		return Target{}, invalid(name, "%q is reserved; write docker.io/%s for the Docker Hub repository", first, name)
	}
	if after, ok := strings.CutPrefix(name, n.prefix()+"/"); ok {
		id, r, found := strings.Cut(after, "/")
		if !ValidBuildsetID(id) {
			return Target{}, invalid(name, "%q is not a buildset id (lower case letters, digits, '.', '_' and '-', at most 64)", id)
		}
		if !found || r == "" {
			return Target{}, invalid(name, "it names buildset %s but no repository in it", id)
		}
		t.Buildset, rest = id, r
	}
	if bound != "" && !ValidBuildsetID(bound) {
		return Target{}, invalid(name, "the credentials are bound to an invalid buildset id %q", bound)
	}
	if len(rest) > MaxNameLength {
		return Target{}, invalid(name, "longer than %d characters", MaxNameLength)
	}
	var fromNS string
	if ns != "" {
		var ok bool
		if fromNS, ok = Namespace(ns); !ok {
			return Target{}, invalid(name, "?ns=%q is not a registry host name", ns)
		}
	}
	path := rest
	t.Namespace = fromNS
	if first, p, ok := strings.Cut(rest, "/"); ok && LooksLikeHost(first) {
		host, ok := Namespace(first)
		if !ok {
			return Target{}, invalid(name, "%q is not a registry host name", first)
		}
		if fromNS != "" && host != fromNS {
			return Target{}, invalid(name, "its path names namespace %s, and ?ns= names %s", host, fromNS)
		}
		t.Namespace, path = host, p
	}
	if t.Namespace == "" {
		t.Namespace = DockerHub
	}
	p, ok := NormalizePath(t.Namespace, path)
	if !ok {
		return Target{}, invalid(name, "path components are lower case letters and digits, separated by '.', '_', '__' or dashes")
	}
	t.Path = p
	if t.Namespace != DockerHub && len(t.Namespace)+1+len(t.Path) > MaxNameLength {
		// A namespace from ?ns= lengthens the name: written with its host,
		// as clients of other namespaces write it, it must still fit.
		return Target{}, invalid(name, "with namespace %s, longer than %d characters", t.Namespace, MaxNameLength)
	}
	return t, nil
}

// NormalizePath checks a repository path inside namespace (a normalized
// one) against the OCI grammar and applies Docker Hub's rule: a
// single-component docker.io path is an official image, library/<name>
// (docker sends library/alpine for alpine).
func NormalizePath(namespace, path string) (string, bool) {
	if len(path) > MaxNameLength || !validPath(path) {
		return "", false
	}
	if namespace == DockerHub && !strings.Contains(path, "/") {
		return "library/" + path, true
	}
	return path, true
}

// Written is the name a client whose credentials are bound to bound writes
// to reach t, without ?ns=: what Location headers carry, so that a
// client's next request (an upload's PATCH, a GET of what it pushed)
// reaches the same repository whatever spelling and ?ns= it began with.
func (n Names) Written(t Target, bound string) string {
	if t.Buildset == "" || t.Buildset == bound {
		return t.Repository()
	}
	return n.prefix() + "/" + t.Buildset + "/" + t.Repository()
}

// ParseCanonical parses a canonical form (Target.String) back. ok is false
// for anything else: a name as clients write it is not canonical unless it
// is already in canonical form.
func ParseCanonical(s string) (Target, bool) {
	var t Target
	rest := s
	if after, ok := strings.CutPrefix(s, canonicalBuildsets+"/"); ok {
		id, r, found := strings.Cut(after, "/")
		if !found || !ValidBuildsetID(id) {
			return Target{}, false
		}
		t.Buildset, rest = id, r
	}
	ns, path, ok := strings.Cut(rest, "/")
	if !ok {
		return Target{}, false
	}
	if n, ok := Namespace(ns); !ok || n != ns || !LooksLikeHost(ns) || !validPath(path) {
		return Target{}, false
	}
	if ns == DockerHub && !strings.Contains(path, "/") {
		return Target{}, false // docker.io/alpine is docker.io/library/alpine
	}
	t.Namespace, t.Path = ns, path
	return t, true
}

// Canonical resolves a name that may be a canonical form already, a whole
// buildset (buildsets/<id>), every buildset (buildsets), or a name as
// clients write it (resolved with Resolve, without ?ns=), into a canonical
// string: what a token's scope names once issued. bound is the buildset the
// token's subject is bound to: for it, a shared repository's canonical form
// (which challenges name to clients that were not known yet) is the same
// repository in its buildset, as any name it writes is.
func (n Names) Canonical(name, bound string) (string, error) {
	switch {
	case name == AllBuildsets:
		return AllBuildsets, nil
	case strings.HasPrefix(name, canonicalBuildsets+"/") && !strings.Contains(strings.TrimPrefix(name, canonicalBuildsets+"/"), "/"):
		id := strings.TrimPrefix(name, canonicalBuildsets+"/")
		if !ValidBuildsetID(id) {
			return "", invalid(name, "%q is not a buildset id", id)
		}
		return BuildsetResource(id), nil
	}
	if t, ok := ParseCanonical(name); ok {
		if t.Buildset == "" && bound != "" {
			if !ValidBuildsetID(bound) {
				return "", invalid(name, "bound to an invalid buildset id %q", bound)
			}
			t.Buildset = bound
		}
		return t.String(), nil
	}
	t, err := n.Resolve(name, "", bound)
	if err != nil {
		return "", err
	}
	return t.String(), nil
}

// Prefix canonicalizes a configured name prefix (auth.users[].prefixes),
// which limits a user to the repositories below it. A prefix is a
// namespace-qualified path, not a repository: "team" is docker.io/team
// (the organisation; the official image team is docker.io/library/team,
// which it does not cover), "library" is docker.io/library, "quay.io/org"
// is quay.io/org, "quay.io" every quay.io repository. Under the buildset
// prefix, "buildsets" is every buildset, "buildsets/<id>" one buildset and
// "buildsets/<id>/<prefix>" part of one.
func (n Names) Prefix(p string) (string, error) {
	p = strings.Trim(p, "/")
	if p == "" {
		return "", errors.New("empty")
	}
	if p == n.prefix() {
		return AllBuildsets, nil
	}
	out := ""
	rest := p
	if after, ok := strings.CutPrefix(p, n.prefix()+"/"); ok {
		id, r, _ := strings.Cut(after, "/")
		if !ValidBuildsetID(id) {
			return "", fmt.Errorf("%q is not a buildset id", id)
		}
		out, rest = BuildsetResource(id), r
		if rest == "" {
			return out, nil
		}
		out += "/"
	}
	first, path, _ := strings.Cut(rest, "/")
	if LooksLikeHost(first) {
		host, ok := Namespace(first)
		if !ok {
			return "", fmt.Errorf("%q is not a registry host name", first)
		}
		if path == "" {
			return out + host, nil
		}
		if !validPath(path) {
			return "", fmt.Errorf("%q is not a repository path", path)
		}
		return out + host + "/" + path, nil
	}
	if !validPath(rest) {
		return "", fmt.Errorf("%q is not a repository path", rest)
	}
	return out + DockerHub + "/" + rest, nil
}

// Covers reports whether canonical prefix (Names.Prefix) covers canonical
// name s, whole path components at a time: docker.io/team covers
// docker.io/team and docker.io/team/app, not docker.io/teamx/app.
func Covers(prefix, s string) bool {
	return s == prefix || strings.HasPrefix(s, prefix+"/")
}
