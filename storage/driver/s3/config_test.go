package s3

import (
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	ok := Config{Endpoint: "127.0.0.1:9000", Bucket: "registry"}
	if err := ok.Validate(); err != nil {
		t.Fatalf("minimal config: %v", err)
	}
	junk := filepath.Join(t.TempDir(), "junk.pem")
	os.WriteFile(junk, []byte("not a certificate"), 0o600)
	tests := []struct {
		name string
		edit func(*Config)
		want string // the error starts with this; "" for valid
	}{
		{"NoEndpoint", func(c *Config) { c.Endpoint = "" }, "s3.endpoint: required"},
		{"EndpointPath", func(c *Config) { c.Endpoint = "http://h:9000/bucket" }, "s3.endpoint:"},
		{"EndpointScheme", func(c *Config) { c.Endpoint = "ftp://h" }, "s3.endpoint:"},
		{"EndpointURL", func(c *Config) { c.Endpoint = "https://s3.example.com" }, ""},
		{"InsecureHTTPS", func(c *Config) { c.Endpoint = "https://h"; c.Insecure = true }, "s3.insecure:"},
		{"NoBucket", func(c *Config) { c.Bucket = "" }, "s3.bucket: required"},
		{"BadBucket", func(c *Config) { c.Bucket = "Not_A_Bucket" }, "s3.bucket:"},
		{"Prefix", func(c *Config) { c.Prefix = "/shared/registry/" }, ""},
		{"BadPrefix", func(c *Config) { c.Prefix = "a/../b" }, "s3.prefix:"},
		{"HalfKeys", func(c *Config) { c.AccessKey = "id" }, "s3.access-key, s3.secret-key:"},
		{"Expiry", func(c *Config) { c.RedirectExpiry = "1h" }, ""},
		{"BadExpiry", func(c *Config) { c.RedirectExpiry = "soon" }, "s3.redirect-expiry:"},
		{"LongExpiry", func(c *Config) { c.RedirectExpiry = "200h" }, "s3.redirect-expiry:"},
		{"SmallParts", func(c *Config) { c.PartSize = 1 << 20 }, "s3.part-size:"},
		{"MissingCA", func(c *Config) { c.CAFile = "/no/such/ca.pem" }, "s3.ca-file:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.edit(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.want)):
				t.Errorf("Validate = %v, want %q...", err, tt.want)
			case err != nil && strings.Contains(err.Error(), "\n"):
				t.Errorf("Validate error spans lines: %q", err)
			}
		})
	}
	c := ok
	c.CAFile = junk
	if _, err := New(testCtx(t), c); err == nil || !strings.HasPrefix(err.Error(), "s3.ca-file:") {
		t.Errorf("New with a junk CA file = %v, want an s3.ca-file error", err)
	}
}

func TestConfigDefaults(t *testing.T) {
	var c Config
	if c.region() != "us-east-1" || !c.pathStyle() || c.partSize() != 16<<20 {
		t.Errorf("defaults: region %q, path-style %v, part size %d", c.region(), c.pathStyle(), c.partSize())
	}
	if d, _ := c.redirectExpiry(); d != 20*time.Minute {
		t.Errorf("default redirect expiry %v", d)
	}
	off := false
	c.PathStyle = &off
	if c.pathStyle() {
		t.Error("path-style: false ignored")
	}
	if got := (Config{Prefix: "/a/b/"}).root(); got != "a/b/" {
		t.Errorf("root of prefix /a/b/ = %q", got)
	}
}

// TestCAFile talks TLS to a server whose certificate only the CA file vouches
// for. The server answers what New asks (HEAD /bucket) as S3 would.
func TestCAFile(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead && strings.TrimSuffix(r.URL.Path, "/") == "/bucket" {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusNotFound)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are the point
	srv.StartTLS()
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(ca, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	c := Config{Endpoint: srv.URL, Bucket: "bucket", AccessKey: "id", SecretKey: "secret"}
	if _, err := New(testCtx(t), c); err == nil {
		t.Fatal("New trusted an unknown certificate")
	}
	c.CAFile = ca
	if _, err := New(testCtx(t), c); err != nil {
		t.Fatalf("New with the CA file: %v", err)
	}
}
