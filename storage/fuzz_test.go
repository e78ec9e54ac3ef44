package storage

import (
	"bytes"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// FuzzParseManifest: any bytes under any media type are parsed or refused,
// never a panic; what is accepted parses the same way twice and names only
// well-formed digests.
func FuzzParseManifest(f *testing.F) {
	f.Add("application/vnd.oci.image.manifest.v1+json", []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}`))
	f.Add("application/vnd.oci.image.index.v1+json", []byte(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2,"platform":{"os":"linux","architecture":"amd64"}}]}`))
	f.Add("application/vnd.docker.distribution.manifest.v2+json", []byte(`{"schemaVersion":2,"config":{"digest":"sha256:x"}}`))
	f.Add("", []byte(`{"schemaVersion":2,"subject":{"digest":"sha512:00"},"layers":[{"digest":"sha256:`+"44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"+`","size":-1}]}`))
	f.Add("application/json", []byte(`[]`))
	f.Fuzz(func(t *testing.T, contentType string, data []byte) {
		p, err := ParseManifest(contentType, bytes.Clone(data))
		if err != nil {
			return
		}
		q, err := ParseManifest(contentType, bytes.Clone(data))
		if err != nil {
			t.Fatalf("accepted once, refused the second time: %v", err)
		}
		if len(p.Layers) != len(q.Layers) || len(p.Manifests) != len(q.Manifests) {
			t.Fatalf("two parses disagree")
		}
		refs := append(append([]ocispec.Descriptor(nil), p.Layers...), p.Manifests...)
		if p.Config != nil {
			refs = append(refs, *p.Config)
		}
		if p.Subject != nil {
			refs = append(refs, *p.Subject)
		}
		for _, d := range refs {
			if err := d.Digest.Validate(); err != nil {
				t.Fatalf("accepted a manifest naming %q: %v", d.Digest, err)
			}
		}
	})
}
