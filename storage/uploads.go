package storage

import (
	"context"
	"crypto/rand"
	_ "crypto/sha256" // registers sha256 for go-digest
	_ "crypto/sha512" // registers sha384/sha512 for go-digest
	"encoding"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// An upload session. Its bytes go to uploads/<id>/data, and with every
// chunk's checkpoint the driver keeps the SHA-256 state of everything so far
// (the checkpoint's meta: bytes and hash are stored together, so two
// replicas racing on one session cannot leave the bytes of one and the hash
// of the other). Its state — repository, area, where it ends — goes to
// uploads/<id>/state. So a session survives a restart, can be continued by
// another replica, and finishing it never re-reads the bytes to hash them.
type Upload struct {
	s     *Store
	id    string
	state uploadState
}

type uploadState struct {
	Repo string `json:"repo"`
	Area string `json:"area"`
	// Algorithm hashes the bytes as they stream; "" is sha256. A client
	// that names its digest when it starts (POST ?digest=) gets its own.
	Algorithm digest.Algorithm `json:"algorithm,omitempty"`
	Offset    int64            `json:"offset"`
	Started   time.Time        `json:"started"`
	Updated   time.Time        `json:"updated"`
}

var uploadIDRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

// newID returns a random upload id: 128 bits, hex.
func newID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// UploadStart begins an upload session into the repository's write area.
func (r *Repo) UploadStart(ctx context.Context) (*Upload, error) {
	return r.UploadStartHashing(ctx, digest.SHA256)
}

// UploadStartHashing begins an upload session whose bytes are hashed with
// alg as they stream: for a client that says at the start which digest it
// will commit (sha512), so that Commit does not read the bytes again. An
// algorithm this build cannot hash falls back to sha256.
func (r *Repo) UploadStartHashing(ctx context.Context, alg digest.Algorithm) (*Upload, error) {
	id, err := newID()
	if err != nil {
		return nil, err
	}
	now := r.s.now().UTC()
	u := &Upload{s: r.s, id: id, state: uploadState{
		Repo: r.name, Area: r.writeArea(), Started: now, Updated: now,
	}}
	if alg != digest.SHA256 && alg.Available() {
		u.state.Algorithm = alg
	}
	return u, u.save(ctx)
}

// algorithm is what the session's bytes are hashed with as they stream.
func (u *Upload) algorithm() digest.Algorithm {
	if u.state.Algorithm == "" {
		return digest.SHA256
	}
	return u.state.Algorithm
}

// Upload returns upload session id of this repository. ErrUploadUnknown when
// there is none, or it belongs to another repository or area.
func (r *Repo) Upload(ctx context.Context, id string) (*Upload, error) {
	if !uploadIDRE.MatchString(id) {
		return nil, ErrUploadUnknown
	}
	u := &Upload{s: r.s, id: id}
	if err := u.reload(ctx); err != nil {
		return nil, err
	}
	if u.state.Repo != r.name || u.state.Area != r.writeArea() {
		return nil, ErrUploadUnknown
	}
	return u, nil
}

// ID names the session in URLs.
func (u *Upload) ID() string { return u.id }

// Offset is the number of bytes received so far.
func (u *Upload) Offset() int64 { return u.state.Offset }

// Started is when the session began.
func (u *Upload) Started() time.Time { return u.state.Started }

func (u *Upload) reload(ctx context.Context) error {
	b, err := u.s.d.GetContent(ctx, uploadStatePath(u.id))
	if isNotFound(err) {
		return ErrUploadUnknown
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &u.state); err != nil {
		return fmt.Errorf("upload %s: corrupt state: %w", u.id, err)
	}
	return nil
}

func (u *Upload) save(ctx context.Context) error {
	u.state.Updated = u.s.now().UTC()
	b, err := json.Marshal(u.state)
	if err != nil {
		return err
	}
	return u.s.d.PutContent(ctx, uploadStatePath(u.id), b)
}

// restoreHash restores the hash state (algorithm) of an upload's first
// offset bytes from the meta of their checkpoint.
func (u *Upload) restoreHash(meta []byte, offset int64) (hash.Hash, error) {
	alg := u.algorithm()
	if !alg.Available() {
		return nil, fmt.Errorf("upload %s: algorithm %s is not available", u.id, alg)
	}
	h := alg.Hash()
	if offset == 0 {
		return h, nil
	}
	if len(meta) == 0 {
		return nil, fmt.Errorf("upload %s: the checkpoint at %d bytes has no hash state", u.id, offset)
	}
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(meta); err != nil {
		return nil, fmt.Errorf("upload %s: hash state: %w", u.id, err)
	}
	return h, nil
}

// Append adds a chunk to the end of the upload. start is where the client
// says the chunk begins (-1 when it did not say); length is the chunk's
// size (-1 when unknown: read body to its end). The chunk is durable when
// Append returns; on any error nothing of it is kept.
func (u *Upload) Append(ctx context.Context, body io.Reader, start, length int64) error {
	unlock := u.s.uploads.Lock(u.id)
	defer unlock()
	if err := u.reload(ctx); err != nil {
		return err
	}
	if start >= 0 && start != u.state.Offset {
		return &OffsetError{Offset: u.state.Offset, Start: start}
	}
	if length < -1 {
		return fmt.Errorf("%w: a chunk of %d bytes", ErrSizeMismatch, length)
	}
	if length == 0 {
		return nil
	}
	w, err := u.s.d.Writer(ctx, uploadDataPath(u.id), u.state.Offset)
	if err != nil {
		return err
	}
	defer w.Close()
	h, err := u.restoreHash(w.Meta(), u.state.Offset)
	if err != nil {
		return err
	}
	n, err := CopyHashing(ctx, w, h, body)
	if err != nil {
		return err
	}
	if length >= 0 && n != length { // -1: the client did not say
		return fmt.Errorf("%w: got %d bytes, expected %d", ErrSizeMismatch, n, length)
	}
	if n == 0 {
		return nil
	}
	state, err := h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return err
	}
	if err := w.Checkpoint(ctx, state); err != nil {
		return err
	}
	u.state.Offset = w.Size()
	return u.save(ctx)
}

// Commit finishes the upload as blob d: it verifies the digest, moves the
// bytes into the content store and links the blob into the upload's
// repository. On a digest mismatch the session is discarded.
func (u *Upload) Commit(ctx context.Context, d digest.Digest) (ocispec.Descriptor, error) {
	if err := d.Validate(); err != nil {
		return ocispec.Descriptor{}, ErrDigestInvalid
	}
	unlock := u.s.uploads.Lock(u.id)
	defer unlock()
	if err := u.reload(ctx); err != nil {
		return ocispec.Descriptor{}, err
	}
	meta, err := u.complete(ctx)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if err := u.verify(ctx, d, meta); err != nil {
		if errors.Is(err, ErrDigestMismatch) {
			u.remove(ctx)
		}
		return ocispec.Descriptor{}, err
	}
	if err := u.s.admit(ctx, u.state.Area, u.state.Repo, d, u.state.Offset); err != nil {
		u.remove(ctx)
		return ocispec.Descriptor{}, err
	}
	release := u.s.guard.hold()
	defer release()
	if err := u.s.guard.note(ctx, d); err != nil {
		return ocispec.Descriptor{}, err
	}
	if err := u.s.claim(ctx, d); err != nil {
		return ocispec.Descriptor{}, err
	}
	// Content already stored is never replaced: it was verified when it
	// came, and these bytes are the same or (a session raced on, a bug) not.
	exists, err := u.s.BlobExists(ctx, d)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if !exists {
		if err := u.s.d.Move(ctx, uploadDataPath(u.id), blobPath(d)); err != nil {
			return ocispec.Descriptor{}, err
		}
	}
	repo := &Repo{s: u.s, name: u.state.Repo, areas: []string{u.state.Area}}
	if err := repo.linkBlob(ctx, d); err != nil {
		return ocispec.Descriptor{}, err
	}
	u.remove(ctx)
	return ocispec.Descriptor{MediaType: "application/octet-stream", Digest: d, Size: u.state.Offset}, nil
}

// complete makes the upload's content readable so it can be verified and
// moved (an S3 multipart upload becomes an object here), and returns the
// meta of its last checkpoint: the hash state of exactly these bytes. A
// commit retried after a crash between completing and moving finds the
// content already complete, which S3 cannot reopen for writing: it is used
// as it is when it has every byte, and verified by reading it (no meta).
func (u *Upload) complete(ctx context.Context) ([]byte, error) {
	w, err := u.s.d.Writer(ctx, uploadDataPath(u.id), u.state.Offset)
	if isNotFound(err) && u.state.Offset > 0 {
		if fi, serr := u.s.d.Stat(ctx, uploadDataPath(u.id)); serr == nil && !fi.IsDir && fi.Size == u.state.Offset {
			return nil, nil
		}
	}
	if err != nil {
		return nil, err
	}
	defer w.Close()
	meta := w.Meta()
	return meta, w.Commit(ctx)
}

// verify checks the upload's bytes against d: from the hash state kept with
// their checkpoint, or, for another algorithm or without it, by reading the
// bytes once.
func (u *Upload) verify(ctx context.Context, d digest.Digest, meta []byte) error {
	if d.Algorithm() == u.algorithm() && (meta != nil || u.state.Offset == 0) {
		h, err := u.restoreHash(meta, u.state.Offset)
		if err != nil {
			return err
		}
		if digest.NewDigestFromEncoded(d.Algorithm(), hex.EncodeToString(h.Sum(nil))) != d {
			return ErrDigestMismatch
		}
		return nil
	}
	if !d.Algorithm().Available() {
		return ErrDigestInvalid
	}
	rc, err := u.s.d.Reader(ctx, uploadDataPath(u.id), 0)
	if err != nil {
		return err
	}
	defer rc.Close()
	v := d.Verifier()
	if _, err := copyCtx(ctx, v, rc); err != nil {
		return err
	}
	if !v.Verified() {
		return ErrDigestMismatch
	}
	return nil
}

// Cancel discards the upload.
func (u *Upload) Cancel(ctx context.Context) error {
	unlock := u.s.uploads.Lock(u.id)
	defer unlock()
	if err := u.reload(ctx); err != nil {
		return err
	}
	return u.remove(ctx)
}

func (u *Upload) remove(ctx context.Context) error {
	err := u.s.d.Delete(ctx, uploadDir(u.id))
	if isNotFound(err) {
		return nil
	}
	return err
}

// copyBufSize is large so each write and hash call does real work; a pool
// keeps concurrent pushes from allocating per request.
const copyBufSize = 1 << 20

var copyBufs = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

// CopyHashing streams src into w and sum (a hash, a digest verifier),
// checking ctx between chunks. Past
// the first buffer it pipelines: while one goroutine hashes a buffer and
// another writes it, the next is read from the client, so a push costs
// about the slowest of reading, hashing and writing rather than their sum.
func CopyHashing(ctx context.Context, w io.Writer, h io.Writer, src io.Reader) (int64, error) {
	return copyHashing(ctx, w, h, src, fill)
}

// CopyHashingAsItArrives is CopyHashing for a reader whose bytes must
// reach w as they arrive (an upstream blob, spooled while clients wait for
// it): each chunk is what one Read returns, not a full buffer, so a slow
// upstream's bytes are never held back until a buffer fills.
func CopyHashingAsItArrives(ctx context.Context, w io.Writer, h io.Writer, src io.Reader) (int64, error) {
	return copyHashing(ctx, w, h, src, readSome)
}

func copyHashing(ctx context.Context, w io.Writer, h io.Writer, src io.Reader, read func(io.Reader, []byte) (int, error)) (int64, error) {
	first := copyBufs.Get().(*[]byte)
	m, rerr := read(src, *first)
	if rerr != nil { // small (ended in the first buffer) or failed bodies
		// Small (or failed) bodies: no pipeline.
		defer copyBufs.Put(first)
		if rerr != nil && rerr != io.EOF {
			return 0, rerr
		}
		h.Write((*first)[:m])
		if _, err := w.Write((*first)[:m]); err != nil {
			return 0, err
		}
		return int64(m), nil
	}
	return pipeline(ctx, w, h, src, first, m, read)
}

// chunk is a buffer travelling the pipeline; done counts the two stages
// (hash, write) that still use it.
type chunk struct {
	buf  *[]byte
	n    int
	done sync.WaitGroup
}

func pipeline(ctx context.Context, w io.Writer, h io.Writer, src io.Reader, first *[]byte, firstN int, read func(io.Reader, []byte) (int, error)) (int64, error) {
	const depth = 3 // buffers in flight: one read, one hashed and written, one spare
	hashQ, writeQ := make(chan *chunk, depth), make(chan *chunk, depth)
	var writeErr error
	var writeFailed atomic.Bool // lets the reader stop early; writeErr is read after the stages end
	var stages sync.WaitGroup
	stages.Add(2)
	go func() { // the hasher: in order, on its own core
		defer stages.Done()
		for c := range hashQ {
			h.Write((*c.buf)[:c.n])
			c.done.Done()
		}
	}()
	go func() { // the writer: in order; after a failure it only drains
		defer stages.Done()
		for c := range writeQ {
			if writeErr == nil {
				if _, writeErr = w.Write((*c.buf)[:c.n]); writeErr != nil {
					writeFailed.Store(true)
				}
			}
			c.done.Done()
		}
	}()
	inflight := make([]*chunk, 0, depth)
	send := func(buf *[]byte, n int) {
		c := &chunk{buf: buf, n: n}
		c.done.Add(2)
		inflight = append(inflight, c)
		hashQ <- c
		writeQ <- c
	}
	// recycle waits for the oldest buffer to clear both stages and reuses it.
	recycle := func() *[]byte {
		c := inflight[0]
		inflight = inflight[1:]
		c.done.Wait()
		return c.buf
	}
	finish := func() {
		close(hashQ)
		close(writeQ)
		stages.Wait()
		for _, c := range inflight {
			copyBufs.Put(c.buf)
		}
	}
	n := int64(firstN)
	send(first, firstN)
	for {
		if err := ctx.Err(); err != nil {
			finish()
			return n, err
		}
		if writeFailed.Load() {
			finish()
			return n, writeErr
		}
		var buf *[]byte
		if len(inflight) < depth {
			buf = copyBufs.Get().(*[]byte)
		} else {
			buf = recycle()
		}
		m, rerr := read(src, *buf)
		if m > 0 {
			send(buf, m)
			n += int64(m)
		} else {
			copyBufs.Put(buf)
		}
		if rerr == io.EOF {
			finish()
			return n, writeErr
		}
		if rerr != nil {
			finish()
			return n, rerr
		}
	}
}

// fill reads into buf until it is full or src ends. Unlike io.ReadFull it
// passes src's own error through: a client that drops a request body half way
// makes net/http return io.ErrUnexpectedEOF, which must fail the upload, not
// end it.
func fill(src io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := src.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// readSome reads what src has: one Read that returns bytes or an error.
func readSome(src io.Reader, buf []byte) (int, error) {
	for range 100 {
		m, err := src.Read(buf)
		if m > 0 || err != nil {
			return m, err
		}
	}
	return 0, io.ErrNoProgress
}

// copyCtx is io.Copy that stops when ctx ends.
func copyCtx(ctx context.Context, w io.Writer, r io.Reader) (int64, error) {
	return CopyHashing(ctx, w, io.Discard, r)
}
