package client

import (
	"os"
	"path/filepath"

	"github.com/docker/cli/cli/config"
	"github.com/google/go-containerregistry/pkg/authn"
)

// keychain is docker's credentials first (~/.docker/config.json and its
// credential helpers), then containers' auth.json. authn.DefaultKeychain
// reads auth.json only when there is no docker config at all; a CI node
// often has both, with podman login's credentials in auth.json.
var keychain = authn.NewMultiKeychain(authn.DefaultKeychain, containersKeychain{})

// containersKeychain reads auth.json where podman, skopeo and buildah
// look for it: $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers, then
// $XDG_CONFIG_HOME/containers (~/.config/containers).
type containersKeychain struct{}

func (containersKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	for _, p := range authFiles() {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		cf, err := config.LoadFromReader(f)
		f.Close()
		if err != nil {
			return nil, err
		}
		ac, err := cf.GetAuthConfig(r.RegistryStr())
		if err != nil {
			return nil, err
		}
		if ac.Username != "" || ac.IdentityToken != "" || ac.RegistryToken != "" {
			return authn.FromConfig(authn.AuthConfig{Username: ac.Username, Password: ac.Password,
				IdentityToken: ac.IdentityToken, RegistryToken: ac.RegistryToken}), nil
		}
	}
	return authn.Anonymous, nil
}

func authFiles() []string {
	var out []string
	if p := os.Getenv("REGISTRY_AUTH_FILE"); p != "" {
		out = append(out, p)
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		out = append(out, filepath.Join(d, "containers", "auth.json"))
	}
	cfg := os.Getenv("XDG_CONFIG_HOME")
	if cfg == "" {
		if home, err := os.UserHomeDir(); err == nil {
			cfg = filepath.Join(home, ".config")
		}
	}
	if cfg != "" {
		out = append(out, filepath.Join(cfg, "containers", "auth.json"))
	}
	return out
}
