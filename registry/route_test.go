package registry

import "testing"

func TestParseRoute(t *testing.T) {
	t.Parallel()
	const d = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
	const id = "0123456789abcdef0123456789abcdef"
	tests := []struct {
		path string
		want route
		ok   bool
	}{
		{"", route{kind: routeBase}, true},
		{"_catalog", route{kind: routeCatalog}, true},
		{"_catalog/", route{}, false},
		{"a", route{}, false},
		{"a/b", route{}, false},

		{"a/tags/list", route{kind: routeTags, name: "a"}, true},
		{"library/alpine/tags/list", route{kind: routeTags, name: "library/alpine"}, true},
		{"a/tags/tags/list", route{kind: routeTags, name: "a/tags"}, true},
		{"tags/list", route{}, false},
		{"a/tags/list/", route{}, false},
		{"a/tags/", route{}, false},

		{"a/blobs/" + d, route{kind: routeBlob, name: "a", ref: d}, true},
		{"quay.io/org/img/blobs/" + d, route{kind: routeBlob, name: "quay.io/org/img", ref: d}, true},
		{"a/blobs/b/blobs/" + d, route{kind: routeBlob, name: "a/blobs/b", ref: d}, true},
		{"a/manifests/blobs/" + d, route{kind: routeBlob, name: "a/manifests", ref: d}, true},
		{"a/blobs/", route{}, false},
		{"blobs/" + d, route{}, false},

		{"a/blobs/uploads/", route{kind: routeUploads, name: "a"}, true},
		{"a/blobs/uploads", route{kind: routeUploads, name: "a"}, true},
		{"a/b/c/blobs/uploads/", route{kind: routeUploads, name: "a/b/c"}, true},
		{"a/blobs/blobs/uploads/", route{kind: routeUploads, name: "a/blobs"}, true},
		{"a/uploads/blobs/uploads", route{kind: routeUploads, name: "a/uploads"}, true},
		{"a/blobs/uploads/" + id, route{kind: routeUpload, name: "a", ref: id}, true},
		{"a/blobs/blobs/uploads/" + id, route{kind: routeUpload, name: "a/blobs", ref: id}, true},
		{"a/blobs/uploads/" + id + "/", route{}, false},
		{"a/blobs/uploads/" + id + "/x", route{}, false},

		{"a/manifests/latest", route{kind: routeManifest, name: "a", ref: "latest"}, true},
		{"a/manifests/" + d, route{kind: routeManifest, name: "a", ref: d}, true},
		{"a/blobs/b/manifests/latest", route{kind: routeManifest, name: "a/blobs/b", ref: "latest"}, true},
		{"a/blobs/uploads/manifests/v1", route{kind: routeManifest, name: "a/blobs/uploads", ref: "v1"}, true},
		{"a/tags/manifests/list", route{kind: routeManifest, name: "a/tags", ref: "list"}, true},
		{"a/manifests/manifests/x", route{kind: routeManifest, name: "a/manifests", ref: "x"}, true},
		{"a/referrers/manifests/x", route{kind: routeManifest, name: "a/referrers", ref: "x"}, true},
		{"a/manifests/", route{}, false},
		{"manifests/latest", route{}, false},

		{"a/referrers/" + d, route{kind: routeReferrers, name: "a", ref: d}, true},
		{"a/b/referrers/" + d, route{kind: routeReferrers, name: "a/b", ref: d}, true},
		{"a/referrers/", route{}, false},

		// An empty name is routed; the handlers refuse it as NAME_INVALID.
		{"/manifests/latest", route{kind: routeManifest, name: "", ref: "latest"}, true},
	}
	for _, tt := range tests {
		got, ok := parseRoute(tt.path)
		if ok != tt.ok || (ok && got != tt.want) {
			t.Errorf("parseRoute(%q) = %+v, %v; want %+v, %v", tt.path, got, ok, tt.want, tt.ok)
		}
	}
}
