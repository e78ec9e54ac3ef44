package swift

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shadowreg/shadowreg/storage/driver"
)

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}).Read(b)
	return b
}

// writeAt opens a writer at offset and writes data in chunks of chunk bytes.
func writeAt(t *testing.T, d *Driver, path string, offset int64, data []byte, chunk int) driver.FileWriter {
	t.Helper()
	w, err := d.Writer(testCtx(t), path, offset)
	if err != nil {
		t.Fatalf("Writer(%s, %d): %v", path, offset, err)
	}
	for len(data) > 0 {
		n := min(chunk, len(data))
		if _, err := w.Write(data[:n]); err != nil {
			t.Fatalf("Write: %v", err)
		}
		data = data[n:]
	}
	return w
}

func finish(t *testing.T, w driver.FileWriter, commit bool) {
	t.Helper()
	var err error
	if commit {
		err = w.Commit(testCtx(t))
	} else {
		err = w.Checkpoint(testCtx(t), []byte("meta"))
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func checkContent(t *testing.T, d *Driver, path string, want []byte) {
	t.Helper()
	got, err := d.GetContent(testCtx(t), path)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("GetContent(%s): %d bytes, %v; want the %d bytes written", path, len(got), err, len(want))
	}
}

// names lists every object below the driver's root whose name has prefix
// (relative to the root: "segments/", "writers/").
func names(t *testing.T, d *Driver, prefix string) []string {
	t.Helper()
	root := strings.TrimSuffix(d.layout.dataRoot, "data/")
	var out []string
	if err := d.list(testCtx(t), root+prefix, "", func(e entry) bool {
		out = append(out, strings.TrimPrefix(e.Name, root))
		return true
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestLargeObject writes content of several segments in one stream: a
// static large object, read whole and from offsets inside later segments.
func TestLargeObject(t *testing.T) {
	d := newTestDriver(t)
	want := randomBytes(5*mib+333, 1) // 2 MiB segments: 3 of them
	finish(t, writeAt(t, d, "big", 0, want, 700<<10), true)
	checkContent(t, d, "big", want)
	if segs := names(t, d, "segments/"); len(segs) != 3 {
		t.Errorf("segments: %v, want 3", segs)
	}
	rc, err := d.Reader(testCtx(t), "big", 4*mib+1)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, want[4*mib+1:]) {
		t.Fatalf("Reader at 4 MiB+1: %d bytes, %v", len(got), err)
	}
	if fi, err := d.Stat(testCtx(t), "big"); err != nil || fi.Size != int64(len(want)) {
		t.Fatalf("Stat = %+v, %v", fi, err)
	}
	if st := names(t, d, "writers/"); len(st) != 0 {
		t.Errorf("writer state left after Commit: %v", st)
	}
}

// TestResumeOnAnotherReplica checkpoints on one driver and resumes on a
// second one on the same container and prefix (another replica), twice,
// with tails below a segment carried in the checkpoints.
func TestResumeOnAnotherReplica(t *testing.T) {
	d1 := newTestDriver(t)
	c := testConfig(strings.TrimSuffix(d1.layout.dataRoot, "/data/"))
	d2, d3 := openDriver(t, c), openDriver(t, c)
	want := randomBytes(7*mib+123, 2)
	cut1, cut2 := int64(3*mib+5), int64(6*mib+7)
	finish(t, writeAt(t, d1, "up", 0, want[:cut1], mib), false)
	w := writeAt(t, d2, "up", cut1, want[cut1:cut2], 999<<10)
	if string(w.Meta()) != "meta" {
		t.Errorf("Meta on resume = %q, want the checkpoint's", w.Meta())
	}
	finish(t, w, false)
	finish(t, writeAt(t, d3, "up", cut2, want[cut2:], 3*mib), true)
	checkContent(t, d1, "up", want)
}

// TestMoveKeepsSegments moves a large object: dst reads whole, src is gone,
// and deleting dst removes the segments. A manifest left at the source by a
// crash between the copy and its delete owns nothing: deleting it leaves
// dst whole.
func TestMoveKeepsSegments(t *testing.T) {
	ctx := testCtx(t)
	d := newTestDriver(t)
	want := randomBytes(4*mib+9, 3)
	finish(t, writeAt(t, d, "uploads/u/data", 0, want, mib), true)
	if err := d.Move(ctx, "uploads/u/data", "blobs/b"); err != nil {
		t.Fatal(err)
	}
	checkContent(t, d, "blobs/b", want)
	if _, err := d.Stat(ctx, "uploads/u/data"); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("Move left its source: %v", err)
	}

	// The crash: src's manifest handed its segments to dst and was copied,
	// but not deleted. Recreate that state with the driver's own steps.
	from, to := d.layout.data("blobs/b"), d.layout.data("blobs/c")
	if _, err := d.call(ctx, req{method: http.MethodPost, name: from, ok: []int{202},
		header: map[string]string{ownerHeader: escapePath(to)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.call(ctx, req{method: "COPY", name: from, ok: []int{201}, query: map[string][]string{"multipart-manifest": {"get"}},
		header: map[string]string{"Destination": "/" + d.container + "/" + escapePath(to)}}); err != nil {
		t.Fatal(err)
	}
	if k, err := d.kind(ctx, from); err != nil || !k.slo || k.owner {
		t.Fatalf("the left-behind manifest: %+v, %v; want a manifest owning nothing", k, err)
	}
	if err := d.Delete(ctx, "blobs/b"); err != nil {
		t.Fatal(err)
	}
	checkContent(t, d, "blobs/c", want)
	if err := d.Delete(ctx, "blobs/c"); err != nil {
		t.Fatal(err)
	}
	if segs := names(t, d, "segments/"); len(segs) != 0 {
		t.Errorf("segments left after deleting the owner: %v", segs)
	}
}

// TestDeleteRemovesAbandonedSegments: a checkpointed upload and a writer
// that died before its first checkpoint both leave segments, which Delete
// of the path (what the garbage collector does with old uploads) removes.
func TestDeleteRemovesAbandonedSegments(t *testing.T) {
	ctx := testCtx(t)
	d := newTestDriver(t)
	finish(t, writeAt(t, d, "uploads/a/data", 0, randomBytes(6*mib, 4), mib), false)
	crashed := writeAt(t, d, "uploads/b/data", 0, randomBytes(5*mib, 5), mib) // never closed: a crashed writer
	crashed.(*writer).wait()                                                  // its segments in flight land
	if segs := names(t, d, "segments/"); len(segs) < 4 {
		t.Fatalf("segments before Delete: %v, want those of both uploads", segs)
	}
	for _, p := range []string{"uploads/a", "uploads/b"} {
		if err := d.Delete(ctx, p); err != nil {
			t.Fatalf("Delete(%s): %v", p, err)
		}
	}
	if left := slices.Concat(names(t, d, "segments/"), names(t, d, "writers/")); len(left) != 0 {
		t.Errorf("left after deleting the uploads: %v", left)
	}
}

// TestOverwriteDropsOldSegments: committing over a large object, and moving
// onto one, removes the segments of the object replaced.
func TestOverwriteDropsOldSegments(t *testing.T) {
	ctx := testCtx(t)
	d := newTestDriver(t)
	finish(t, writeAt(t, d, "f", 0, randomBytes(5*mib, 6), mib), true)
	want := randomBytes(3*mib, 7)
	finish(t, writeAt(t, d, "f", 0, want, mib), true)
	checkContent(t, d, "f", want)
	if segs := names(t, d, "segments/"); len(segs) != 2 {
		t.Errorf("segments after the overwrite: %v, want the new object's 2", segs)
	}
	finish(t, writeAt(t, d, "g", 0, randomBytes(5*mib, 8), mib), true)
	if err := d.Move(ctx, "f", "g"); err != nil {
		t.Fatal(err)
	}
	checkContent(t, d, "g", want)
	if segs := names(t, d, "segments/"); len(segs) != 2 {
		t.Errorf("segments after the move onto g: %v, want f's 2", segs)
	}
}

// TestTokenRenewal: a token that stops working mid-run (expired, revoked)
// is renewed on the 401 and the request retried, for reads and for writes.
func TestTokenRenewal(t *testing.T) {
	ctx := testCtx(t)
	d := newTestDriver(t)
	d.sc.ProviderClient.SetToken("AUTH_tk_expired")
	if err := d.PutContent(ctx, "a", []byte("after renewal")); err != nil {
		t.Fatalf("PutContent with an expired token: %v", err)
	}
	d.sc.ProviderClient.SetToken("AUTH_tk_expired")
	checkContent(t, d, "a", []byte("after renewal"))
	if tok := d.sc.ProviderClient.Token(); tok == "AUTH_tk_expired" || tok == "" {
		t.Errorf("token after renewal: %q", tok)
	}
}

// TestTempURL: URLFor gives a URL that serves the content without a token,
// and none when redirects are off.
func TestTempURL(t *testing.T) {
	ctx := testCtx(t)
	d := newTestDriver(t)
	want := randomBytes(3*mib, 9) // a large object: the TempURL serves it joined
	finish(t, writeAt(t, d, "blobs/x", 0, want, mib), true)
	u, err := d.URLFor(ctx, "blobs/x", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || !bytes.Equal(got, want) {
		t.Fatalf("GET TempURL: %s, %d bytes, %v", resp.Status, len(got), err)
	}
	c := testConfig(uniquePrefix(t))
	c.Redirect = false
	if _, err := openDriver(t, c).URLFor(ctx, "blobs/x", time.Minute); err == nil {
		t.Fatal("URLFor with redirects off: no error")
	}
}

func TestNewChecks(t *testing.T) {
	c := testConfig("x")
	c.Container = "no-such-container"
	if _, err := New(testCtx(t), c); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("New on a missing container: %v", err)
	}
	c = testConfig("x")
	c.Password = "wrong"
	if _, err := New(testCtx(t), c); err == nil {
		t.Fatal("New with a wrong key: no error")
	}
}

// TestUnavailable: with nothing listening, errors wrap driver.ErrUnavailable
// (the registry answers 503).
func TestUnavailable(t *testing.T) {
	d := newTestDriver(t)
	sc := *d.sc
	sc.Endpoint = "http://127.0.0.1:1/v1/AUTH_test/"
	d2 := &Driver{sc: &sc, container: d.container, layout: d.layout, segmentSize: d.segmentSize}
	if _, err := d2.GetContent(testCtx(t), "a"); !errors.Is(err, driver.ErrUnavailable) {
		t.Fatalf("GetContent with Swift unreachable = %v, want ErrUnavailable", err)
	}
}
