package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"os"
)

// blobFile is the large test blob: it lives on disk only (never in memory) so the
// client stays cheap and can hand the file to the kernel (sendfile).
type blobFile struct {
	Path   string
	Size   int64
	Digest string // "sha256:<hex>", computed once while writing
}

// makeBlob writes size bytes of incompressible data to path and hashes them in the
// same pass. ChaCha8 is used instead of crypto/rand because it is several times
// faster and the data only has to be incompressible, not secret; the seed is random
// so every run pushes content no registry has seen before.
func makeBlob(path string, size int64) (*blobFile, error) {
	var seed [32]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return nil, err
	}
	src := mrand.NewChaCha8(seed)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	buf := make([]byte, 1<<20)
	for left := size; left > 0; {
		n := int64(len(buf))
		if left < n {
			n = left
		}
		chunk := buf[:n]
		_, _ = src.Read(chunk) // never fails
		h.Write(chunk)
		if _, err := f.Write(chunk); err != nil {
			return nil, err
		}
		left -= n
	}
	// Flush now so the blob's own writeback does not land inside the first timed push.
	if err := f.Sync(); err != nil {
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	return &blobFile{Path: path, Size: size, Digest: "sha256:" + hex.EncodeToString(h.Sum(nil))}, nil
}

// smallBlob is an in-memory blob for manifests and their config/layers (a few KiB).
type smallBlob struct {
	Data   []byte
	Digest string
}

func newSmallBlob(data []byte) smallBlob {
	sum := sha256.Sum256(data)
	return smallBlob{Data: data, Digest: "sha256:" + hex.EncodeToString(sum[:])}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func mib(n int64) string { return fmt.Sprintf("%d MiB", n>>20) }
