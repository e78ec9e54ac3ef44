package registry

import (
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"
	"github.com/shadowreg/shadowreg/storage"
)

// defaultPlatform is what an index resolves to for a client that cannot
// take an index (old docker clients), as distribution does.
const defaultPlatformOS, defaultPlatformArch = "linux", "amd64"

// manifestGet serves GET and HEAD of a manifest by tag or digest, in a
// media type the client accepts.
func (s *Server) manifestGet(w http.ResponseWriter, r *http.Request, req *request) error {
	repo, err := s.repo(r, req)
	if err != nil {
		return err
	}
	if strings.Contains(req.ref, ":") {
		if _, err := parseDigest(req.ref); err != nil {
			return err
		}
	} else if !storage.ValidTag(req.ref) {
		return errorf("TAG_INVALID", "invalid tag %q", req.ref)
	}
	accept := parseAccept(r.Header)
	ctx := r.Context()
	if r.Method == http.MethodHead {
		desc, err := repo.ManifestStat(ctx, req.ref)
		if err != nil {
			return err
		}
		if accept.accepts(desc.MediaType) {
			h := w.Header()
			h.Set("Content-Type", desc.MediaType)
			h.Set("Content-Length", strconv.FormatInt(desc.Size, 10))
			h.Set("Docker-Content-Digest", desc.Digest.String())
			h.Set("ETag", `"`+desc.Digest.String()+`"`)
			w.WriteHeader(http.StatusOK)
			return nil
		}
		// Not acceptable as is: resolve it the way GET would.
	}
	m, err := repo.Manifest(ctx, req.ref)
	if err != nil {
		return err
	}
	if !accept.accepts(m.MediaType) {
		if m, err = s.negotiate(r, repo, m, accept); err != nil {
			return err
		}
	}
	h := w.Header()
	h.Set("Content-Type", m.MediaType)
	h.Set("Content-Length", strconv.Itoa(len(m.Data)))
	h.Set("Docker-Content-Digest", m.Digest.String())
	h.Set("ETag", `"`+m.Digest.String()+`"`)
	if inm := r.Header.Get("If-None-Match"); inm != "" && strings.Trim(inm, `"`) == m.Digest.String() {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(m.Data)
	}
	return nil
}

// negotiate finds a form of m the client accepts: for an index, its
// linux/amd64 manifest when the client takes that type.
func (s *Server) negotiate(r *http.Request, repo Repository, m *storage.Manifest, accept acceptSet) (*storage.Manifest, error) {
	if storage.IsIndex(m.MediaType) {
		p, err := storage.ParseManifest(m.MediaType, m.Data)
		if err == nil {
			for _, child := range p.Manifests {
				if child.Platform != nil && child.Platform.OS == defaultPlatformOS &&
					child.Platform.Architecture == defaultPlatformArch && accept.accepts(child.MediaType) {
					return repo.Manifest(r.Context(), child.Digest.String())
				}
			}
		}
	}
	return nil, errorf("MANIFEST_UNKNOWN", "the manifest is %s, which the client does not accept (Accept: %s)",
		m.MediaType, strings.Join(r.Header.Values("Accept"), ", "))
}

// manifestPut stores a manifest by tag or digest (PUT), with ?tag= for more
// tags, after checking that everything it references is there.
func (s *Server) manifestPut(w http.ResponseWriter, r *http.Request, req *request) error {
	repo, err := s.repo(r, req)
	if err != nil {
		return err
	}
	max := s.opts.MaxManifestBytes
	if r.ContentLength > max {
		return errorf("SIZE_INVALID", "manifest of %d bytes is larger than the limit of %d", r.ContentLength, max).WithStatus(http.StatusRequestEntityTooLarge)
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, max+1))
	if err != nil {
		return errorf("MANIFEST_INVALID", "reading the manifest: %v", err)
	}
	if int64(len(data)) > max {
		return errorf("SIZE_INVALID", "manifest is larger than the limit of %d bytes", max).WithStatus(http.StatusRequestEntityTooLarge)
	}
	p, err := storage.ParseManifest(r.Header.Get("Content-Type"), data)
	if err != nil {
		return err
	}
	var d digest.Digest
	var tags []string
	if strings.Contains(req.ref, ":") {
		want, err := parseDigest(req.ref)
		if err != nil {
			return err
		}
		if d = want.Algorithm().FromBytes(data); d != want {
			return errorf("DIGEST_INVALID", "the manifest's digest is %s, not %s", d, want)
		}
	} else {
		if !storage.ValidTag(req.ref) {
			return errorf("TAG_INVALID", "invalid tag %q", req.ref)
		}
		d = digest.FromBytes(data)
		tags = append(tags, req.ref)
	}
	for _, t := range r.URL.Query()["tag"] {
		if !storage.ValidTag(t) {
			return errorf("TAG_INVALID", "invalid tag %q", t)
		}
		tags = append(tags, t)
	}
	// The repository checks the references once (storage.PutManifest).
	m := &storage.Manifest{Digest: d, MediaType: p.MediaType, Data: data}
	if err := repo.PutManifest(r.Context(), m, p, tags...); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Location", "/v2/"+s.written(req)+"/manifests/"+d.String())
	h.Set("Docker-Content-Digest", d.String())
	if p.Subject != nil {
		h.Set("OCI-Subject", p.Subject.Digest.String())
	}
	if q := r.URL.Query()["tag"]; len(q) > 0 {
		h.Set("OCI-Tag", strings.Join(q, ","))
	}
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
	return nil
}

// manifestDelete deletes a manifest by digest, or a tag.
func (s *Server) manifestDelete(w http.ResponseWriter, r *http.Request, req *request) error {
	repo, err := s.repo(r, req)
	if err != nil {
		return err
	}
	if strings.Contains(req.ref, ":") {
		d, perr := parseDigest(req.ref)
		if perr != nil {
			return perr
		}
		err = repo.Local().DeleteManifest(r.Context(), d)
	} else {
		if !storage.ValidTag(req.ref) {
			return errorf("TAG_INVALID", "invalid tag %q", req.ref)
		}
		err = repo.Local().DeleteTag(r.Context(), req.ref)
	}
	if err != nil {
		return err
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
	return nil
}
