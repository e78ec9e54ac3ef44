package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/shadowreg/shadowreg/registry/certs"
	"github.com/spf13/cobra"
)

type certOptions struct {
	hosts     []string
	out       string
	caCert    string
	caKey     string
	validFor  time.Duration
	installCA []string
	certDir   string
}

func newCertCmd() *cobra.Command {
	o := &certOptions{}
	cmd := &cobra.Command{
		Use:   "cert",
		Short: "Make a CA and a server certificate for serving HTTPS",
		Long: `Make a CA and a server certificate for the given host names and IP addresses,
write them to --out (ca.crt, ca.key, server.crt, server.key), and optionally
install the CA where clients look for it:

  --install-ca HOST:PORT  /etc/docker/certs.d/HOST:PORT/ca.crt (docker) and
                          /etc/containers/certs.d/HOST:PORT/ca.crt (podman,
                          skopeo, buildah, cri-o)
  --cert-dir DIR          DIR/ca.crt, for skopeo or podman --cert-dir DIR

Then serve with tls-cert: OUT/server.crt and tls-key: OUT/server.key.`,
		Example: `  shadowreg cert --host registry.example.com --host 10.0.0.5 --out ./certs --install-ca registry.example.com:5000`,
		Args:    cobra.NoArgs,
		RunE:    o.run,
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.hosts, "host", []string{"localhost", "127.0.0.1"}, "DNS name or IP address the certificate is for (repeatable)")
	f.StringVar(&o.out, "out", "./shadowreg-certs", "folder to write ca.crt, ca.key, server.crt and server.key to")
	f.StringVar(&o.caCert, "ca-cert", "", "sign with this existing CA certificate (PEM) instead of making a new CA")
	f.StringVar(&o.caKey, "ca-key", "", "the existing CA's private key (PEM), with --ca-cert")
	f.DurationVar(&o.validFor, "valid-for", certs.DefaultValidFor, "how long the certificates are valid")
	f.StringArrayVar(&o.installCA, "install-ca", nil, "HOST:PORT clients use: install the CA into docker's and containers' certs.d for it (repeatable)")
	f.StringVar(&o.certDir, "cert-dir", "", "also write the CA as DIR/ca.crt, for skopeo/podman --cert-dir")
	return cmd
}

func (o *certOptions) run(cmd *cobra.Command, _ []string) error {
	if (o.caCert == "") != (o.caKey == "") {
		return fmt.Errorf("--ca-cert and --ca-key go together")
	}
	opts := certs.Options{Hosts: o.hosts, ValidFor: o.validFor}
	if o.caCert != "" {
		var err error
		if opts.CACert, err = os.ReadFile(o.caCert); err != nil {
			return fmt.Errorf("--ca-cert: %w", err)
		}
		if opts.CAKey, err = os.ReadFile(o.caKey); err != nil {
			return fmt.Errorf("--ca-key: %w", err)
		}
	}
	b, err := certs.Generate(opts)
	if err != nil {
		return err
	}
	if err := b.WriteFiles(o.out); err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "wrote %s (CA), %s and %s for %v\n", filepath.Join(o.out, certs.CAFile),
		filepath.Join(o.out, certs.CertFile), filepath.Join(o.out, certs.KeyFile), o.hosts)
	var installed []string
	for _, hp := range o.installCA {
		for _, p := range []string{certs.DockerCAPath(hp), certs.ContainersCAPath(hp)} {
			if err := b.WriteCA(p); err != nil {
				return fmt.Errorf("--install-ca %s: %w", hp, err)
			}
			installed = append(installed, p)
		}
	}
	if o.certDir != "" {
		p := certs.CertDirCAPath(o.certDir)
		if err := b.WriteCA(p); err != nil {
			return fmt.Errorf("--cert-dir: %w", err)
		}
		installed = append(installed, p)
	}
	for _, p := range installed {
		fmt.Fprintf(out, "installed the CA as %s\n", p)
	}
	fmt.Fprintf(out, "serve with:\n  tls-cert: %s\n  tls-key: %s\n", filepath.Join(o.out, certs.CertFile), filepath.Join(o.out, certs.KeyFile))
	return nil
}
