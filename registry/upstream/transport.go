package upstream

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"time"
)

// newTransport builds the transport of a Config: its TLS settings, a pool
// sized for many concurrent blob fetches from one host, and HTTP/2 when the
// server offers it.
func newTransport(cfg Config) (*http.Transport, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	switch {
	case cfg.Insecure:
		tc.InsecureSkipVerify = true
	case cfg.CAFile != "":
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool() // no system pool: trust the given CAs only
		}
		if _, err := loadCAs(cfg.CAFile, pool); err != nil {
			return nil, fmt.Errorf("ca-file: %w", err)
		}
		tc.RootCAs = pool
	}
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:               http.ProxyFromEnvironment, // CI nodes often reach registries through a proxy
		DialContext:         dialer.DialContext,
		TLSClientConfig:     tc,
		ForceAttemptHTTP2:   true, // a custom TLS config turns HTTP/2 off unless forced
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 64, // the default 2 would redial for every parallel layer
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
		// Blobs are compressed already, and a transparently gunzipped body
		// would break Content-Length, ranges and digests.
		DisableCompression: true,
	}, nil
}

// checkRedirect follows blob redirects to object stores and CDNs without
// handing them the registry's credentials. net/http strips Authorization
// only for another domain and ignores the port; here any other origin loses it.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	first := via[0].URL
	if req.URL.Scheme != first.Scheme || req.URL.Host != first.Host {
		req.Header.Del("Authorization")
	}
	return nil
}
