package registry

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/shadowreg/shadowreg/storage"
)

// blobRedirectExpiry is how long a presigned blob URL handed to a client
// stays valid: long enough for a slow client to start, short enough that a
// leaked URL soon stops working.
const blobRedirectExpiry = 20 * time.Minute

func parseDigest(s string) (digest.Digest, error) {
	d, err := digest.Parse(s)
	if err != nil {
		return "", errorf("DIGEST_INVALID", "invalid digest %q: %v", s, err)
	}
	if !d.Algorithm().Available() {
		return "", errorf("DIGEST_INVALID", "unsupported digest algorithm %q", d.Algorithm())
	}
	return d, nil
}

// blobGet serves GET and HEAD of a blob, whole or one byte range.
func (s *Server) blobGet(w http.ResponseWriter, r *http.Request, req *request) error {
	d, err := parseDigest(req.ref)
	if err != nil {
		return err
	}
	repo, err := s.repo(r, req)
	if err != nil {
		return err
	}
	// HEAD only asks: a stat. GET opens the blob, which for a blob only
	// upstream has starts the fetch and learns the size from it, so a cold
	// GET costs upstream one request, not a HEAD and a GET.
	var blob storage.Blob
	var desc ocispec.Descriptor
	if r.Method == http.MethodHead {
		desc, err = repo.BlobStat(r.Context(), d)
	} else if blob, err = repo.BlobOpen(r.Context(), d); err == nil {
		defer blob.Close() // whatever the answer: a 304 or 416 reads nothing
		desc = blob.Descriptor()
	}
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Docker-Content-Digest", d.String())
	h.Set("ETag", `"`+d.String()+`"`)
	h.Set("Accept-Ranges", "bytes")
	h.Set("Cache-Control", "max-age=31536000") // content by digest never changes
	h.Set("Content-Type", "application/octet-stream")
	if inm := r.Header.Get("If-None-Match"); inm != "" && (inm == `"`+d.String()+`"` || inm == d.String()) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	rng, partial, err := parseRange(r.Header.Get("Range"), desc.Size)
	if errors.Is(err, errRangeUnsatisfiable) {
		return errorf("RANGE_INVALID", "range %q cannot be satisfied by a blob of %d bytes", r.Header.Get("Range"), desc.Size).
			WithHeader("Content-Range", "bytes */"+strconv.FormatInt(desc.Size, 10))
	}
	if !partial {
		rng = byteRange{start: 0, end: desc.Size - 1}
	}
	// Redirect what the storage holds, verified (found locally or in the
	// cache), never a blob still being fetched: the decision is made on
	// the blob opened, not on a second lookup.
	if rd, ok := blob.(storage.Redirecter); ok && r.Method == http.MethodGet && s.opts.RedirectBlobs {
		if url, ok := rd.URL(r.Context(), blobRedirectExpiry); ok {
			h.Del("Content-Type")
			http.Redirect(w, r, url, http.StatusTemporaryRedirect)
			return nil
		}
	}
	h.Set("Content-Length", strconv.FormatInt(rng.length(), 10))
	status := http.StatusOK
	if partial {
		status = http.StatusPartialContent
		h.Set("Content-Range", "bytes "+strconv.FormatInt(rng.start, 10)+"-"+strconv.FormatInt(rng.end, 10)+"/"+strconv.FormatInt(desc.Size, 10))
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(status)
		return nil
	}
	rc, err := storage.ReadRange(r.Context(), blob, rng.start, rng.end+1)
	if err != nil {
		return err
	}
	defer rc.Close()
	w.WriteHeader(status)
	// Headers out first: a stream that breaks then fails in the body,
	// where clients look for it, over HTTP/1.1 and HTTP/2 alike.
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	// The idle writer sends files (stored blobs, a fetch's spool) through
	// sendfile, under a deadline per stretch against clients that stall.
	// A short copy means the source broke mid-stream (or failed to
	// verify): panic with ErrAbortHandler so net/http drops the connection
	// rather than end a response that claimed more bytes.
	iw := newIdleWriter(w, s.opts.ClientIdleTimeout)
	defer iw.done()
	var n int64
	if rng.end == desc.Size-1 {
		n, err = iw.ReadFrom(rc)
	} else {
		n, err = iw.ReadFrom(io.LimitReader(rc, rng.length()))
	}
	if n < rng.length() {
		if r.Context().Err() == nil {
			s.log.Error("blob stream broke", "digest", d, "sent", n, "want", rng.length(), "err", err)
		}
		panic(http.ErrAbortHandler)
	}
	return nil
}

func (s *Server) blobDelete(w http.ResponseWriter, r *http.Request, req *request) error {
	d, err := parseDigest(req.ref)
	if err != nil {
		return err
	}
	repo, err := s.repo(r, req)
	if err != nil {
		return err
	}
	if err := repo.Local().BlobDelete(r.Context(), d); err != nil {
		return err
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
	return nil
}
