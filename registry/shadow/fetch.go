package shadow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/shadowreg/shadowreg/storage"
)

// A fetch is the one download of a blob from upstream. It spools the bytes
// to a local file as they arrive; every client that wants the blob reads
// that file as it grows, so the first byte reaches clients as soon as the
// upstream sends it and the upstream is asked once however many clients
// wait. The last byte of every response — the blob's, or a Range's — is
// held back until the whole blob has been verified against its digest: a
// bad or broken download aborts the clients' responses instead of
// completing them with wrong bytes. A verified spool becomes the cached
// blob (the filesystem takes it over with a rename).
//
// A fetch's life, driven by run (one goroutine, detached from every client,
// ended by Namespace.Stop at shutdown):
//
//	          up.Blob fails ──────────────► openErr set, ready closed ─┐
//	start ──►                                                         │
//	          upstream answers ─► ready closed (size known or -1)      │
//	                               │ download: spool grows, readers   │
//	                               │ wake on every write; none gets   │
//	                               │ the last byte of its response    │
//	                               ▼                                  │
//	                            finish(err): done; readers get the    │
//	                               last byte (err nil) or an error    │
//	                               ▼                                  │
//	                            release: verified → cached (adopted   │
//	                               or copied); else the spool goes    │
//	                               once no joined request needs it    │
//	                               ▼                                  ▼
//	                            forgotten: later requests read the cache or start over
type fetch struct {
	ns   *Namespace
	repo *Repo
	key  string
	d    digest.Digest

	ready   chan struct{} // closed once the upstream answered (size known) or failed
	openErr error         // why the upstream did not answer with the blob
	size    int64         // from the upstream's headers; -1 until known

	mu        sync.Mutex
	cond      *sync.Cond
	spool     *os.File // the writer's handle; nil once released
	spoolName string
	have      int64 // bytes in the spool
	done      bool  // the download ended: verified when err is nil
	err       error
	pins      int  // requests that joined and have not opened the spool yet
	released  bool // the fetch is over: the spool is removed once unpinned
	adopted   bool // the spool became the cached blob (its name is gone)
}

// inflight returns the fetch of repo@d in progress, if any.
func (n *Namespace) inflight(path string, d digest.Digest) *fetch {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.fetches[path+"@"+d.String()]
}

func (f *fetch) sizeKnown() bool {
	select {
	case <-f.ready:
		return f.openErr == nil && f.size >= 0
	default:
		return false
	}
}

// fetchBlob joins the fetch of d, starting it if none runs, and waits until
// the upstream has answered. The request pins the spool as soon as it joins,
// so a small blob that finishes downloading before the request gets to read
// it is still there to read.
func (n *Namespace) fetchBlob(ctx context.Context, r *Repo, d digest.Digest) (storage.Blob, string, error) {
	key := r.path + "@" + d.String()
	n.mu.Lock()
	f := n.fetches[key]
	if f == nil && r.cache != nil {
		// A fetch is forgotten only once its blob is in the cache, so with
		// none in flight the cache is the place to look, under the lock,
		// before downloading again.
		if b, err := r.cache.BlobOpen(ctx, d); err == nil {
			n.mu.Unlock()
			return b, fromCache, nil
		}
	}
	if f == nil {
		f = &fetch{ns: n, repo: r, key: key, d: d, ready: make(chan struct{}), size: -1}
		f.cond = sync.NewCond(&f.mu)
		n.fetches[key] = f
		n.running.Add(1)
		go func() { defer n.running.Done(); f.run() }()
	}
	n.mu.Unlock()
	f.mu.Lock()
	f.pins++
	f.mu.Unlock()
	fd, err := f.open(ctx)
	if err != nil {
		return nil, "", err
	}
	if fd == nil {
		// The fetch ended before this request joined it: what it left is
		// in the cache, or a new fetch starts. Either way the bytes came
		// from the upstream for this request.
		b, _, err := r.openBlob(ctx, d)
		return b, fromUpstream, err
	}
	if f.size < 0 {
		// The upstream did not say how long the blob is; a response needs
		// its Content-Length, so wait for the whole download.
		if err := f.wait(ctx); err != nil {
			fd.Close()
			if ctx.Err() == nil {
				err = &upstreamError{err} // a broken or corrupt download: 502
			}
			return nil, "", err
		}
	}
	return &fetchingBlob{f: f, fd: fd}, fromUpstream, nil
}

// open waits until the upstream answered, then opens the spool for reading
// and unpins it. A nil file with no error means the fetch had already ended
// and released its spool.
func (f *fetch) open(ctx context.Context) (*os.File, error) {
	select {
	case <-f.ready:
	case <-ctx.Done():
		f.unpin()
		return nil, ctx.Err()
	}
	if f.openErr != nil {
		f.unpin()
		return nil, f.ns.fromUpstream(f.openErr, storage.ErrBlobUnknown)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.unpinLocked()
	if f.adopted || (f.released && f.err == nil && f.pins == 0) {
		return nil, nil
	}
	if f.err != nil {
		return nil, &upstreamError{f.err}
	}
	fd, err := os.Open(f.spoolName)
	if os.IsNotExist(err) {
		return nil, nil
	}
	return fd, err
}

func (f *fetch) unpin() {
	f.mu.Lock()
	f.unpinLocked()
	f.mu.Unlock()
}

// unpinLocked drops a pin; the last one out of a released fetch removes the
// spool.
func (f *fetch) unpinLocked() {
	f.pins--
	if f.pins == 0 && f.released && !f.adopted && f.spoolName != "" {
		os.Remove(f.spoolName)
	}
}

// run downloads the blob. It is detached from any client: once started, a
// download completes (or fails) and is cached even if every client left;
// only the namespace stopping (server shutdown) cancels it.
func (f *fetch) run() {
	n := f.ns
	ctx := n.base
	rc, size, err := n.up.Blob(ctx, f.repo.path, f.d, 0)
	if err != nil {
		f.openErr = err
		close(f.ready)
		n.forget(f)
		return
	}
	defer rc.Close()
	spool, adoptable, err := n.tempFile()
	if err != nil {
		f.openErr = fmt.Errorf("spooling blob %s: %w", f.d, err)
		close(f.ready)
		n.forget(f)
		return
	}
	f.spool, f.spoolName, f.size = spool, spool.Name(), size
	close(f.ready)

	err = f.download(ctx, rc)
	// Verified: the clients get their last byte now. Caching comes after
	// and need not keep them waiting for the disk.
	f.finish(err)
	if err == nil && f.repo.cache != nil {
		// Durable before it is taken over, so a crash cannot leave a
		// cached blob whose bytes never reached the disk.
		if serr := spool.Sync(); serr != nil {
			n.log.Warn("syncing a fetched blob failed; not caching it", "repo", f.repo.path, "digest", f.d, "err", serr)
			f.release(ctx, false, adoptable)
			return
		}
	}
	if err != nil {
		n.log.Warn("blob fetch failed; nothing cached", "repo", f.repo.path, "digest", f.d, "err", err)
	}
	f.release(ctx, err == nil, adoptable)
}

// forget takes the fetch off the in-flight list: later requests find the
// cache, or start a new fetch.
func (n *Namespace) forget(f *fetch) {
	n.mu.Lock()
	if n.fetches[f.key] == f {
		delete(n.fetches, f.key)
	}
	n.mu.Unlock()
}

// download copies the upstream stream into the spool, verifying it on the
// way, with storage's pipelined copy (reading, hashing and writing
// overlap). Each chunk is what one read from the upstream returned, so
// waiting readers get bytes as they arrive, not when a buffer fills; every
// write wakes them.
func (f *fetch) download(ctx context.Context, rc io.Reader) error {
	v := f.d.Verifier()
	src := rc
	if f.size >= 0 {
		src = io.LimitReader(rc, f.size+1) // one byte more shows an overlong body
	}
	n, err := storage.CopyHashingAsItArrives(ctx, progressWriter{f}, v, src)
	if err != nil {
		return err
	}
	if f.size >= 0 && n != f.size {
		return fmt.Errorf("upstream %s sent %d bytes of %s, announced %d", f.ns.up.Name(), n, f.d, f.size)
	}
	if !v.Verified() {
		return fmt.Errorf("upstream %s: content for %s does not match its digest", f.ns.up.Name(), f.d)
	}
	return nil
}

// progressWriter writes to the spool and wakes the readers.
type progressWriter struct{ f *fetch }

func (w progressWriter) Write(p []byte) (int, error) {
	n, err := w.f.spool.Write(p)
	w.f.mu.Lock()
	w.f.have += int64(n)
	w.f.cond.Broadcast()
	w.f.mu.Unlock()
	if err != nil {
		return n, fmt.Errorf("spooling blob %s: %w", w.f.d, err)
	}
	return n, nil
}

func (f *fetch) finish(err error) {
	f.mu.Lock()
	f.done, f.err = true, err
	if f.size < 0 && err == nil {
		f.size = f.have
	}
	f.cond.Broadcast()
	f.mu.Unlock()
}

// release caches a verified spool, or removes it once no request that
// joined still needs to open it. Readers that have the spool open keep
// reading it after it is removed or renamed.
func (f *fetch) release(ctx context.Context, ok, adoptable bool) {
	cache := f.repo.cache
	switch {
	case ok && cache != nil && adoptable:
		// A rename: quick enough to do while readers wait for the lock.
		// The fetch is forgotten only afterwards, so that a request finding
		// it adopted reads the cache rather than start over.
		f.mu.Lock()
		_, err := cache.ImportBlob(ctx, f.d, f.spool)
		if err != nil {
			f.ns.log.Warn("caching a fetched blob failed", "repo", f.repo.path, "digest", f.d, "err", err)
			f.spool.Close()
		}
		f.adopted = err == nil
		f.closeLocked()
		f.mu.Unlock()
		f.ns.forget(f)
		return
	case ok && cache != nil:
		// A copy into the driver (an upload to S3) takes a while: the
		// spool stays readable meanwhile.
		if _, err := cache.ImportBlob(ctx, f.d, f.spool); err != nil {
			f.ns.log.Warn("caching a fetched blob failed", "repo", f.repo.path, "digest", f.d, "err", err)
		}
	default:
		// Nothing cached: a request from now on starts a new fetch.
		f.ns.forget(f)
	}
	f.spool.Close()
	f.mu.Lock()
	f.closeLocked()
	f.mu.Unlock()
	f.ns.forget(f)
}

// closeLocked marks the fetch released and removes an unpinned spool.
func (f *fetch) closeLocked() {
	f.spool = nil
	f.released = true
	if f.pins == 0 && !f.adopted {
		os.Remove(f.spoolName)
	}
}

// wait blocks until the download has ended, returning its error.
func (f *fetch) wait(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { f.mu.Lock(); f.cond.Broadcast(); f.mu.Unlock() })
	defer stop()
	f.mu.Lock()
	defer f.mu.Unlock()
	for !f.done && ctx.Err() == nil {
		f.cond.Wait()
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return f.err
}

// fetchingBlob is a blob being fetched, as storage.Blob. It holds the spool
// open from the moment the request joined the fetch.
type fetchingBlob struct {
	f  *fetch
	fd *os.File
}

func (b *fetchingBlob) Descriptor() ocispec.Descriptor { return blobDescriptor(b.f.d, b.f.size) }

// Close releases the spool when no Reader took it over.
func (b *fetchingBlob) Close() error {
	if b.fd == nil {
		return nil
	}
	err := b.fd.Close()
	b.fd = nil
	return err
}

// Reader reads the spool from offset to the blob's end.
func (b *fetchingBlob) Reader(ctx context.Context, offset int64) (io.ReadCloser, error) {
	return b.RangeReader(ctx, offset, -1)
}

// RangeReader reads the spool from offset up to end (exclusive; -1 for the
// blob's end), holding the range's last byte back until the blob is
// verified. It takes over the file opened when the request joined; a second
// reader of the same blob reads what the fetch left.
func (b *fetchingBlob) RangeReader(ctx context.Context, offset, end int64) (io.ReadCloser, error) {
	fd := b.fd
	b.fd = nil
	if fd == nil {
		blob, err := b.f.repo.BlobOpen(ctx, b.f.d)
		if err != nil {
			return nil, err
		}
		rc, err := storage.ReadRange(ctx, blob, offset, end)
		if err != nil {
			blob.Close()
			return nil, err
		}
		return &closingReader{ReadCloser: rc, blob: blob}, nil
	}
	f := b.f
	r := &spoolReader{f: f, ctx: ctx, fd: fd, pos: offset, end: end}
	// Wake this reader if its client goes away while it waits for bytes.
	r.stop = context.AfterFunc(ctx, func() { f.mu.Lock(); f.cond.Broadcast(); f.mu.Unlock() })
	return r, nil
}

// spoolReader reads a fetch's spool as it grows.
type spoolReader struct {
	f    *fetch
	ctx  context.Context
	fd   *os.File
	pos  int64
	end  int64 // where the reader stops (exclusive); -1: the blob's end
	stop func() bool
}

// available waits until bytes past r.pos may be read, and returns how far:
// everything spooled up to the reader's end, except its last byte until the
// blob is verified. Holding back only the blob's last byte would let a
// Range that ends earlier complete with bytes nobody has verified.
func (r *spoolReader) available() (int64, error) {
	f := r.f
	f.mu.Lock()
	defer f.mu.Unlock()
	for {
		if f.err != nil {
			return 0, fmt.Errorf("fetching %s from upstream: %w", f.d, f.err)
		}
		if err := r.ctx.Err(); err != nil {
			return 0, err
		}
		end := f.size
		if r.end >= 0 && (end < 0 || r.end < end) {
			end = r.end
		}
		limit := f.have
		if end >= 0 {
			limit = min(limit, end)
		}
		if !f.done {
			// Size unknown (end -1): everything waits for the end.
			limit = min(limit, end-1)
		}
		if r.pos < limit || f.done {
			return limit, nil
		}
		f.cond.Wait()
	}
}

func (r *spoolReader) Read(p []byte) (int, error) {
	limit, err := r.available()
	if err != nil {
		return 0, err
	}
	if r.pos >= limit {
		return 0, io.EOF
	}
	n, err := r.fd.ReadAt(p[:min(int64(len(p)), limit-r.pos)], r.pos)
	r.pos += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// WriteTo sends the spool as it grows in file-backed chunks, so each chunk
// reaches the client through sendfile rather than a userspace copy.
func (r *spoolReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		limit, err := r.available()
		if err != nil {
			return total, err
		}
		if r.pos >= limit {
			return total, nil
		}
		if _, err := r.fd.Seek(r.pos, io.SeekStart); err != nil {
			return total, err
		}
		n, err := io.CopyN(w, r.fd, limit-r.pos)
		r.pos += n
		total += n
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return total, err
		}
	}
}

func (r *spoolReader) Close() error {
	r.stop()
	return r.fd.Close()
}

// closingReader closes the blob it reads when it is closed itself.
type closingReader struct {
	io.ReadCloser
	blob storage.Blob
}

func (r *closingReader) Close() error {
	err := r.ReadCloser.Close()
	if cerr := r.blob.Close(); err == nil {
		err = cerr
	}
	return err
}
