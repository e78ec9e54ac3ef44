package main

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// limitServer is the machine's own limit: the least work a registry can do for a
// blob push or pull, spoken over the same few registry URLs so the exact same
// client code drives it.
//   - pull: http.ServeFile of the bench's blob file, which net/http answers with
//     sendfile: no copy through user space at all.
//   - push: the request body streamed through SHA-256 into a file, then fsync —
//     what any registry must do before it can answer 201 for a blob it keeps.
//
// POST and PUT around the PATCH are cheap bookkeeping, as they are in a registry.
type limitServer struct {
	blob, digest, data string
	next               atomic.Int64
	mu                 sync.Mutex
	sums               map[string]string // upload id -> digest of what PATCH wrote
}

func runLimitServer(args []string) error {
	fs := flag.NewFlagSet("limit-server", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address")
	s := &limitServer{sums: map[string]string{}}
	fs.StringVar(&s.blob, "blob", "", "blob file served on pulls")
	fs.StringVar(&s.digest, "digest", "", "its digest")
	fs.StringVar(&s.data, "data", "", "directory for pushed data")
	_ = fs.Parse(args)
	if err := os.MkdirAll(s.data, 0o755); err != nil {
		return err
	}
	srv := &http.Server{Addr: *listen, Handler: s}
	go func() { // SIGTERM: stop like the registries do
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGTERM, os.Interrupt)
		<-ch
		_ = srv.Close()
	}()
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		return err
	}
	return nil
}

func (s *limitServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case p == "/v2/" || p == "/v2":
		w.WriteHeader(http.StatusOK)
	case r.Method == http.MethodPost && strings.HasSuffix(p, "/blobs/uploads/"):
		w.Header().Set("Location", fmt.Sprintf("/limit/uploads/%d", s.next.Add(1)))
		w.WriteHeader(http.StatusAccepted)
	case r.Method == http.MethodPatch && strings.HasPrefix(p, "/limit/uploads/"):
		s.patch(w, r, filepath.Base(p))
	case r.Method == http.MethodPut && strings.HasPrefix(p, "/limit/uploads/"):
		s.put(w, r, filepath.Base(p))
	case (r.Method == http.MethodGet || r.Method == http.MethodHead) && strings.HasSuffix(p, "/blobs/"+s.digest):
		http.ServeFile(w, r, s.blob)
	default:
		http.NotFound(w, r)
	}
}

func (s *limitServer) patch(w http.ResponseWriter, r *http.Request, id string) {
	f, err := os.Create(filepath.Join(s.data, id))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer f.Close()
	h := sha256.New()
	t0 := time.Now()
	n, err := io.CopyBuffer(io.MultiWriter(h, f), r.Body, make([]byte, 1<<20))
	t1 := time.Now()
	if err == nil {
		err = f.Sync()
	}
	// Where a push's time goes (receive+hash+write vs fsync), in limit.log under --keep.
	log.Printf("PATCH %d bytes: copy %v, fsync %v", n, t1.Sub(t0), time.Since(t1))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	s.mu.Lock()
	s.sums[id] = "sha256:" + hex.EncodeToString(h.Sum(nil))
	s.mu.Unlock()
	w.Header().Set("Location", r.URL.Path)
	w.Header().Set("Range", fmt.Sprintf("0-%d", n-1))
	w.WriteHeader(http.StatusAccepted)
}

func (s *limitServer) put(w http.ResponseWriter, r *http.Request, id string) {
	s.mu.Lock()
	sum, ok := s.sums[id]
	delete(s.sums, id)
	s.mu.Unlock()
	switch want := r.URL.Query().Get("digest"); {
	case !ok:
		http.Error(w, "unknown upload", http.StatusNotFound)
	case sum != want:
		http.Error(w, "digest mismatch: got "+sum, http.StatusBadRequest)
	default:
		w.WriteHeader(http.StatusCreated)
	}
}

func limitServerMain(args []string) {
	if err := runLimitServer(args); err != nil {
		log.Fatal(err)
	}
}
