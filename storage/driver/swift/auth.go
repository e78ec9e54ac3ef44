package swift

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
)

// connect authenticates and returns a client on the object-store endpoint.
// Both auth flavours renew the token by themselves: a request answered 401
// (the token expired mid-run, or was revoked) authenticates again once and
// is retried.
func connect(ctx context.Context, c Config) (*gophercloud.ServiceClient, error) {
	if c.FromEnv {
		c = c.withEnv()
	}
	hc, err := c.httpClient()
	if err != nil {
		return nil, err
	}
	if c.version() == 1 {
		return connectV1(ctx, c, hc)
	}
	pc, err := openstack.NewClient(c.AuthURL)
	if err != nil {
		return nil, fmt.Errorf("swift.auth-url: %v", err)
	}
	pc.HTTPClient = hc
	if err := openstack.Authenticate(ctx, pc, c.authOptions()); err != nil {
		return nil, fmt.Errorf("keystone at %s: %w", c.AuthURL, err)
	}
	sc, err := openstack.NewObjectStorageV1(pc, gophercloud.EndpointOpts{
		Region: c.Region, Availability: c.availability(),
	})
	if err != nil {
		return nil, fmt.Errorf("object-store endpoint (region %q, interface %q): %w", c.Region, c.availability(), err)
	}
	return sc, nil
}

// connectV1 authenticates against a v1 auth URL (tempauth, swauth), which
// hands out the storage URL with the token. gophercloud's swauth package
// insists on <base>/auth/v1.0 and does not renew; this takes the URL as
// configured, and ReauthFunc renews through a throwaway client (the
// provider's token lock is held while ReauthFunc runs).
func connectV1(ctx context.Context, c Config, hc http.Client) (*gophercloud.ServiceClient, error) {
	pc := &gophercloud.ProviderClient{HTTPClient: hc}
	auth := func(ctx context.Context) (token, storage string, err error) {
		tmp := &gophercloud.ProviderClient{HTTPClient: pc.HTTPClient, UserAgent: pc.UserAgent}
		tmp.SetThrowaway(true)
		resp, err := tmp.Request(ctx, http.MethodGet, c.AuthURL, &gophercloud.RequestOpts{
			MoreHeaders: map[string]string{"X-Auth-User": c.Username, "X-Auth-Key": c.Password},
			OkCodes:     []int{200, 204},
		})
		if err != nil {
			return "", "", err
		}
		token, storage = resp.Header.Get("X-Auth-Token"), resp.Header.Get("X-Storage-Url")
		if token == "" || storage == "" {
			return "", "", errors.New("answer without X-Auth-Token or X-Storage-Url")
		}
		return token, storage, nil
	}
	token, storage, err := auth(ctx)
	if err != nil {
		return nil, fmt.Errorf("v1 auth at %s: %w", c.AuthURL, err)
	}
	pc.SetToken(token)
	pc.ReauthFunc = func(ctx context.Context) error {
		token, _, err := auth(ctx)
		if err != nil {
			return err
		}
		pc.SetToken(token)
		return nil
	}
	return &gophercloud.ServiceClient{ProviderClient: pc, Endpoint: gophercloud.NormalizeURL(storage)}, nil
}

// authOptions are the Keystone v3 options: application credentials when
// given (their project is their own), else a password scoped to the project.
func (c Config) authOptions() gophercloud.AuthOptions {
	o := gophercloud.AuthOptions{
		IdentityEndpoint: c.AuthURL,
		AllowReauth:      true, // renew the token when it expires
	}
	if c.ApplicationCredentialID != "" || c.ApplicationCredentialName != "" {
		o.ApplicationCredentialID = c.ApplicationCredentialID
		o.ApplicationCredentialName = c.ApplicationCredentialName
		o.ApplicationCredentialSecret = c.ApplicationCredentialSecret
		o.Username, o.UserID = c.Username, c.UserID
		if o.Username != "" {
			o.DomainName, o.DomainID = c.userDomain()
		}
		return o
	}
	o.Username, o.UserID, o.Password = c.Username, c.UserID, c.Password
	if o.UserID == "" {
		o.DomainName, o.DomainID = c.userDomain()
	}
	if c.ProjectID != "" || c.ProjectName != "" {
		s := &gophercloud.AuthScope{ProjectID: c.ProjectID, ProjectName: c.ProjectName}
		if c.ProjectID == "" {
			s.DomainName, s.DomainID = c.ProjectDomainName, c.ProjectDomainID
			if s.DomainName == "" && s.DomainID == "" {
				s.DomainName, s.DomainID = c.userDomain()
			}
		}
		o.Scope = s
	}
	return o
}

// userDomain is the user's domain, "Default" when none is configured.
func (c Config) userDomain() (name, id string) {
	if c.UserDomainName == "" && c.UserDomainID == "" {
		return "Default", ""
	}
	return c.UserDomainName, c.UserDomainID
}

func (c Config) availability() gophercloud.Availability {
	switch c.Interface {
	case "internal":
		return gophercloud.AvailabilityInternal
	case "admin":
		return gophercloud.AvailabilityAdmin
	}
	return gophercloud.AvailabilityPublic
}

// withEnv fills every unset Keystone setting from the OS_* environment.
func (c Config) withEnv() Config {
	set := func(dst *string, names ...string) {
		for _, n := range names {
			if *dst == "" {
				*dst = os.Getenv(n)
			}
		}
	}
	set(&c.AuthURL, "OS_AUTH_URL")
	set(&c.Username, "OS_USERNAME")
	set(&c.UserID, "OS_USER_ID", "OS_USERID")
	set(&c.Password, "OS_PASSWORD")
	set(&c.UserDomainName, "OS_USER_DOMAIN_NAME")
	set(&c.UserDomainID, "OS_USER_DOMAIN_ID")
	set(&c.ProjectName, "OS_PROJECT_NAME", "OS_TENANT_NAME")
	set(&c.ProjectID, "OS_PROJECT_ID", "OS_TENANT_ID")
	set(&c.ProjectDomainName, "OS_PROJECT_DOMAIN_NAME")
	set(&c.ProjectDomainID, "OS_PROJECT_DOMAIN_ID")
	set(&c.ApplicationCredentialID, "OS_APPLICATION_CREDENTIAL_ID")
	set(&c.ApplicationCredentialName, "OS_APPLICATION_CREDENTIAL_NAME")
	set(&c.ApplicationCredentialSecret, "OS_APPLICATION_CREDENTIAL_SECRET")
	set(&c.Region, "OS_REGION_NAME")
	set(&c.Interface, "OS_INTERFACE")
	set(&c.CAFile, "OS_CACERT")
	if c.Interface == "publicURL" || c.Interface == "internalURL" || c.Interface == "adminURL" {
		c.Interface = c.Interface[:len(c.Interface)-3] // the CLI accepts the old v2 spellings
	}
	return c
}

// httpClient trusts CAFile besides the system roots, keeps enough idle
// connections for parallel segment uploads, and bounds the handshake; the
// request itself is bounded by its context (a blob may stream for long).
func (c Config) httpClient() (http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 32
	tr.ResponseHeaderTimeout = 2 * time.Minute
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return http.Client{}, fmt.Errorf("swift.ca-file: %v", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return http.Client{}, fmt.Errorf("swift.ca-file: %s: no PEM certificates", c.CAFile)
		}
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	}
	// Swift answers redirects only to TempURL clients; the driver follows none.
	return http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}, nil
}
