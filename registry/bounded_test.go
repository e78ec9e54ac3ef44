package registry

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/prometheus/client_golang/prometheus"
)

// Any HTTP method used to become a label value, before routing and auth:
// invented methods grew /metrics (and RSS) without bound.
func TestInventedMethodsDoNotGrowMetrics(t *testing.T) {
	t.Parallel()
	metrics := prometheus.NewRegistry()
	reg := newTestRegistry(t, nil, Options{Metrics: metrics})
	series := func() int {
		mfs, err := metrics.Gather()
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, mf := range mfs {
			n += len(mf.GetMetric())
		}
		return n
	}
	send := func(method string) {
		req, _ := http.NewRequest(method, reg.srv.URL+"/v2/", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	send("INVENTED0")
	before := series()
	for i := range 500 {
		send(fmt.Sprintf("INVENTED%d", i+1))
	}
	if after := series(); after != before {
		t.Fatalf("500 invented methods grew the metrics from %d to %d series", before, after)
	}
	if got := methodLabel("INVENTED7"); got != "other" {
		t.Fatalf("methodLabel(INVENTED7) = %q", got)
	}
}

// slowRegistry is a test registry with a short idle timeout.
func slowRegistry(t *testing.T, idle time.Duration) *testRegistry {
	t.Helper()
	reg := newTestRegistry(t, nil, Options{ClientIdleTimeout: idle})
	seed(t, reg.store)
	return reg
}

// A request body that stalls is cut after the idle timeout: the connection
// is closed and the upload is not committed.
func TestStalledBodyIsCut(t *testing.T) {
	t.Parallel()
	reg := slowRegistry(t, 500*time.Millisecond)
	blob := bytes.Repeat([]byte("x"), 1<<20)
	conn, err := net.Dial("tcp", strings.TrimPrefix(reg.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	d := digest.FromBytes(blob).String()
	fmt.Fprintf(conn, "PUT /v2/seed/img/blobs/uploads/?digest=%s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", d, len(blob))
	conn.Write(blob[:100]) // and then nothing
	start := time.Now()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	io.Copy(io.Discard, conn) // until the server closes or answers
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("a stalled body held its connection %v with a 500 ms idle timeout", el)
	}
	resp, err := http.Head(reg.srv.URL + "/v2/seed/img/blobs/" + d)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("blob of a cut upload: %d, want 404", resp.StatusCode)
	}
}

// A client that stops reading a blob is cut after the idle timeout; one
// that reads slowly but steadily gets the whole blob although the transfer
// takes many times the timeout.
func TestStalledReaderIsCutSteadyReaderIsNot(t *testing.T) {
	t.Parallel()
	reg := slowRegistry(t, 500*time.Millisecond)
	repo := storeRepo(t, reg.store, "docker.io/seed/big")
	big := newTestBlob(bytes.Repeat([]byte("0123456789abcdef"), 4<<20)) // 64 MiB: more than socket buffers
	seedBlob(t, repo, big)
	url := reg.srv.URL + "/v2/seed/big/blobs/" + big.d.String()

	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET the blob: %d", resp.StatusCode)
	}
	time.Sleep(2 * time.Second) // stall: far past the idle timeout
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err == nil && n == int64(len(big.data)) {
		t.Fatal("a reader that stalled 2 s got the whole blob with a 500 ms idle timeout")
	}

	// Steady: 64 KiB every 5 ms, about 12 MiB/s, so the transfer takes
	// about 5 s, ten times the idle timeout.
	resp, err = http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReaderSize(resp.Body, 64<<10)
	buf := make([]byte, 64<<10)
	var got int64
	start := time.Now()
	for {
		m, err := io.ReadFull(br, buf)
		got += int64(m)
		if err != nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got != int64(len(big.data)) {
		t.Fatalf("a steady reader got %d of %d bytes in %v (status %d, %q)", got, len(big.data), time.Since(start), resp.StatusCode, buf[:min(got, 200)])
	}
	if time.Since(start) < 3*500*time.Millisecond {
		t.Fatalf("the steady read took %v: not long enough to show the deadline is per stretch", time.Since(start))
	}
}

// Content-Range 0-9223372036854775807 overflowed the chunk length; with a
// chunked body (no Content-Length) the size check was skipped and the chunk
// accepted (202, Range: 0-9).
func TestContentRangeOverflowRefused(t *testing.T) {
	t.Parallel()
	reg := newTestRegistry(t, nil, Options{})
	resp, err := http.Post(reg.srv.URL+"/v2/seed/img/blobs/uploads/", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusAccepted || loc == "" {
		t.Fatalf("start upload: %d", resp.StatusCode)
	}
	if !strings.HasPrefix(loc, "http") {
		loc = reg.srv.URL + loc
	}
	for _, cr := range []string{"0-9223372036854775807", "0-4"} { // overflow; and a range shorter than the body
		pr, pw := io.Pipe()
		go func() { pw.Write([]byte("0123456789")); pw.Close() }()
		req, _ := http.NewRequest(http.MethodPatch, loc, pr) // a pipe: sent chunked, no Content-Length
		req.Header.Set("Content-Range", cr)
		req.Header.Set("Content-Type", "application/octet-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusAccepted {
			t.Fatalf("Content-Range %s with a chunked 10-byte body: 202 Range %q", cr, resp.Header.Get("Range"))
		}
	}
}
