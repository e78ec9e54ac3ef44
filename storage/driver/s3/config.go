package s3

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"
)

// Config configures the S3 driver (the storage.s3 section of shadowreg's
// configuration file).
type Config struct {
	// Endpoint is host:port or a URL (http:// or https://). A bare host:port
	// uses TLS unless Insecure is set.
	Endpoint string `yaml:"endpoint"`
	// Region signs requests; default us-east-1 (what MinIO and Ceph expect).
	Region string `yaml:"region"`
	Bucket string `yaml:"bucket"`
	// Prefix is the driver's root inside the bucket, so a bucket can be shared.
	Prefix string `yaml:"prefix"`
	// PathStyle addresses the bucket as host/bucket rather than bucket.host;
	// nil means true, which MinIO and Ceph need and AWS still accepts.
	PathStyle *bool `yaml:"path-style"`
	// AccessKey and SecretKey: when both are empty the driver falls back to
	// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, then
	// MINIO_ROOT_USER..., ~/.aws/credentials, ~/.mc/config.json and the
	// instance's IAM role (minio-go's credential chain).
	AccessKey string `yaml:"access-key"`
	SecretKey string `yaml:"secret-key"`
	// Insecure talks plain http to a bare host:port endpoint.
	Insecure bool `yaml:"insecure"`
	// CAFile is a PEM bundle trusted in addition to the system roots.
	CAFile string `yaml:"ca-file"`
	// Redirect makes the driver a driver.URLer: clients fetch blobs from
	// presigned URLs, straight from the object store.
	Redirect bool `yaml:"redirect"`
	// RedirectExpiry is how long a presigned URL stays valid when the caller
	// does not say (a Go duration, default 20m, at most 7 days: S3's limit).
	RedirectExpiry string `yaml:"redirect-expiry"`
	// PartSize is the multipart part size in bytes: the memory one writer
	// holds. An upload has at most 10 000 parts: 156 GiB at the default
	// 16 MiB when written in one stream; a chunked upload whose checkpoints
	// each flush a part of 5 MiB (S3's minimum, and this key's) gets 48 GiB.
	PartSize int64 `yaml:"part-size"`
}

const (
	defaultRegion         = "us-east-1"
	defaultRedirectExpiry = 20 * time.Minute
	maxRedirectExpiry     = 7 * 24 * time.Hour // SigV4 presigned URLs cannot live longer
	defaultPartSize       = 16 << 20
	minPartSize           = 5 << 20 // S3: every part but the last
	maxPartSize           = 5 << 30 // S3: any part
	maxParts              = 10000   // S3: parts per upload
	maxCopySize           = 5 << 30 // S3: CopyObject; larger objects are copied in parts
)

// Validate checks c without touching the network. Errors are one line and
// name the offending key, e.g. "s3.bucket: required".
func (c Config) Validate() error {
	if c.Endpoint == "" {
		return errors.New("s3.endpoint: required (host:port or URL)")
	}
	if _, _, err := c.endpoint(); err != nil {
		return err
	}
	if c.Bucket == "" {
		return errors.New("s3.bucket: required")
	}
	if err := s3utils.CheckValidBucketNameStrict(c.Bucket); err != nil {
		return fmt.Errorf("s3.bucket: %q: %v", c.Bucket, err)
	}
	if p := strings.Trim(c.Prefix, "/"); p != "" {
		for _, part := range strings.Split(p, "/") {
			if part == "" || part == "." || part == ".." {
				return fmt.Errorf("s3.prefix: %q: empty, \".\" or \"..\" component", c.Prefix)
			}
		}
	}
	if (c.AccessKey == "") != (c.SecretKey == "") {
		return errors.New("s3.access-key, s3.secret-key: set both or neither")
	}
	if _, err := c.redirectExpiry(); err != nil {
		return err
	}
	if c.PartSize != 0 && (c.PartSize < minPartSize || c.PartSize > maxPartSize) {
		return fmt.Errorf("s3.part-size: %d: must be between %d (5 MiB) and %d (5 GiB)", c.PartSize, minPartSize, maxPartSize)
	}
	if c.CAFile != "" {
		if _, err := os.Stat(c.CAFile); err != nil {
			return fmt.Errorf("s3.ca-file: %v", err)
		}
	}
	return nil
}

// endpoint returns the host:port to dial and whether to use TLS.
func (c Config) endpoint() (host string, secure bool, err error) {
	e := c.Endpoint
	if !strings.Contains(e, "://") {
		if strings.ContainsAny(e, "/?#") {
			return "", false, fmt.Errorf("s3.endpoint: %q: want host:port or a URL without a path", e)
		}
		return e, !c.Insecure, nil
	}
	u, err := url.Parse(e)
	if err != nil {
		return "", false, fmt.Errorf("s3.endpoint: %v", err)
	}
	if u.Host == "" || strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.User != nil {
		return "", false, fmt.Errorf("s3.endpoint: %q: want scheme://host[:port] only (the bucket goes in s3.bucket)", e)
	}
	switch u.Scheme {
	case "http":
		return u.Host, false, nil
	case "https":
		if c.Insecure {
			return "", false, fmt.Errorf("s3.insecure: contradicts the https endpoint %q", e)
		}
		return u.Host, true, nil
	}
	return "", false, fmt.Errorf("s3.endpoint: %q: scheme must be http or https", e)
}

func (c Config) region() string {
	if c.Region == "" {
		return defaultRegion
	}
	return c.Region
}

func (c Config) pathStyle() bool { return c.PathStyle == nil || *c.PathStyle }

func (c Config) partSize() int64 {
	if c.PartSize == 0 {
		return defaultPartSize
	}
	return c.PartSize
}

func (c Config) redirectExpiry() (time.Duration, error) {
	if c.RedirectExpiry == "" {
		return defaultRedirectExpiry, nil
	}
	d, err := time.ParseDuration(c.RedirectExpiry)
	if err != nil || d <= 0 || d > maxRedirectExpiry {
		return 0, fmt.Errorf("s3.redirect-expiry: %q: want a duration between 1s and 168h", c.RedirectExpiry)
	}
	return d, nil
}

// root is the key prefix of everything the driver stores: "" or "a/b/".
func (c Config) root() string {
	p := strings.Trim(c.Prefix, "/")
	if p == "" {
		return ""
	}
	return p + "/"
}

// credentials: static keys when configured, else the environment chain.
func (c Config) credentials() *credentials.Credentials {
	if c.AccessKey != "" {
		return credentials.NewStaticV4(c.AccessKey, c.SecretKey, "")
	}
	return credentials.NewChainCredentials([]credentials.Provider{
		&credentials.EnvAWS{},
		&credentials.EnvMinio{},
		&credentials.FileAWSCredentials{},
		&credentials.FileMinioClient{},
		&credentials.IAM{},
	})
}

// clientOptions builds minio-go's options, loading the CA bundle.
func (c Config) clientOptions() (string, *minio.Options, error) {
	host, secure, err := c.endpoint()
	if err != nil {
		return "", nil, err
	}
	tr, err := minio.DefaultTransport(secure)
	if err != nil {
		return "", nil, err
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return "", nil, fmt.Errorf("s3.ca-file: %v", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return "", nil, fmt.Errorf("s3.ca-file: %s: no PEM certificates", c.CAFile)
		}
		if tr.TLSClientConfig == nil {
			tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	lookup := minio.BucketLookupDNS
	if c.pathStyle() {
		lookup = minio.BucketLookupPath
	}
	return host, &minio.Options{
		Creds:        c.credentials(),
		Secure:       secure,
		Transport:    http.RoundTripper(tr),
		Region:       c.region(),
		BucketLookup: lookup,
	}, nil
}
