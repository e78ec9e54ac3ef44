// Package certs makes the TLS material of `shadowreg cert`: a CA and a
// server certificate signed by it, and the places where each container
// client looks for that CA.
//
// It mirrors what zuul-jobs' run-buildset-registry does with openssl: a
// throwaway CA per registry and a server certificate whose SANs are the
// registry's alias host name, the node's IP and 127.0.0.1. Clients then
// trust the CA for that one host:port only (docker's and containers'
// certs.d), never system-wide.
package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"slices"
	"strings"
	"time"
)

// DefaultValidFor is the validity of generated certificates when
// Options.ValidFor is zero.
const DefaultValidFor = 365 * 24 * time.Hour

// backdate starts validity an hour early: CI nodes' clocks differ, and a
// certificate that is not yet valid on a node fails as surely as an expired one.
const backdate = time.Hour

// Options describe the certificates to make.
type Options struct {
	// Hosts are the server's names: DNS names ("localhost",
	// "registry.buildset") and IP addresses ("127.0.0.1", "::1") mixed, in
	// any order; entries may also hold several, comma-separated. The first
	// DNS name, or the first address, is also the subject's common name.
	Hosts []string

	// ValidFor is the validity of the server certificate (and of a new CA);
	// DefaultValidFor when zero. With an existing CA, the server
	// certificate ends no later than the CA.
	ValidFor time.Duration

	// CACert and CAKey, PEM, sign the server certificate with an existing
	// CA instead of a new one. Both or neither.
	CACert, CAKey []byte

	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Bundle is the generated material, PEM encoded.
type Bundle struct {
	// CACertPEM is what clients must trust: the new CA, or CACert as given.
	CACertPEM []byte

	// CAKeyPEM is the new CA's private key (PKCS#8), so that later
	// certificates can be signed by the same CA; nil when an existing CA
	// was used.
	CAKeyPEM []byte

	// CertPEM is the server certificate alone, or followed by CACert's
	// certificates when that CA is an intermediate (clients need the chain
	// up to the root they trust; a self-signed root is never sent).
	CertPEM []byte

	// KeyPEM is the server's private key (PKCS#8, ECDSA P-256).
	KeyPEM []byte
}

// Generate makes a server certificate for opts.Hosts, signed by a new ECDSA
// P-256 CA or by opts' CA.
func Generate(opts Options) (*Bundle, error) {
	dns, ips, err := splitHosts(opts.Hosts)
	if err != nil {
		return nil, err
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	validFor := opts.ValidFor
	if validFor == 0 {
		validFor = DefaultValidFor
	}
	if validFor < 0 {
		return nil, fmt.Errorf("certs: validity %s is negative", validFor)
	}
	start := now().Add(-backdate).Truncate(time.Second)
	end := start.Add(backdate + validFor)

	b := &Bundle{}
	var ca *x509.Certificate
	var caKey crypto.Signer
	var chain []byte
	switch {
	case opts.CACert == nil && opts.CAKey == nil:
		ca, caKey, err = newCA(start, end)
		if err != nil {
			return nil, err
		}
		b.CACertPEM = pemCert(ca.Raw)
		if b.CAKeyPEM, err = pemKey(caKey); err != nil {
			return nil, err
		}
	case opts.CACert != nil && opts.CAKey != nil:
		ca, caKey, chain, err = loadCA(opts.CACert, opts.CAKey)
		if err != nil {
			return nil, err
		}
		b.CACertPEM = opts.CACert
		if end.After(ca.NotAfter) {
			end = ca.NotAfter
		}
		if !end.After(now()) {
			return nil, fmt.Errorf("certs: the CA expired on %s", ca.NotAfter.Format(time.RFC3339))
		}
	default:
		return nil, errors.New("certs: an existing CA needs both its certificate and its key")
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	var cn string
	if len(dns) > 0 {
		cn = dns[0]
	} else {
		cn = ips[0].String()
	}
	sn, err := serial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"shadowreg"}},
		NotBefore:    start,
		NotAfter:     end,
		// ECDSA keys sign; they never encipher keys, so only
		// DigitalSignature (RFC 5480 section 3).
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    dns,
		IPAddresses: ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return nil, fmt.Errorf("certs: signing the server certificate: %w", err)
	}
	b.CertPEM = append(pemCert(der), chain...)
	if b.KeyPEM, err = pemKey(key); err != nil {
		return nil, err
	}
	return b, nil
}

// newCA makes a self-signed ECDSA P-256 CA that may sign server
// certificates only (path length 0: no intermediates under it).
func newCA(start, end time.Time) (*x509.Certificate, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		// A unique name: every buildset has its own CA, and two CAs with
		// the same subject confuse tools that look issuers up by name.
		Subject:               pkix.Name{CommonName: "shadowreg CA " + fmt.Sprintf("%032x", sn)[:12], Organization: []string{"shadowreg"}},
		NotBefore:             start,
		NotAfter:              end,
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: signing the CA: %w", err)
	}
	ca, err := x509.ParseCertificate(der)
	return ca, key, err
}

// loadCA parses an existing CA and checks that it can sign server
// certificates. chain is the PEM to send after the server certificate: the
// given certificates when the CA is an intermediate, nothing for a root.
func loadCA(certPEM, keyPEM []byte) (ca *x509.Certificate, key crypto.Signer, chain []byte, err error) {
	var certs []*x509.Certificate
	for rest := certPEM; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("certs: CA certificate: %w", err)
		}
		certs = append(certs, c)
		chain = append(chain, pemCert(c.Raw)...)
	}
	if len(certs) == 0 {
		return nil, nil, nil, errors.New("certs: CA certificate: no PEM certificate found")
	}
	ca = certs[0]
	if !ca.IsCA || (ca.KeyUsage != 0 && ca.KeyUsage&x509.KeyUsageCertSign == 0) {
		return nil, nil, nil, fmt.Errorf("certs: %q is not a CA that may sign certificates", ca.Subject)
	}
	key, err = ParsePrivateKey(keyPEM)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("certs: CA key: %w", err)
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(ca.PublicKey) {
		return nil, nil, nil, errors.New("certs: the CA key does not match the CA certificate")
	}
	if ca.CheckSignatureFrom(ca) == nil && slices.Equal(ca.RawIssuer, ca.RawSubject) {
		chain = nil // a self-signed root: clients have it, sending it is noise
	}
	return ca, key, chain, nil
}

// splitHosts sorts hosts into DNS names and IP addresses, dropping
// duplicates. A port is refused: a certificate names hosts, and docker's
// certs.d directory, which does carry the port, is another matter.
func splitHosts(hosts []string) (dns []string, ips []net.IP, err error) {
	for _, entry := range hosts {
		for h := range strings.FieldsFuncSeq(entry, func(r rune) bool { return r == ',' || r == ' ' }) {
			if ip := net.ParseIP(strings.Trim(h, "[]")); ip != nil {
				if !slices.ContainsFunc(ips, ip.Equal) {
					ips = append(ips, ip)
				}
				continue
			}
			h = strings.ToLower(strings.TrimSuffix(h, "."))
			if !validDNSName(h) {
				return nil, nil, fmt.Errorf("certs: %q is neither an IP address nor a DNS name (without a port)", h)
			}
			if !slices.Contains(dns, h) {
				dns = append(dns, h)
			}
		}
	}
	if len(dns) == 0 && len(ips) == 0 {
		return nil, nil, errors.New("certs: at least one host name or IP address is required")
	}
	return dns, ips, nil
}

// validDNSName accepts host names and a leading wildcard label
// ("*.buildset.example"), the forms a SAN may hold.
func validDNSName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for i, label := range strings.Split(h, ".") {
		if label == "*" && i == 0 && strings.Contains(h, ".") {
			continue
		}
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range []byte(label) {
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// serial is a random positive serial number of at most 127 bits (RFC 5280
// allows up to 20 octets; random serials keep two CAs' certificates from
// ever colliding).
func serial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	return n.Add(n, big.NewInt(1)), nil
}
