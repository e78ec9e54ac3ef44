package certs

import (
	"fmt"
	"os"
	"path/filepath"
)

// File names that WriteFiles uses. The CA ends in .crt, the name every
// client's certs.d expects; the server's pair is deliberately not named
// *.cert/*.key, which containers' certs.d would take for a client
// certificate (see CertDirCAPath).
const (
	CAFile    = "ca.crt"
	CAKeyFile = "ca.key"
	CertFile  = "server.crt"
	KeyFile   = "server.key"
)

// WriteFiles writes the bundle into dir (created if needed): ca.crt,
// server.crt (the server certificate, plus the chain of an intermediate CA),
// server.key (0600) and, for a new CA, ca.key (0600). Each file is replaced
// atomically, so that a registry reloading its certificate never reads a
// half-written one. The directory holds private keys: do not hand it to a
// client as --cert-dir; give clients ca.crt alone (WriteCA).
func (b *Bundle) WriteFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// Keys first: a reader that finds a new certificate then finds its key.
	files := []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{KeyFile, b.KeyPEM, 0o600},
		{CAKeyFile, b.CAKeyPEM, 0o600},
		{CertFile, b.CertPEM, 0o644},
		{CAFile, b.CACertPEM, 0o644},
	}
	for _, f := range files {
		if f.data == nil {
			continue
		}
		if err := writeAtomic(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return err
		}
	}
	return syncDir(dir)
}

// WriteCA writes the CA certificate alone to path, creating its directory:
// the form every client wants (DockerCAPath, ContainersCAPath, a
// --cert-dir, containerd's ca = …).
func (b *Bundle) WriteCA(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := writeAtomic(path, b.CACertPEM, 0o644); err != nil {
		return err
	}
	return syncDir(dir)
}

// writeAtomic writes data to a temporary file beside path, syncs it and
// renames it over path: readers see the old content or the new, and the
// mode is right from the first byte (a key is never world-readable, even
// briefly).
func writeAtomic(path string, data []byte, mode os.FileMode) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = f.Chmod(mode); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	return nil
}

// syncDir makes the renames durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
