package cli

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/shadowreg/shadowreg/internal/client"
	"github.com/spf13/cobra"
)

// serverFlags are how admin commands reach a running shadowreg.
type serverFlags struct {
	server   string
	username string
	password string
	caFile   string
	insecure bool
}

func (f *serverFlags) add(cmd *cobra.Command) {
	p := cmd.PersistentFlags()
	p.StringVar(&f.server, "server", os.Getenv("SHADOWREG_SERVER"), "the registry's URL, e.g. https://registry.example.com:5000 (env SHADOWREG_SERVER)")
	p.StringVar(&f.username, "username", os.Getenv("SHADOWREG_USERNAME"), "user name, when the registry has auth (env SHADOWREG_USERNAME)")
	p.StringVar(&f.password, "password", "", "password (better: env SHADOWREG_PASSWORD, which stays out of the process list)")
	p.StringVar(&f.caFile, "ca-file", "", "CA certificate (PEM) to trust for the registry's TLS")
	p.BoolVar(&f.insecure, "insecure", false, "skip TLS certificate verification")
}

// client returns an HTTP client for the server, with its base URL.
func (f *serverFlags) client() (*http.Client, string, error) {
	if f.server == "" {
		return nil, "", fmt.Errorf("--server: give the registry's URL, e.g. --server http://127.0.0.1:5000")
	}
	base := strings.TrimRight(f.server, "/")
	if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
		base = "http://" + base
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: f.insecure}
	if f.caFile != "" {
		pem, err := os.ReadFile(f.caFile)
		if err != nil {
			return nil, "", fmt.Errorf("--ca-file: %w", err)
		}
		pool, _ := x509.SystemCertPool()
		if pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, "", fmt.Errorf("--ca-file: %s holds no PEM certificate", f.caFile)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Minute}, base, nil
}

// call sends a JSON request to the admin API and decodes the answer into
// out (when not nil). Registry errors come back as one line.
func (f *serverFlags) call(method, path string, body, out any) error {
	c, base, err := f.client()
	if err != nil {
		return err
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	password := f.password
	if password == "" {
		password = os.Getenv("SHADOWREG_PASSWORD")
	}
	if f.username != "" {
		req.SetBasicAuth(f.username, password)
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, base+path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Errors []struct{ Code, Message string }
		}
		if json.Unmarshal(data, &e) == nil && len(e.Errors) > 0 {
			return fmt.Errorf("%s (%s)", e.Errors[0].Message, e.Errors[0].Code)
		}
		return fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	if out != nil && len(data) > 0 {
		return json.Unmarshal(data, out)
	}
	return nil
}

// humanBytes writes a size in binary units.
func humanBytes(n int64) string { return client.HumanBytes(n) }

// humanDuration writes a duration to the minute, or second when short.
func humanDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < 48*time.Hour:
		return d.Round(time.Minute).String()
	}
	return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
}

// progress prints a line on stderr every few seconds while a long
// operation runs, so that a slow collection does not look hung.
func progress(what string) (stop func()) {
	done := make(chan struct{})
	start := time.Now()
	go func() {
		t := time.NewTicker(3 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fmt.Fprintf(os.Stderr, "%s… %s\n", what, humanDuration(time.Since(start)))
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done) }) }
}
