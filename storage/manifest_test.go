package storage

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

func TestParseManifest(t *testing.T) {
	t.Parallel()
	cfg := descOf("application/vnd.oci.image.config.v1+json", []byte("config"))
	layer := descOf("application/vnd.oci.image.layer.v1.tar+gzip", []byte("layer"))
	child := descOf(MediaTypeOCIManifest, []byte("child"))
	subject := descOf(MediaTypeOCIManifest, []byte("subject"))
	with := func(d obj, k string, v any) obj {
		c := obj{}
		for a, b := range d {
			c[a] = b
		}
		c[k] = v
		return c
	}
	image := func(mt string, extra ...any) obj {
		m := obj{"schemaVersion": 2, "config": cfg, "layers": []obj{layer}}
		if mt != "" {
			m["mediaType"] = mt
		}
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i].(string)] = extra[i+1]
		}
		return m
	}
	index := func(mt string, extra ...any) obj {
		m := obj{"schemaVersion": 2, "manifests": []obj{child}}
		if mt != "" {
			m["mediaType"] = mt
		}
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i].(string)] = extra[i+1]
		}
		return m
	}
	const (
		dockerConfig = "application/vnd.docker.container.image.v1+json"
		schema1      = "application/vnd.docker.distribution.manifest.v1+json"
		schema1JWS   = "application/vnd.docker.distribution.manifest.v1+prettyjws"
	)
	type want struct {
		mediaType, artifactType string
		layers, manifests       int
		subject                 bool
	}
	tests := []struct {
		name        string
		contentType string
		body        any // an obj, or a string taken as is
		want        want
		invalid     string // part of the reason, when invalid
	}{
		// The four kinds, as clients push them.
		{"oci manifest", MediaTypeOCIManifest, image(MediaTypeOCIManifest), want{MediaTypeOCIManifest, cfg["mediaType"].(string), 1, 0, false}, ""},
		{"docker manifest", MediaTypeDockerManifest, image(MediaTypeDockerManifest, "config", with(cfg, "mediaType", dockerConfig)), want{MediaTypeDockerManifest, dockerConfig, 1, 0, false}, ""},
		{"oci index", MediaTypeOCIIndex, index(MediaTypeOCIIndex), want{MediaTypeOCIIndex, "", 0, 1, false}, ""},
		{"docker list", MediaTypeDockerList, index(MediaTypeDockerList), want{MediaTypeDockerList, "", 0, 1, false}, ""},
		{"manifest without layers", MediaTypeOCIManifest, image(MediaTypeOCIManifest, "layers", []obj{}), want{MediaTypeOCIManifest, cfg["mediaType"].(string), 0, 0, false}, ""},
		{"empty index", MediaTypeOCIIndex, obj{"schemaVersion": 2, "mediaType": MediaTypeOCIIndex, "manifests": []obj{}}, want{MediaTypeOCIIndex, "", 0, 0, false}, ""},
		// Artifacts.
		{"artifact with artifactType", MediaTypeOCIManifest, image(MediaTypeOCIManifest, "artifactType", "application/vnd.example.sig", "subject", subject),
			want{MediaTypeOCIManifest, "application/vnd.example.sig", 1, 0, true}, ""},
		{"artifact typed by its config", MediaTypeOCIManifest, image(MediaTypeOCIManifest, "config", with(cfg, "mediaType", "application/vnd.example.sbom"), "subject", subject),
			want{MediaTypeOCIManifest, "application/vnd.example.sbom", 1, 0, true}, ""},
		{"index artifact", MediaTypeOCIIndex, index(MediaTypeOCIIndex, "artifactType", "application/vnd.example.bundle", "subject", subject),
			want{MediaTypeOCIIndex, "application/vnd.example.bundle", 0, 1, true}, ""},
		// What the media type is when the body does not say.
		{"no mediaType: the Content-Type", MediaTypeDockerManifest, image(""), want{MediaTypeDockerManifest, cfg["mediaType"].(string), 1, 0, false}, ""},
		{"no mediaType: Content-Type with parameters", MediaTypeOCIManifest + "; charset=utf-8", image(""), want{MediaTypeOCIManifest, cfg["mediaType"].(string), 1, 0, false}, ""},
		{"no mediaType, no Content-Type: an image", "", image(""), want{MediaTypeOCIManifest, cfg["mediaType"].(string), 1, 0, false}, ""},
		{"no mediaType, no Content-Type: an index", "", index(""), want{MediaTypeOCIIndex, "", 0, 1, false}, ""},
		{"no mediaType, application/json", "application/json", index(""), want{MediaTypeOCIIndex, "", 0, 1, false}, ""},
		{"no mediaType, octet-stream", "application/octet-stream", image(""), want{MediaTypeOCIManifest, cfg["mediaType"].(string), 1, 0, false}, ""},
		{"mediaType, generic Content-Type", "application/json", image(MediaTypeDockerManifest), want{MediaTypeDockerManifest, cfg["mediaType"].(string), 1, 0, false}, ""},
		{"mediaType, no Content-Type", "", index(MediaTypeDockerList), want{MediaTypeDockerList, "", 0, 1, false}, ""},
		{"unknown type with manifests: an index", "application/vnd.example.list+json", index(""), want{"application/vnd.example.list+json", "", 0, 1, false}, ""},
		{"unknown type with config: an image", "application/vnd.example.image+json", image(""), want{"application/vnd.example.image+json", cfg["mediaType"].(string), 1, 0, false}, ""},
		// Invalid.
		{"not JSON", MediaTypeOCIManifest, "not json", want{}, "JSON"},
		{"empty body", MediaTypeOCIManifest, "", want{}, "JSON"},
		{"JSON array", MediaTypeOCIManifest, "[]", want{}, "JSON"},
		{"JSON null", MediaTypeOCIManifest, "null", want{}, "schemaVersion"},
		{"schema 1 by Content-Type", schema1, obj{"schemaVersion": 1, "name": "a", "tag": "b", "fsLayers": []obj{}}, want{}, "schema 1"},
		{"schema 1 signed by Content-Type", schema1JWS, obj{"schemaVersion": 1, "name": "a", "tag": "b"}, want{}, "schema 1"},
		{"schema 1 by mediaType", "", obj{"schemaVersion": 1, "mediaType": schema1}, want{}, "schema 1"},
		{"schema 2 body sent as schema 1", schema1, image(""), want{}, "schema 1"},
		{"schemaVersion 1", MediaTypeOCIManifest, image(MediaTypeOCIManifest, "schemaVersion", 1), want{}, "schemaVersion"},
		{"schemaVersion 3", MediaTypeOCIManifest, image(MediaTypeOCIManifest, "schemaVersion", 3), want{}, "schemaVersion"},
		{"schemaVersion missing", MediaTypeOCIManifest, obj{"mediaType": MediaTypeOCIManifest, "config": cfg, "layers": []obj{}}, want{}, "schemaVersion"},
		{"schemaVersion a string", MediaTypeOCIManifest, image(MediaTypeOCIManifest, "schemaVersion", "2"), want{}, "JSON"},
		{"mediaType not the Content-Type", MediaTypeDockerManifest, image(MediaTypeOCIManifest), want{}, "does not match"},
		{"index mediaType not the Content-Type", MediaTypeOCIIndex, index(MediaTypeDockerList), want{}, "does not match"},
		{"index with layers", MediaTypeOCIIndex, index(MediaTypeOCIIndex, "layers", []obj{layer}), want{}, "index"},
		{"index with config", MediaTypeOCIIndex, index(MediaTypeOCIIndex, "config", cfg), want{}, "index"},
		{"docker list with layers", MediaTypeDockerList, index(MediaTypeDockerList, "layers", []obj{}), want{}, "index"},
		{"image with manifests", MediaTypeOCIManifest, image(MediaTypeOCIManifest, "manifests", []obj{child}), want{}, "manifests"},
		{"image without config", MediaTypeOCIManifest, obj{"schemaVersion": 2, "mediaType": MediaTypeOCIManifest, "layers": []obj{layer}}, want{}, "config"},
		{"negative layer size", MediaTypeOCIManifest, image(MediaTypeOCIManifest, "layers", []obj{with(layer, "size", -1)}), want{}, "negative"},
		{"negative config size", MediaTypeOCIManifest, image(MediaTypeOCIManifest, "config", with(cfg, "size", -5)), want{}, "negative"},
		{"negative child size", MediaTypeOCIIndex, index(MediaTypeOCIIndex, "manifests", []obj{with(child, "size", -1)}), want{}, "negative"},
		{"bad layer digest", MediaTypeOCIManifest, image(MediaTypeOCIManifest, "layers", []obj{with(layer, "digest", "sha256:abc")}), want{}, "digest"},
		{"bad config digest", MediaTypeOCIManifest, image(MediaTypeOCIManifest, "config", with(cfg, "digest", "nonsense")), want{}, "digest"},
		{"missing layer digest", MediaTypeOCIManifest, image(MediaTypeOCIManifest, "layers", []obj{{"mediaType": "x", "size": 1}}), want{}, "digest"},
		{"bad child digest", MediaTypeOCIIndex, index(MediaTypeOCIIndex, "manifests", []obj{with(child, "digest", "md5:d41d8cd98f00b204e9800998ecf8427e")}), want{}, "digest"},
		{"bad subject digest", MediaTypeOCIManifest, image(MediaTypeOCIManifest, "subject", with(subject, "digest", "sha256:xyz")), want{}, "subject"},
	}
	for _, tt := range tests {
		var data []byte
		if s, ok := tt.body.(string); ok {
			data = []byte(s)
		} else {
			data = mustJSON(tt.body)
		}
		p, err := ParseManifest(tt.contentType, data)
		if tt.invalid != "" {
			var inv *ManifestInvalidError
			if !errors.As(err, &inv) {
				t.Errorf("%s: ParseManifest = %+v, %v; want ManifestInvalidError", tt.name, p, err)
			} else if !strings.Contains(inv.Reason, tt.invalid) {
				t.Errorf("%s: reason %q does not mention %q", tt.name, inv.Reason, tt.invalid)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: ParseManifest: %v", tt.name, err)
			continue
		}
		got := want{p.MediaType, p.ArtifactType, len(p.Layers), len(p.Manifests), p.Subject != nil}
		if got != tt.want {
			t.Errorf("%s: ParseManifest = %+v, want %+v", tt.name, got, tt.want)
		}
		if tt.want.subject && p.Subject.Digest != digest.FromBytes([]byte("subject")) {
			t.Errorf("%s: subject %s", tt.name, p.Subject.Digest)
		}
		if n := len(p.Descriptors()); n != tt.want.layers+tt.want.manifests+boolInt(p.Config != nil) {
			t.Errorf("%s: Descriptors() has %d entries", tt.name, n)
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// RequiredBlobs: the config and the layers a registry must hold, without
// the non-distributable layers, which live elsewhere by definition.
func TestRequiredBlobs(t *testing.T) {
	t.Parallel()
	cfg := descOf("application/vnd.oci.image.config.v1+json", []byte("config"))
	layer := func(mt, content string, urls ...string) obj {
		d := descOf(mt, []byte(content))
		if len(urls) > 0 {
			d["urls"] = urls
		}
		return d
	}
	m := obj{"schemaVersion": 2, "mediaType": MediaTypeOCIManifest, "config": cfg, "layers": []obj{
		layer("application/vnd.oci.image.layer.v1.tar+gzip", "plain"),
		layer("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", "oci nondistributable"),
		layer("application/vnd.oci.image.layer.nondistributable.v1.tar", "oci nondistributable tar"),
		layer("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", "docker foreign", "https://example.com/a"),
		layer("application/vnd.oci.image.layer.v1.tar+zstd", "with urls", "https://example.com/b"),
		layer("application/vnd.oci.image.layer.v1.tar", "plain tar"),
	}}
	p, err := ParseManifest(MediaTypeOCIManifest, mustJSON(m))
	if err != nil {
		t.Fatal(err)
	}
	var got []digest.Digest
	for _, d := range p.RequiredBlobs() {
		got = append(got, d.Digest)
	}
	want := []digest.Digest{digest.FromString("config"), digest.FromString("plain"), digest.FromString("plain tar")}
	if !slices.Equal(got, want) {
		t.Errorf("RequiredBlobs() = %v, want %v", got, want)
	}

	idx, err := ParseManifest(MediaTypeOCIIndex, mustJSON(obj{"schemaVersion": 2, "manifests": []obj{descOf(MediaTypeOCIManifest, []byte("c"))}}))
	if err != nil {
		t.Fatal(err)
	}
	if b := idx.RequiredBlobs(); len(b) != 0 {
		t.Errorf("an index requires blobs: %v", b)
	}
}

func TestIsIndex(t *testing.T) {
	t.Parallel()
	for mt, want := range map[string]bool{
		MediaTypeOCIIndex: true, MediaTypeDockerList: true, MediaTypeOCIManifest: false, MediaTypeDockerManifest: false, "": false,
	} {
		if IsIndex(mt) != want {
			t.Errorf("IsIndex(%q) = %v", mt, !want)
		}
	}
	if len(ManifestMediaTypes) != 4 {
		t.Errorf("ManifestMediaTypes = %q", ManifestMediaTypes)
	}
}
