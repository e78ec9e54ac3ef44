package certs

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func parseCert(t *testing.T, data []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("no certificate in %q", data)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// serveTLS starts a server on 127.0.0.1 with the bundle's certificate.
func serveTLS(t *testing.T, b *Bundle) *httptest.Server {
	t.Helper()
	pair, err := tls.X509KeyPair(b.CertPEM, b.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are the point of some tests
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// client trusts roots only and dials 127.0.0.1 whatever the URL's host,
// so that "localhost" is checked against the certificate, not DNS.
func client(roots *x509.CertPool, addr string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}}
}

func get(c *http.Client, url string) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "ok" {
		return errors.New("unexpected body " + string(body))
	}
	return nil
}

func TestGenerateServes(t *testing.T) {
	b, err := Generate(Options{Hosts: []string{"localhost,127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := serveTLS(t, b)
	addr := srv.Listener.Addr().String()
	_, port, _ := net.SplitHostPort(addr)

	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(b.CACertPEM) {
		t.Fatal("CA does not parse")
	}
	for _, host := range []string{"127.0.0.1", "localhost"} {
		if err := get(client(roots, addr), "https://"+net.JoinHostPort(host, port)+"/"); err != nil {
			t.Errorf("trusting the CA, %s: %v", host, err)
		}
	}

	// Without the CA: an x509 error, not a silent success.
	var uae x509.UnknownAuthorityError
	if err := get(client(x509.NewCertPool(), addr), "https://"+addr+"/"); !errors.As(err, &uae) {
		t.Errorf("without the CA: %v, want x509.UnknownAuthorityError", err)
	}
	// A name that is not a SAN fails too.
	var hne x509.HostnameError
	if err := get(client(roots, addr), "https://other.example:"+port+"/"); !errors.As(err, &hne) {
		t.Errorf("other host name: %v, want x509.HostnameError", err)
	}
	// Another CA's bundle does not vouch for this server.
	other, _ := Generate(Options{Hosts: []string{"localhost"}})
	otherRoots := x509.NewCertPool()
	otherRoots.AppendCertsFromPEM(other.CACertPEM)
	if err := get(client(otherRoots, addr), "https://"+addr+"/"); !errors.As(err, &uae) {
		t.Errorf("another CA: %v", err)
	}
}

func TestGenerateContents(t *testing.T) {
	b, err := Generate(Options{
		Hosts:    []string{"Registry.Buildset.", "10.0.0.5", "localhost", "127.0.0.1", "[::1]", "localhost"},
		ValidFor: 48 * time.Hour,
		Now:      func() time.Time { return t0 },
	})
	if err != nil {
		t.Fatal(err)
	}
	ca, leaf := parseCert(t, b.CACertPEM), parseCert(t, b.CertPEM)

	if !ca.IsCA || !ca.BasicConstraintsValid || ca.KeyUsage&x509.KeyUsageCertSign == 0 || ca.MaxPathLen != 0 || !ca.MaxPathLenZero {
		t.Errorf("CA: IsCA %v usage %v maxpath %d", ca.IsCA, ca.KeyUsage, ca.MaxPathLen)
	}
	if pub, ok := ca.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Errorf("CA key %T", ca.PublicKey)
	}
	if leaf.IsCA || !reflect.DeepEqual(leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
		t.Errorf("leaf: IsCA %v ext usage %v", leaf.IsCA, leaf.ExtKeyUsage)
	}
	if pub, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Errorf("leaf key %T", leaf.PublicKey)
	}
	if want := []string{"registry.buildset", "localhost"}; !reflect.DeepEqual(leaf.DNSNames, want) {
		t.Errorf("DNS SANs %v, want %v", leaf.DNSNames, want)
	}
	var ips []string
	for _, ip := range leaf.IPAddresses {
		ips = append(ips, ip.String())
	}
	if want := []string{"10.0.0.5", "127.0.0.1", "::1"}; !reflect.DeepEqual(ips, want) {
		t.Errorf("IP SANs %v, want %v", ips, want)
	}
	if leaf.Subject.CommonName != "registry.buildset" {
		t.Errorf("CN %q", leaf.Subject.CommonName)
	}
	if !leaf.NotBefore.Equal(t0.Add(-time.Hour)) || !leaf.NotAfter.Equal(t0.Add(48*time.Hour)) {
		t.Errorf("validity %s – %s", leaf.NotBefore, leaf.NotAfter)
	}
	if leaf.SerialNumber.Cmp(ca.SerialNumber) == 0 || leaf.SerialNumber.Sign() <= 0 {
		t.Error("serial numbers")
	}
	if err := leaf.CheckSignatureFrom(ca); err != nil {
		t.Errorf("leaf not signed by the CA: %v", err)
	}

	// Verify as a client would, at a time inside the validity.
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	for _, name := range []string{"registry.buildset", "localhost", "10.0.0.5", "::1"} {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, CurrentTime: t0}); err != nil {
			t.Errorf("verify %s: %v", name, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "localhost", Roots: roots, CurrentTime: t0.Add(49 * time.Hour)}); err == nil {
		t.Error("verified after expiry")
	}

	// The keys match their certificates and are PKCS#8.
	if _, err := tls.X509KeyPair(b.CertPEM, b.KeyPEM); err != nil {
		t.Errorf("server pair: %v", err)
	}
	if _, err := tls.X509KeyPair(b.CACertPEM, b.CAKeyPEM); err != nil {
		t.Errorf("CA pair: %v", err)
	}
	for _, k := range [][]byte{b.KeyPEM, b.CAKeyPEM} {
		if block, _ := pem.Decode(k); block == nil || block.Type != "PRIVATE KEY" {
			t.Errorf("key PEM type: %q", k)
		}
	}
	// server.crt holds the leaf only (the CA is a self-signed root).
	if n := strings.Count(string(b.CertPEM), "BEGIN CERTIFICATE"); n != 1 {
		t.Errorf("server certificate PEM holds %d certificates", n)
	}
}

func TestGenerateWithExistingCA(t *testing.T) {
	first, err := Generate(Options{Hosts: []string{"a.example"}, Now: func() time.Time { return t0 }, ValidFor: 30 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	second, err := Generate(Options{
		Hosts:  []string{"b.example"},
		CACert: first.CACertPEM,
		CAKey:  first.CAKeyPEM,
		Now:    func() time.Time { return t0.Add(24 * time.Hour) },
		// Longer than the CA: clipped to its end.
		ValidFor: 365 * 24 * time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	if string(second.CACertPEM) != string(first.CACertPEM) || second.CAKeyPEM != nil {
		t.Error("an existing CA must be returned as given, its key not repeated")
	}
	ca, leaf := parseCert(t, first.CACertPEM), parseCert(t, second.CertPEM)
	if err := leaf.CheckSignatureFrom(ca); err != nil {
		t.Errorf("not signed by the given CA: %v", err)
	}
	if !leaf.NotAfter.Equal(ca.NotAfter) {
		t.Errorf("leaf ends %s, CA %s", leaf.NotAfter, ca.NotAfter)
	}

	// Mismatched or unusable CAs are refused.
	other, _ := Generate(Options{Hosts: []string{"c.example"}})
	tests := map[string]Options{
		"key of another CA":    {CACert: first.CACertPEM, CAKey: other.CAKeyPEM},
		"leaf as CA":           {CACert: second.CertPEM, CAKey: second.KeyPEM},
		"certificate only":     {CACert: first.CACertPEM},
		"key only":             {CAKey: first.CAKeyPEM},
		"no certificate":       {CACert: []byte("junk"), CAKey: first.CAKeyPEM},
		"no key":               {CACert: first.CACertPEM, CAKey: []byte("junk")},
		"expired CA":           {CACert: first.CACertPEM, CAKey: first.CAKeyPEM, Now: func() time.Time { return t0.Add(60 * 24 * time.Hour) }},
		"no hosts":             {},
		"host with a port":     {Hosts: []string{"localhost:5000"}},
		"bad host":             {Hosts: []string{"ok.example", "bad/host"}},
		"wildcard not leading": {Hosts: []string{"a.*.example"}},
		"negative validity":    {Hosts: []string{"a.example"}, ValidFor: -time.Hour},
	}
	for name, opts := range tests {
		if opts.Hosts == nil && name != "no hosts" {
			opts.Hosts = []string{"x.example"}
		}
		if _, err := Generate(opts); err == nil {
			t.Errorf("%s: accepted", name)
		} else if !strings.HasPrefix(err.Error(), "certs: ") {
			t.Errorf("%s: error %q lacks the package prefix", name, err)
		}
	}
}

func TestGenerateWithIntermediate(t *testing.T) {
	// Generate's own CAs may not sign intermediates (path length 0), so
	// the test makes a root that may, then an intermediate under it.
	start, end := time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	rootTmpl, rootKey, err := newCA(start, end)
	if err != nil {
		t.Fatal(err)
	}
	rootTmpl.MaxPathLen, rootTmpl.MaxPathLenZero = 1, false
	rootDER, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, rootKey.Public(), rootKey)
	if err != nil {
		t.Fatal(err)
	}
	rootCA, _ := x509.ParseCertificate(rootDER)
	tmpl, key, err := newCA(start, end)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, rootCA, key.Public(), rootKey)
	if err != nil {
		t.Fatal(err)
	}
	interKey, _ := pemKey(key)
	b, err := Generate(Options{Hosts: []string{"localhost"}, CACert: pemCert(der), CAKey: interKey})
	if err != nil {
		t.Fatal(err)
	}
	// The server sends leaf + intermediate; a client trusting the root verifies.
	if n := strings.Count(string(b.CertPEM), "BEGIN CERTIFICATE"); n != 2 {
		t.Fatalf("chain of %d certificates, want leaf + intermediate", n)
	}
	srv := serveTLS(t, b)
	roots := x509.NewCertPool()
	roots.AddCert(rootCA)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	if err := get(client(roots, srv.Listener.Addr().String()), "https://localhost:"+port+"/"); err != nil {
		t.Errorf("root-trusting client: %v", err)
	}
}

func TestWriteFiles(t *testing.T) {
	b, err := Generate(Options{Hosts: []string{"localhost", "127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "tls")
	// Twice: the second replaces the first.
	for range 2 {
		if err := b.WriteFiles(dir); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]os.FileMode{CAFile: 0o644, CAKeyFile: 0o600, CertFile: 0o644, KeyFile: 0o600}
	entries, _ := os.ReadDir(dir)
	if len(entries) != len(want) {
		t.Errorf("files %v: leftovers or missing files", entries)
	}
	for name, mode := range want {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Error(err)
			continue
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", name, fi.Mode().Perm(), mode)
		}
	}
	if _, err := tls.LoadX509KeyPair(filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile)); err != nil {
		t.Errorf("LoadX509KeyPair: %v", err)
	}

	// With an existing CA, no ca.key is written.
	b2, err := Generate(Options{Hosts: []string{"localhost"}, CACert: b.CACertPEM, CAKey: b.CAKeyPEM})
	if err != nil {
		t.Fatal(err)
	}
	dir2 := t.TempDir()
	if err := b2.WriteFiles(dir2); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir2, CAKeyFile)); !os.IsNotExist(err) {
		t.Errorf("ca.key written for an existing CA: %v", err)
	}

	// WriteCA: the CA alone, where a client wants it.
	caPath := CertDirCAPath(filepath.Join(t.TempDir(), "certs.d", "localhost:5000"))
	if err := b.WriteCA(caPath); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(caPath)
	if string(got) != string(b.CACertPEM) {
		t.Error("WriteCA content")
	}
}

func TestClientPaths(t *testing.T) {
	tests := map[string]string{
		DockerCAPath("alias:5000"):                       "/etc/docker/certs.d/alias:5000/ca.crt",
		DockerCAPath("registry.example"):                 "/etc/docker/certs.d/registry.example/ca.crt",
		ContainersCAPath("alias:5000"):                   "/etc/containers/certs.d/alias:5000/ca.crt",
		ContainersUserCAPath("/home/zuul", "alias:5000"): "/home/zuul/.config/containers/certs.d/alias:5000/ca.crt",
		CertDirCAPath("/tmp/skopeo-certs"):               "/tmp/skopeo-certs/ca.crt",
		ContainerdHostsDir("alias:5000"):                 "/etc/containerd/certs.d/alias:5000",
	}
	for got, want := range tests {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	toml := string(ContainerdHostsTOML("alias:5000", "/etc/containerd/certs.d/alias:5000/ca.crt"))
	want := `server = "https://alias:5000"

[host."https://alias:5000"]
  capabilities = ["pull", "resolve", "push"]
  ca = "/etc/containerd/certs.d/alias:5000/ca.crt"
`
	if toml != want {
		t.Errorf("hosts.toml\n%s\nwant\n%s", toml, want)
	}
}
