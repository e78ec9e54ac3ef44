package storage

import (
	"path"
	"strings"

	"github.com/opencontainers/go-digest"
)

// The store's layout on its driver. Blobs are content-addressed and shared by
// every area and repository; everything that names content (links, tags,
// referrers) lives under an area, so a buildset is one folder of names over
// the shared bytes.
//
//	blobs/<alg>/<hh>/<hex>                               content (blob or manifest bytes)
//	uploads/<id>/data                                    bytes of an upload in progress
//	uploads/<id>/state                                   its state (uploadState, JSON)
//	areas/<area>/repos/<name>/_blobs/<alg>/<hex>         the repository holds this blob (empty)
//	areas/<area>/repos/<name>/_manifests/<alg>/<hex>     the repository holds this manifest (manifestLink)
//	areas/<area>/repos/<name>/_tags/<tag>                a tag (tagLink)
//	areas/<area>/repos/<name>/_referrers/<alg>/<hex>/<alg>-<hex>
//	                                                     a manifest whose subject is <alg>:<hex> (descriptor)
//
// Repository name components never begin with "_" (the OCI name grammar), so
// "_blobs" and its siblings cannot collide with a repository nested below
// another ("a" and "a/b" both exist side by side).

const (
	blobsRoot   = "blobs"
	uploadsRoot = "uploads"
	areasRoot   = "areas"
)

func blobPath(d digest.Digest) string {
	hex := d.Encoded()
	return path.Join(blobsRoot, string(d.Algorithm()), hex[:2], hex)
}

func uploadDir(id string) string       { return path.Join(uploadsRoot, id) }
func uploadDataPath(id string) string  { return path.Join(uploadsRoot, id, "data") }
func uploadStatePath(id string) string { return path.Join(uploadsRoot, id, "state") }

func areaPath(area string) string { return path.Join(areasRoot, area) }

func repoPath(area, name string) string { return path.Join(areasRoot, area, "repos", name) }

func blobLinkPath(area, name string, d digest.Digest) string {
	return path.Join(repoPath(area, name), "_blobs", string(d.Algorithm()), d.Encoded())
}

func manifestLinkDir(area, name string) string { return path.Join(repoPath(area, name), "_manifests") }

func manifestLinkPath(area, name string, d digest.Digest) string {
	return path.Join(manifestLinkDir(area, name), string(d.Algorithm()), d.Encoded())
}

func tagDir(area, name string) string { return path.Join(repoPath(area, name), "_tags") }

func tagPath(area, name, tag string) string { return path.Join(tagDir(area, name), tag) }

func referrersDir(area, name string, subject digest.Digest) string {
	return path.Join(repoPath(area, name), "_referrers", string(subject.Algorithm()), subject.Encoded())
}

func referrerPath(area, name string, subject, referrer digest.Digest) string {
	return path.Join(referrersDir(area, name, subject), string(referrer.Algorithm())+"-"+referrer.Encoded())
}

// repoOfLink returns the repository name of a link below
// areas/<area>/repos/: the part before its _blobs, _manifests, _tags or
// _referrers folder (repository components never begin with "_").
func repoOfLink(area, p string) (string, bool) {
	rest, ok := strings.CutPrefix(p, path.Join(areasRoot, area, "repos")+"/")
	if !ok {
		return "", false
	}
	i := strings.Index(rest, "/_")
	if i <= 0 {
		return "", false
	}
	return rest[:i], true
}

// repoFromManifestLink returns the repository name of a path below
// areas/<area>/repos/ that lies inside a repository's _manifests folder.
func repoFromManifestLink(area, p string) (string, bool) {
	rest, ok := strings.CutPrefix(p, path.Join(areasRoot, area, "repos")+"/")
	if !ok {
		return "", false
	}
	name, _, ok := strings.Cut(rest, "/_manifests/")
	return name, ok
}
