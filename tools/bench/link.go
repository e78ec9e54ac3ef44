package main

import (
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"
)

// startLink puts a reverse proxy in front of base whose response bodies,
// together, flow at most mbps MB/s: one network link to a remote registry,
// shared by every connection, as the upstreams a CI cache fronts (Docker
// Hub, quay.io) are reached. It returns the proxy's URL and its stop.
func startLink(base string, mbps float64) (string, func(), error) {
	target, err := url.Parse(base)
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	pace := &pacer{bytesPerSec: mbps * 1e6}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.FlushInterval = -1 // pass bytes on as they are paced
	proxy.ModifyResponse = func(r *http.Response) error {
		r.Body = &pacedBody{ReadCloser: r.Body, pace: pace}
		return nil
	}
	srv := &http.Server{Handler: proxy, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}

// pacer hands out the link's time: each chunk waits for its turn.
type pacer struct {
	mu          sync.Mutex
	bytesPerSec float64
	next        time.Time
}

func (p *pacer) wait(n int) {
	p.mu.Lock()
	now := time.Now()
	if p.next.Before(now) {
		p.next = now
	}
	at := p.next
	p.next = p.next.Add(time.Duration(float64(n) / p.bytesPerSec * float64(time.Second)))
	p.mu.Unlock()
	time.Sleep(time.Until(at))
}

// pacedBody reads in chunks small enough to keep the pace smooth.
type pacedBody struct {
	io.ReadCloser
	pace *pacer
}

func (b *pacedBody) Read(p []byte) (int, error) {
	if len(p) > 64<<10 {
		p = p[:64<<10]
	}
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.pace.wait(n)
	}
	return n, err
}
