package client

import (
	"bytes"
	"io"
	"sync"
)

func ioNop(r io.Reader) io.ReadCloser { return io.NopCloser(r) }

// syncBuf is a buffer the redraw goroutine and the test share.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
