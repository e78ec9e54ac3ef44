package certs

import (
	"fmt"
	"path"
	"path/filepath"
	"strings"
)

// Where clients look for the CA of a registry. hostPort is the registry as
// written in image references: "alias:5000", or the bare host for port 443.
// Each certs.d directory is per registry, so trusting the CA there trusts it
// for that registry only.

// DockerCAPath is where the docker daemon looks:
// /etc/docker/certs.d/<host:port>/ca.crt. The registry-mirrors entry of
// daemon.json is looked up the same way, by the mirror's host:port.
func DockerCAPath(hostPort string) string {
	return path.Join("/etc/docker/certs.d", hostPort, CAFile)
}

// ContainersCAPath is where podman, skopeo, buildah and cri-o
// (containers/image) look: /etc/containers/certs.d/<host:port>/ca.crt.
// Rootless they also read $HOME/.config/containers/certs.d (ContainersUserCAPath).
func ContainersCAPath(hostPort string) string {
	return path.Join("/etc/containers/certs.d", hostPort, CAFile)
}

// ContainersUserCAPath is the per-user certs.d of rootless podman and
// skopeo: <home>/.config/containers/certs.d/<host:port>/ca.crt.
func ContainersUserCAPath(home, hostPort string) string {
	return filepath.Join(home, ".config", "containers", "certs.d", hostPort, CAFile)
}

// CertDirCAPath is the CA's path inside a directory given to skopeo
// --cert-dir (--src-cert-dir, --dest-cert-dir) or podman --cert-dir. In such
// a directory every *.crt is a trusted CA and every *.cert with its *.key is
// a client certificate — a *.key without its *.cert is an error — so it must
// hold ca.crt and nothing of WriteFiles' server files.
func CertDirCAPath(dir string) string {
	return filepath.Join(dir, CAFile)
}

// ContainerdHostsDir is containerd's per-registry configuration directory
// (config_path = "/etc/containerd/certs.d"), which holds hosts.toml and,
// conventionally, the CA.
func ContainerdHostsDir(hostPort string) string {
	return path.Join("/etc/containerd/certs.d", hostPort)
}

// ContainerdHostsTOML is a hosts.toml for ContainerdHostsDir(hostPort) that
// makes containerd reach the registry over HTTPS trusting caPath, for
// example path.Join(ContainerdHostsDir(hostPort), "ca.crt").
func ContainerdHostsTOML(hostPort, caPath string) []byte {
	url := "https://" + hostPort
	return fmt.Appendf(nil, "server = %s\n\n[host.%s]\n  capabilities = [\"pull\", \"resolve\", \"push\"]\n  ca = %s\n",
		tomlString(url), tomlString(url), tomlString(caPath))
}

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
