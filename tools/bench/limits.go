package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// machineLimits are the rates no registry can beat on this machine, measured
// in the same run as the cases (a limit measured on another day says little
// on a shared machine): each the best of reps runs, MB/s (10^6 bytes) — a
// limit is what the machine can do, and a busy neighbour only lowers it.
//   - DurableWrite: a sequential write of the blob's size and fdatasync, as
//     `dd bs=1M conv=fdatasync` does: what a push must do before its 201.
//   - SHA256: one core hashing a buffer in memory: what verifying a digest
//     costs a stream that is hashed once.
//   - Sendfile: the blob file served by http.ServeFile (sendfile(2)) over
//     127.0.0.1 and read to the end: a pull with no work in the server.
type machineLimits struct {
	DurableWrite float64 `json:"durable_write_mbps"`
	SHA256       float64 `json:"sha256_per_core_mbps"`
	Sendfile     float64 `json:"loopback_sendfile_mbps"`
}

// limit is one bound on a case's rate.
type limit struct {
	Name string  `json:"name"`
	MBps float64 `json:"mbps"`
}

// bindings returns the limits a case is held to, the binding one first. A
// push receives each byte over loopback, hashes it and writes it durably: on
// one core those add up (serial: 1/(1/a + 1/b + 1/c)); spread over cores the
// slowest binds. A cold pull-through does the same with the upstream's
// bytes; a pull and a warm pull-through send a file.
func (m *machineLimits) bindings(key string) []limit {
	if m == nil {
		return nil
	}
	if m.Sendfile == 0 {
		return nil // measured with the blob only
	}
	switch key {
	case "push", "pt-cold":
		serial := limit{"serial: loopback + SHA-256 + durable write", 1 / (1/m.Sendfile + 1/m.SHA256 + 1/m.DurableWrite)}
		slowest := limit{"durable write", m.DurableWrite}
		if m.SHA256 < m.DurableWrite {
			slowest = limit{"SHA-256 per core", m.SHA256}
		}
		if m.Sendfile < slowest.MBps {
			slowest = limit{"loopback", m.Sendfile}
		}
		return []limit{serial, slowest}
	case "pull", "pt-warm":
		return []limit{{"loopback sendfile", m.Sendfile}}
	}
	return nil
}

func measureLimits(ctx context.Context, dir string, blob *blobFile, size int64, reps int) (*machineLimits, error) {
	var w, h, s []float64
	for range reps {
		v, err := durableWrite(dir, size)
		if err != nil {
			return nil, fmt.Errorf("durable write: %w", err)
		}
		w = append(w, v)
		h = append(h, sha256Rate(min(size, 512<<20)))
		if blob != nil {
			v, err := loopbackSendfile(ctx, blob.Path, blob.Size)
			if err != nil {
				return nil, fmt.Errorf("loopback sendfile: %w", err)
			}
			s = append(s, v)
		}
	}
	best := func(v []float64) float64 {
		if len(v) == 0 {
			return 0
		}
		return slices.Max(v)
	}
	return &machineLimits{DurableWrite: best(w), SHA256: best(h), Sendfile: best(s)}, nil
}

// durableWrite writes size random bytes in 1 MiB writes and fdatasyncs.
func durableWrite(dir string, size int64) (float64, error) {
	p := filepath.Join(dir, "limit-write.bin")
	defer os.Remove(p)
	buf := make([]byte, 1<<20)
	mrand.NewChaCha8([32]byte{1}).Read(buf)
	syscall.Sync() // earlier writeback does not land on this write
	f, err := os.Create(p)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	t0 := time.Now()
	for n := int64(0); n < size; n += int64(len(buf)) {
		if _, err := f.Write(buf[:min(int64(len(buf)), size-n)]); err != nil {
			return 0, err
		}
	}
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		return 0, err
	}
	return mbps(size, time.Since(t0)), nil
}

// sha256Rate hashes n bytes of a 4 MiB buffer on one goroutine.
func sha256Rate(n int64) float64 {
	buf := make([]byte, 4<<20)
	mrand.NewChaCha8([32]byte{2}).Read(buf)
	h := sha256.New()
	t0 := time.Now()
	for done := int64(0); done < n; done += int64(len(buf)) {
		h.Write(buf)
	}
	h.Sum(nil)
	return mbps(n, time.Since(t0))
}

// loopbackSendfile serves path with http.ServeFile on 127.0.0.1 and reads it
// whole with the cases' client, once to warm the page cache and once timed.
func loopbackSendfile(ctx context.Context, path string, size int64) (float64, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, path) })}
	go srv.Serve(ln)
	defer srv.Close()
	client := newClient(1)
	get := func() (time.Duration, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+ln.Addr().String()+"/blob", nil)
		if err != nil {
			return 0, err
		}
		t0 := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		n, err := io.CopyBuffer(io.Discard, resp.Body, make([]byte, 1<<20))
		if err == nil && n != size {
			err = fmt.Errorf("read %d bytes of %d", n, size)
		}
		return time.Since(t0), err
	}
	if _, err := get(); err != nil {
		return 0, err
	}
	d, err := get()
	return mbps(size, d), err
}
