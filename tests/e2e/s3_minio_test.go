package e2e

// Helpers of the S3 end-to-end tests (s3_*_test.go): a real MinIO started
// through tools/minio.sh, shadowreg configured with storage.driver: s3 on it,
// and a look straight into the bucket with minio-go.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

const (
	minioBucket       = "shadowreg-e2e"
	minioStartTimeout = 60 * time.Second // tools/minio.sh waits up to 30 s itself
	minioStopTimeout  = 30 * time.Second // … and up to 10 s for SIGTERM
)

// minioServer is one MinIO process run by tools/minio.sh in its own folder
// (data, config, log, pid file). stop and start again keep the folder, the
// port and the data: the same object store, back.
type minioServer struct {
	Dir       string
	Endpoint  string // 127.0.0.1:PORT
	Port      string
	AccessKey string
	SecretKey string
	Bucket    string
	starts    int
}

// requireMinio checks for MinIO where tools/minio.sh will look for it.
func requireMinio() error {
	p := filepath.Join(toolsDir, "minio")
	if st, err := os.Stat(p); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return fmt.Errorf("MinIO not found at %s: install it with `tools/install.sh minio` (or set SHADOWREG_TOOLS)", p)
	}
	return nil
}

// minioScript runs tools/minio.sh with a bounded time; MinIO stops by
// itself when this test process ends (MINIO_WATCH_PID), even one killed by
// go test's timeout.
func minioScript(timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(repoRoot, "tools", "minio.sh"), args...)
	cmd.Env = append(os.Environ(),
		"MINIO_NO_INSTALL=1",
		"SHADOWREG_TOOLS="+toolsDir,
		"MINIO_WATCH_PID="+strconv.Itoa(os.Getpid()),
		"MINIO_ROOT_USER=e2e-access",
		"MINIO_ROOT_PASSWORD=e2e-secret-key-123",
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %v: %w", timeout, err)
	}
	if err != nil {
		return stdout.String(), fmt.Errorf("tools/minio.sh %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

// launchMinio starts a MinIO in dir (created if needed) on port ("" for a
// free one) with the e2e bucket.
func launchMinio(dir, port string) (*minioServer, error) {
	if err := requireMinio(); err != nil {
		return nil, err
	}
	m := &minioServer{Dir: dir, Port: port}
	return m, m.start()
}

func (m *minioServer) start() error {
	out, err := minioScript(minioStartTimeout, "start", m.Dir, m.Port, minioBucket)
	if err != nil {
		return err
	}
	env := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			env[k] = v
		}
	}
	for _, k := range []string{"MINIO_ENDPOINT", "MINIO_ACCESS_KEY", "MINIO_SECRET_KEY", "MINIO_BUCKET"} {
		if env[k] == "" {
			return fmt.Errorf("tools/minio.sh start printed no %s:\n%s", k, out)
		}
	}
	_, port, err := net.SplitHostPort(env["MINIO_ENDPOINT"])
	if err != nil {
		return fmt.Errorf("tools/minio.sh start: MINIO_ENDPOINT=%q: %v", env["MINIO_ENDPOINT"], err)
	}
	if m.Port != "" && port != m.Port {
		return fmt.Errorf("tools/minio.sh start: MinIO came back on port %s, not %s", port, m.Port)
	}
	m.Endpoint, m.Port = env["MINIO_ENDPOINT"], port
	m.AccessKey, m.SecretKey, m.Bucket = env["MINIO_ACCESS_KEY"], env["MINIO_SECRET_KEY"], env["MINIO_BUCKET"]
	m.starts++
	return nil
}

// Stop stops MinIO (SIGTERM, then SIGKILL after 10 s: tools/minio.sh stop).
func (m *minioServer) Stop(t testing.TB) {
	t.Helper()
	if _, err := minioScript(minioStopTimeout, "stop", m.Dir); err != nil {
		t.Fatal(err)
	}
}

// Start starts MinIO again on the same port and data.
func (m *minioServer) Start(t testing.TB) {
	t.Helper()
	if err := m.start(); err != nil {
		t.Fatalf("restarting MinIO: %v\nMinIO log:\n%s", err, m.log())
	}
}

func (m *minioServer) log() string {
	b, _ := os.ReadFile(filepath.Join(m.Dir, "minio.log"))
	return clip(string(b))
}

// newMinio starts a MinIO of the test's own, stopped and removed at cleanup
// (for tests that stop and start it).
func newMinio(t testing.TB) *minioServer {
	t.Helper()
	dir := t.TempDir()
	m, err := launchMinio(dir, "")
	t.Cleanup(func() {
		if _, err := minioScript(minioStopTimeout, "stop", dir); err != nil {
			t.Errorf("stopping MinIO: %v", err)
		}
	})
	if err != nil {
		t.Fatalf("starting MinIO: %v", err)
	}
	return m
}

// sharedMinioState is the MinIO of the tests that never stop it: started by the first
// of them and stopped (its folder removed) when the last one ends. Each test
// keeps its data under a prefix of its own.
var sharedMinioState struct {
	mu   sync.Mutex
	refs int
	m    *minioServer
}

// sharedMinio returns the shared MinIO, started if needed. Call it before
// starting servers on it: cleanups run in reverse, so they stop first.
func sharedMinio(t testing.TB) *minioServer {
	t.Helper()
	sharedMinioState.mu.Lock()
	defer sharedMinioState.mu.Unlock()
	if sharedMinioState.refs == 0 {
		dir, err := os.MkdirTemp("", "shadowreg-e2e-minio-")
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		m, err := launchMinio(dir, "")
		if err != nil {
			_, _ = minioScript(minioStopTimeout, "stop", dir)
			os.RemoveAll(dir)
			t.Fatalf("starting MinIO: %v", err)
		}
		t.Logf("MinIO started on %s in %.1fs (%s)", m.Endpoint, time.Since(start).Seconds(), dir)
		sharedMinioState.m = m
	}
	sharedMinioState.refs++
	m := sharedMinioState.m
	t.Cleanup(func() {
		sharedMinioState.mu.Lock()
		defer sharedMinioState.mu.Unlock()
		sharedMinioState.refs--
		if sharedMinioState.refs > 0 {
			return
		}
		if _, err := minioScript(minioStopTimeout, "stop", m.Dir); err != nil {
			t.Errorf("stopping MinIO: %v", err)
		}
		os.RemoveAll(m.Dir)
		sharedMinioState.m = nil
	})
	return m
}

var prefixSeq atomic.Int64

var notKeyChars = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// s3Prefix is a fresh key prefix in the bucket for one test ("replicas").
func s3Prefix(t testing.TB) string {
	return fmt.Sprintf("e2e/%s-%d-%d", notKeyChars.ReplaceAllString(t.Name(), "_"), time.Now().UnixNano()%1e9, prefixSeq.Add(1))
}

// s3Options is what differs between the S3 servers of the tests.
type s3Options struct {
	Prefix   string
	Redirect bool
	PartSize int64 // 0: the default (16 MiB)
}

// s3ConfigFile writes a shadowreg configuration with storage.driver: s3 on m.
// The garbage collector is off: replicas sharing a bucket run it in one
// replica at most, and these tests are about what pushes leave behind.
func s3ConfigFile(t testing.TB, m *minioServer, o s3Options) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "log:\n  level: info\n")
	fmt.Fprintf(&b, "gc:\n  interval: 0\n")
	fmt.Fprintf(&b, "storage:\n  driver: s3\n  s3:\n")
	fmt.Fprintf(&b, "    endpoint: %q\n    region: us-east-1\n    bucket: %q\n    prefix: %q\n", m.Endpoint, m.Bucket, o.Prefix)
	fmt.Fprintf(&b, "    path-style: true\n    insecure: true\n")
	fmt.Fprintf(&b, "    access-key: %q\n    secret-key: %q\n", m.AccessKey, m.SecretKey)
	fmt.Fprintf(&b, "    redirect: %v\n", o.Redirect)
	if o.PartSize > 0 {
		fmt.Fprintf(&b, "    part-size: %d\n", o.PartSize)
	}
	p := filepath.Join(t.TempDir(), "shadowreg-s3.yaml")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// startS3Server starts shadowreg on the S3 driver. Its --data-dir (the
// harness's) stays empty: all state is in the bucket.
func startS3Server(t testing.TB, m *minioServer, o s3Options) *Server {
	t.Helper()
	return startServer(t, "--config", s3ConfigFile(t, m, o))
}

// requireS3Target skips the S3 tests against the reference registry: the
// harness configures it for the filesystem only.
func requireS3Target(t testing.TB) {
	t.Helper()
	if isReference() {
		t.Skip("the S3 tests run against shadowreg only (SHADOWREG_E2E_TARGET=reference configures the filesystem)")
	}
}

// client is a minio-go client on m, for looking into the bucket directly.
func (m *minioServer) client(t testing.TB) *minio.Client {
	t.Helper()
	c, err := minio.New(m.Endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(m.AccessKey, m.SecretKey, ""),
		Secure:       false,
		Region:       "us-east-1",
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// listKeys lists every object key below prefix.
func (m *minioServer) listKeys(t testing.TB, prefix string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var keys []string
	for oi := range m.client(t).ListObjects(ctx, m.Bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if oi.Err != nil {
			t.Fatalf("listing %s/%s: %v", m.Bucket, prefix, oi.Err)
		}
		keys = append(keys, oi.Key)
	}
	slices.Sort(keys)
	return keys
}

// statKey returns the size of the object at key, or errNotFound.
func (m *minioServer) statKey(t testing.TB, key string) (int64, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	oi, err := m.client(t).StatObject(ctx, m.Bucket, key, minio.StatObjectOptions{})
	var er minio.ErrorResponse
	if errors.As(err, &er) && (er.Code == "NoSuchKey" || er.StatusCode == 404) {
		return 0, errNotFound
	}
	if err != nil {
		return 0, err
	}
	return oi.Size, nil
}

// blobKey is the bucket key of a blob's content in shadowreg's layout (the
// store's blobs/<alg>/<hh>/<hex> below the driver's data/).
func blobKey(prefix, dg string) string {
	alg, hex, _ := strings.Cut(dg, ":")
	return prefix + "/data/blobs/" + alg + "/" + hex[:2] + "/" + hex
}
