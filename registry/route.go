package registry

import "strings"

// A route is what a /v2/ path asks for. Repository names contain slashes, so
// a router pattern cannot capture them (chi's {name} stops at the next "/");
// the path is split from the right instead, where its shape is fixed.
type route struct {
	kind string // one of the kind constants
	name string // repository name as written in the URL
	ref  string // digest, tag or upload id; "" where the route has none
}

const (
	routeBase      = "base"
	routeCatalog   = "catalog"
	routeBlob      = "blob"
	routeUploads   = "uploads" // POST …/blobs/uploads/
	routeUpload    = "upload"  // …/blobs/uploads/<id>
	routeManifest  = "manifest"
	routeTags      = "tags"
	routeReferrers = "referrers"
)

// parseRoute parses a path below /v2/ (without that prefix).
func parseRoute(p string) (route, bool) {
	switch p {
	case "":
		return route{kind: routeBase}, true
	case "_catalog":
		return route{kind: routeCatalog}, true
	}
	parts := strings.Split(p, "/")
	n := len(parts)
	name := func(k int) string { return strings.Join(parts[:n-k], "/") }
	switch {
	case n >= 3 && parts[n-2] == "tags" && parts[n-1] == "list":
		return route{kind: routeTags, name: name(2)}, true
	case n >= 4 && parts[n-3] == "blobs" && parts[n-2] == "uploads":
		if parts[n-1] == "" {
			return route{kind: routeUploads, name: name(3)}, true
		}
		return route{kind: routeUpload, name: name(3), ref: parts[n-1]}, true
	case n >= 3 && parts[n-2] == "blobs" && parts[n-1] == "uploads":
		return route{kind: routeUploads, name: name(2)}, true
	case n >= 3 && parts[n-2] == "blobs" && parts[n-1] != "":
		return route{kind: routeBlob, name: name(2), ref: parts[n-1]}, true
	case n >= 3 && parts[n-2] == "manifests" && parts[n-1] != "":
		return route{kind: routeManifest, name: name(2), ref: parts[n-1]}, true
	case n >= 3 && parts[n-2] == "referrers" && parts[n-1] != "":
		return route{kind: routeReferrers, name: name(2), ref: parts[n-1]}, true
	}
	return route{}, false
}
