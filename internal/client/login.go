package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Login checks user and password against the registry (through the Docker
// token flow when it asks for one) and stores them where docker keeps
// them: ~/.docker/config.json ($DOCKER_CONFIG), or its credential helper
// when one is configured. It returns the file written.
func (c *Client) Login(ctx context.Context, user, password string) (string, error) {
	reg, err := name.NewRegistry(c.host, c.nameOpts()...)
	if err != nil {
		return "", err
	}
	auth := authn.FromConfig(authn.AuthConfig{Username: user, Password: password})
	// A bearer challenge fetches a token here: wrong credentials fail now.
	rt, err := transport.NewWithContext(ctx, reg, auth, c.tr, []string{reg.Scope("")})
	if err != nil {
		return "", fmt.Errorf("logging in to %s: %w", c.host, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, reg.Scheme()+"://"+c.host+"/v2/", nil)
	if err != nil {
		return "", err
	}
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return "", fmt.Errorf("logging in to %s: %w", c.host, err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("logging in to %s: %s: check the user name and password", c.host, resp.Status)
	}
	cf, err := config.Load(os.Getenv("DOCKER_CONFIG"))
	if err != nil {
		return "", err
	}
	if err := cf.GetCredentialsStore(c.host).Store(types.AuthConfig{ServerAddress: c.host, Username: user, Password: password}); err != nil {
		return "", fmt.Errorf("storing the credentials: %w", err)
	}
	return cf.Filename, cf.Save()
}

// Logout removes the registry's stored credentials.
func (c *Client) Logout() (string, error) {
	cf, err := config.Load(os.Getenv("DOCKER_CONFIG"))
	if err != nil {
		return "", err
	}
	if _, ok := cf.AuthConfigs[c.host]; !ok && cf.CredentialHelpers[c.host] == "" && cf.CredentialsStore == "" {
		return cf.Filename, fmt.Errorf("not logged in to %s (in %s)", c.host, cf.Filename)
	}
	if err := cf.GetCredentialsStore(c.host).Erase(c.host); err != nil {
		return "", fmt.Errorf("removing the credentials: %w", err)
	}
	return cf.Filename, cf.Save()
}
