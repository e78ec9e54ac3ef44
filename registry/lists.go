package registry

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strconv"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/shadowreg/shadowreg/registry/auth"
	"github.com/shadowreg/shadowreg/storage"
)

// paginate applies ?n= and ?last= to a sorted list and sets the Link
// header when more remain.
func paginate(w http.ResponseWriter, r *http.Request, all []string) ([]string, error) {
	q := r.URL.Query()
	if last := q.Get("last"); last != "" {
		i := sort.SearchStrings(all, last)
		if i < len(all) && all[i] == last {
			i++
		}
		all = all[i:]
	}
	nv := q.Get("n")
	if nv == "" {
		return all, nil
	}
	n, err := strconv.Atoi(nv)
	if err != nil || n < 0 {
		return nil, errorf("PAGINATION_NUMBER_INVALID", "n must be a number >= 0, not %q", nv)
	}
	if n >= len(all) {
		return all, nil
	}
	page := all[:n]
	if n > 0 {
		next := url.Values{"n": {nv}, "last": {page[n-1]}}
		w.Header().Set("Link", "<"+r.URL.Path+"?"+next.Encode()+`>; rel="next"`)
	}
	return page, nil
}

func writeJSON(w http.ResponseWriter, r *http.Request, contentType string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(b)
	}
	return nil
}

func (s *Server) tagsList(w http.ResponseWriter, r *http.Request, req *request) error {
	repo, err := s.repo(r, req)
	if err != nil {
		return err
	}
	tags, err := repo.Tags(r.Context())
	if err != nil {
		return err
	}
	if tags, err = paginate(w, r, tags); err != nil {
		return err
	}
	return writeJSON(w, r, "application/json", struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}{req.name, nonNil(tags)})
}

func (s *Server) catalog(w http.ResponseWriter, r *http.Request, req *request) error {
	targets, err := s.opts.Resolver.Catalog(r.Context(), req.bound())
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	repos := []string{}
	for _, t := range targets {
		if s.opts.Authorizer != nil {
			// A user limited to some name prefixes sees only those.
			ok, err := s.opts.Authorizer.Permits(r.Context(), req.id, auth.Repository(t.String(), auth.ActionPull))
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
		}
		if n := t.Display(); !seen[n] {
			seen[n] = true
			repos = append(repos, n)
		}
	}
	sort.Strings(repos)
	if repos, err = paginate(w, r, repos); err != nil {
		return err
	}
	return writeJSON(w, r, "application/json", struct {
		Repositories []string `json:"repositories"`
	}{nonNil(repos)})
}

// referrers answers the referrers API: an OCI index of the manifests whose
// subject is the digest, optionally only those of one artifactType. An
// unknown digest or repository has an empty list, not a 404.
func (s *Server) referrers(w http.ResponseWriter, r *http.Request, req *request) error {
	d, err := digest.Parse(req.ref)
	if err != nil {
		return errorf("DIGEST_INVALID", "invalid digest %q: %v", req.ref, err)
	}
	repo, err := s.repo(r, req)
	if err != nil {
		return err
	}
	descs, err := repo.Referrers(r.Context(), d)
	if err != nil && !errors.Is(err, storage.ErrNameUnknown) {
		return err
	}
	if at := r.URL.Query().Get("artifactType"); at != "" {
		kept := descs[:0]
		for _, desc := range descs {
			if desc.ArtifactType == at {
				kept = append(kept, desc)
			}
		}
		descs = kept
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	if descs == nil {
		descs = []ocispec.Descriptor{}
	}
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: descs}
	idx.SchemaVersion = 2
	return writeJSON(w, r, ocispec.MediaTypeImageIndex, idx)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
