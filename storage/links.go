package storage

import (
	"strings"

	"github.com/opencontainers/go-digest"
)

// linkedDigest returns the digest a blob or manifest link names, from its
// path: …/_blobs/<alg>/<hex> or …/_manifests/<alg>/<hex>.
func linkedDigest(p string) (digest.Digest, bool) {
	for _, kind := range []string{"/_blobs/", "/_manifests/"} {
		i := strings.LastIndex(p, kind)
		if i < 0 {
			continue
		}
		alg, hex, ok := strings.Cut(p[i+len(kind):], "/")
		if !ok || strings.Contains(hex, "/") {
			return "", false
		}
		d := digest.NewDigestFromEncoded(digest.Algorithm(alg), hex)
		if d.Validate() != nil {
			return "", false
		}
		return d, true
	}
	return "", false
}

// isManifestLink reports whether p is a manifest link.
func isManifestLink(p string) bool { return strings.Contains(p, "/_manifests/") }
