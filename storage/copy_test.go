package storage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"
)

// chunkyReader returns what it has in reads of random, often short, sizes,
// as a network body does.
type chunkyReader struct {
	r   io.Reader
	rng *rand.Rand
}

func (c *chunkyReader) Read(p []byte) (int, error) {
	n := 1 + c.rng.IntN(len(p))
	return c.r.Read(p[:n])
}

func TestCopyHashingEveryBufferBoundary(t *testing.T) {
	t.Parallel()
	for _, size := range []int{0, 1, copyBufSize - 1, copyBufSize, copyBufSize + 1, 3*copyBufSize + 17, 7*copyBufSize + copyBufSize/2} {
		data := make([]byte, size)
		rng := rand.New(rand.NewPCG(uint64(size), 1))
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		var out bytes.Buffer
		h := sha256.New()
		n, err := CopyHashing(context.Background(), &out, h, &chunkyReader{bytes.NewReader(data), rng})
		if err != nil || n != int64(size) {
			t.Fatalf("size %d: copied %d, %v", size, n, err)
		}
		if !bytes.Equal(out.Bytes(), data) {
			t.Fatalf("size %d: written bytes differ", size)
		}
		if want := sha256.Sum256(data); !bytes.Equal(h.Sum(nil), want[:]) {
			t.Fatalf("size %d: hash differs", size)
		}
	}
}

type failingWriter struct{ after int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.after -= len(p); w.after < 0 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

func TestCopyHashingErrors(t *testing.T) {
	t.Parallel()
	big := bytes.Repeat([]byte("x"), 20*copyBufSize) // far more than the pipeline can read ahead
	// A writer failing mid-way stops the copy with its error, without
	// reading the whole body.
	src := &countingReader{r: bytes.NewReader(big)}
	_, err := CopyHashing(context.Background(), &failingWriter{after: 2 * copyBufSize}, sha256.New(), src)
	if err == nil || err.Error() != "disk full" {
		t.Fatalf("writer failure: %v", err)
	}
	if src.n == int64(len(big)) {
		t.Errorf("the whole body was read after the writer failed")
	}
	// A client that drops the body half way is an error, not an end.
	for _, cut := range []error{io.ErrUnexpectedEOF, errors.New("connection reset")} {
		r := io.MultiReader(bytes.NewReader(big[:3*copyBufSize+5]), iotest.ErrReader(cut))
		if _, err := CopyHashing(context.Background(), io.Discard, sha256.New(), r); !errors.Is(err, cut) {
			t.Fatalf("body cut with %v: got %v", cut, err)
		}
	}
	// A cancelled context stops it.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := CopyHashing(ctx, io.Discard, sha256.New(), bytes.NewReader(big)); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
