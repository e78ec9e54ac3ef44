package s3

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
)

// The tests run against a real MinIO that TestMain starts on 127.0.0.1
// through tools/minio.sh, in a temporary folder, and stops afterwards. A
// missing binary fails the run: a skipped S3 test must never pass for a
// tested one.
var minioEnv map[string]string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	root, err := repoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	bin := filepath.Join(root, ".cache", "bin")
	if v := os.Getenv("SHADOWREG_TOOLS"); v != "" {
		bin = v
	}
	if _, err := os.Stat(filepath.Join(bin, "minio")); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: the S3 driver tests need MinIO, not found at %s: run tools/install.sh minio\n",
			filepath.Join(bin, "minio"))
		return 1
	}
	dir, err := os.MkdirTemp("", "shadowreg-minio-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(root, "tools", "minio.sh")
	start := exec.Command(script, "start", dir, "", "shadowreg-test")
	start.Env = append(os.Environ(), "MINIO_NO_INSTALL=1", fmt.Sprintf("MINIO_WATCH_PID=%d", os.Getpid()))
	start.Stderr = os.Stderr
	// Stop even after a failed start: the script may have got MinIO running.
	defer func() {
		stop := exec.Command(script, "stop", dir)
		stop.Stdout, stop.Stderr = os.Stderr, os.Stderr
		if err := stop.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "tools/minio.sh stop: %v\n", err)
		}
	}()
	out, err := start.Output()
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: tools/minio.sh start: %v\n", err)
		return 1
	}
	minioEnv = parseEnv(out)
	for _, k := range []string{"MINIO_ENDPOINT", "MINIO_ACCESS_KEY", "MINIO_SECRET_KEY", "MINIO_BUCKET"} {
		if minioEnv[k] == "" {
			fmt.Fprintf(os.Stderr, "FAIL: tools/minio.sh start printed no %s:\n%s", k, out)
			return 1
		}
	}
	return m.Run()
}

// repoRoot is the folder of go.mod above the test's working directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for range 20 {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		dir = filepath.Dir(dir)
	}
	return "", fmt.Errorf("no go.mod above the working directory")
}

func parseEnv(b []byte) map[string]string {
	env := make(map[string]string)
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			env[k] = v
		}
	}
	return env
}

// testConfig is a configuration for the test MinIO, rooted at prefix.
func testConfig(prefix string) Config {
	return Config{
		Endpoint:  minioEnv["MINIO_ENDPOINT"],
		Insecure:  true,
		Bucket:    minioEnv["MINIO_BUCKET"],
		Prefix:    prefix,
		AccessKey: minioEnv["MINIO_ACCESS_KEY"],
		SecretKey: minioEnv["MINIO_SECRET_KEY"],
		Redirect:  true,
		PartSize:  minPartSize, // small parts: multipart paths run with little data
	}
}

var prefixes atomic.Int64

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// uniquePrefix gives each driver of a test its own empty root in the bucket.
func uniquePrefix(t testing.TB) string {
	return fmt.Sprintf("t/%s-%d-%d", unsafeChars.ReplaceAllString(t.Name(), "_"),
		time.Now().UnixNano(), prefixes.Add(1))
}

// newTestDriver returns a driver on a fresh prefix, emptied at cleanup;
// extra drivers on the same prefix (other "replicas") come from openDriver.
func newTestDriver(t testing.TB) *Driver {
	t.Helper()
	d := openDriver(t, testConfig(uniquePrefix(t)))
	t.Cleanup(func() { purge(t, d) })
	return d
}

// purge removes everything below d's prefix, aborting the uploads its
// markers name, so that tests and benchmarks do not fill the disk.
func purge(t testing.TB, d *Driver) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	root := strings.TrimSuffix(d.layout.dataRoot, "data/")
	var keys []string
	for oi := range d.core.ListObjectsIter(ctx, d.bucket, minio.ListObjectsOptions{Prefix: root, Recursive: true}) {
		if oi.Err != nil {
			t.Errorf("purge: %v", oi.Err)
			return
		}
		keys = append(keys, oi.Key)
		if s, ok := d.layout.parseSidecar(oi.Key); ok && s.uploadID != "" {
			if err := d.abort(ctx, upload{key: d.layout.data(s.path), id: s.uploadID}); err != nil {
				t.Errorf("purge: %v", err)
			}
		}
	}
	if err := d.remove(ctx, keys); err != nil {
		t.Errorf("purge: %v", err)
	}
}

func openDriver(t testing.TB, c Config) *Driver {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := New(ctx, c)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return d
}
