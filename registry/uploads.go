package registry

import (
	"errors"
	"net/http"

	"github.com/opencontainers/go-digest"
	"github.com/shadowreg/shadowreg/storage"
)

// written is the name Location headers give the request's target: the
// name as the client wrote it, or, when ?ns= took part in resolving it, one
// that reaches the same repository without (clients follow a Location as
// it is, and an upload session belongs to one repository).
func (s *Server) written(req *request) string {
	if req.viaNS {
		return s.opts.Names.Written(req.target, req.bound())
	}
	return req.name
}

func uploadLocation(name, id string) string { return "/v2/" + name + "/blobs/uploads/" + id }

func blobLocation(name string, d digest.Digest) string { return "/v2/" + name + "/blobs/" + d.String() }

// uploadStart answers POST …/blobs/uploads/: a cross-repository mount
// (?mount=&from=), a whole blob in one request (?digest=), or a new session.
func (s *Server) uploadStart(w http.ResponseWriter, r *http.Request, req *request) error {
	repo, err := s.repo(r, req)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	if m := q.Get("mount"); m != "" {
		if done, err := s.mount(w, r, req, repo, m, q.Get("from") != ""); done || err != nil {
			return err
		}
		// Nothing to mount: fall back to an ordinary upload session, as
		// the spec asks (202), so the client just pushes the blob.
	}
	// A digest named now (a monolithic POST) picks the hash its bytes
	// stream through: a sha512 blob is then not read again to verify it.
	alg := digest.SHA256
	if d, err := digest.Parse(q.Get("digest")); err == nil {
		alg = d.Algorithm()
	}
	up, err := repo.Local().UploadStartHashing(r.Context(), alg)
	if err != nil {
		return err
	}
	if dv := q.Get("digest"); dv != "" {
		return s.finishUpload(w, r, req, up, dv)
	}
	return writeUploadStatus(w, s.written(req), up, http.StatusAccepted)
}

// mount links a blob another repository holds into this one. done is false
// when there is nothing to mount. withFrom says the client named a source:
// req.from is it when it resolved (Authorize checked pull on it).
func (s *Server) mount(w http.ResponseWriter, r *http.Request, req *request, repo Repository, mount string, withFrom bool) (done bool, err error) {
	d, err := parseDigest(mount)
	if err != nil {
		return false, err
	}
	var src *storage.Repo
	switch {
	case withFrom && req.from == nil:
		return false, nil // a source that does not resolve: push the blob instead
	case withFrom:
		fromRepo, err := s.opts.Resolver.Repository(r.Context(), *req.from, false)
		if err != nil {
			return false, nil // a source that cannot be opened is a miss too
		}
		src = fromRepo.Local()
	case s.opts.Authorizer != nil && !req.id.MountsAnywhere():
		// Without a source the blob is found by digest anywhere in the
		// store: only for identities that may read everything, lest a
		// user limited to some names, or a buildset's credentials, link
		// content they could not read.
		return false, nil
	}
	_, err = repo.Local().BlobMount(r.Context(), d, src)
	if errors.Is(err, storage.ErrBlobUnknown) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	h := w.Header()
	h.Set("Location", blobLocation(s.written(req), d))
	h.Set("Docker-Content-Digest", d.String())
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
	return true, nil
}

func (s *Server) upload(r *http.Request, req *request) (*storage.Upload, error) {
	repo, err := s.repo(r, req)
	if err != nil {
		return nil, err
	}
	return repo.Local().Upload(r.Context(), req.ref)
}

// chunkBounds reads where a chunk starts and how long it is from
// Content-Range and Content-Length: (-1, -1) when the client said neither,
// as docker does for its one streamed PATCH.
func chunkBounds(r *http.Request) (start, length int64, err error) {
	start, length = -1, r.ContentLength
	if cr := r.Header.Get("Content-Range"); cr != "" {
		first, last, perr := parseContentRange(cr)
		if perr != nil {
			return 0, 0, errorf("BLOB_UPLOAD_INVALID", "%v", perr).WithStatus(http.StatusRequestedRangeNotSatisfiable)
		}
		n := last - first + 1
		if length >= 0 && length != n {
			return 0, 0, errorf("SIZE_INVALID", "Content-Range %q says %d bytes but Content-Length says %d", cr, n, length)
		}
		start, length = first, n
	}
	return start, length, nil
}

// uploadPatch appends a chunk (PATCH).
func (s *Server) uploadPatch(w http.ResponseWriter, r *http.Request, req *request) error {
	up, err := s.upload(r, req)
	if err != nil {
		return err
	}
	start, length, err := chunkBounds(r)
	if err != nil {
		return err
	}
	if err := up.Append(r.Context(), r.Body, start, length); err != nil {
		return uploadError(err, s.written(req), up)
	}
	return writeUploadStatus(w, s.written(req), up, http.StatusAccepted)
}

// uploadPut finishes an upload (PUT ?digest=), with an optional last chunk.
func (s *Server) uploadPut(w http.ResponseWriter, r *http.Request, req *request) error {
	up, err := s.upload(r, req)
	if err != nil {
		return err
	}
	return s.finishUpload(w, r, req, up, r.URL.Query().Get("digest"))
}

func (s *Server) finishUpload(w http.ResponseWriter, r *http.Request, req *request, up *storage.Upload, dv string) error {
	if dv == "" {
		return errorf("DIGEST_INVALID", "the digest query parameter is required to finish an upload")
	}
	d, err := parseDigest(dv)
	if err != nil {
		return err
	}
	start, length, err := chunkBounds(r)
	if err != nil {
		return err
	}
	if err := up.Append(r.Context(), r.Body, start, length); err != nil {
		return uploadError(err, s.written(req), up)
	}
	if _, err := up.Commit(r.Context(), d); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Location", blobLocation(s.written(req), d))
	h.Set("Docker-Content-Digest", d.String())
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
	return nil
}

// uploadError adds what a client needs to recover from a chunk out of
// order: where the upload is, and where it ends.
func uploadError(err error, name string, up *storage.Upload) error {
	e := asError(err)
	var off *storage.OffsetError
	if errors.As(err, &off) {
		e.WithHeader("Location", uploadLocation(name, up.ID()))
		e.WithHeader("Docker-Upload-UUID", up.ID())
	}
	return e
}

func (s *Server) uploadStatus(w http.ResponseWriter, r *http.Request, req *request) error {
	up, err := s.upload(r, req)
	if err != nil {
		return err
	}
	return writeUploadStatus(w, s.written(req), up, http.StatusNoContent)
}

func (s *Server) uploadCancel(w http.ResponseWriter, r *http.Request, req *request) error {
	up, err := s.upload(r, req)
	if err != nil {
		return err
	}
	if err := up.Cancel(r.Context()); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func writeUploadStatus(w http.ResponseWriter, name string, up *storage.Upload, status int) error {
	h := w.Header()
	h.Set("Location", uploadLocation(name, up.ID()))
	h.Set("Range", uploadRange(up.Offset()))
	h.Set("Docker-Upload-UUID", up.ID())
	if status != http.StatusNoContent {
		h.Set("Content-Length", "0")
	}
	w.WriteHeader(status)
	return nil
}
