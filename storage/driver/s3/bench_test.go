package s3

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/minio/minio-go/v7"
)

// The benchmarks move a 256 MiB object through the driver against the local
// MinIO that TestMain starts:
//
//	go test -run '^$' -bench . -benchtime 3x ./storage/driver/s3/
const benchSize = 256 << 20

// benchData is made once, on first use, and shared by the benchmarks.
var benchData = sync.OnceValue(func() []byte { return randomBytes(benchSize, 42) })

// benchDriver is a driver on a fresh prefix with the given part size.
func benchDriver(b *testing.B, partSize int64) *Driver {
	c := testConfig(uniquePrefix(b))
	c.PartSize = partSize
	d := openDriver(b, c)
	b.Cleanup(func() { purge(b, d) })
	return d
}

// writeBench writes content through writers of chunk bytes each, the way a
// registry receives an upload: one writer per chunk, checkpointed, resumed.
// chunk 0 is one writer for everything (a monolithic push).
func writeBench(ctx context.Context, d *Driver, path string, content []byte, chunk int) error {
	if chunk == 0 {
		chunk = len(content)
	}
	for off := 0; ; off += chunk {
		w, err := d.Writer(ctx, path, int64(off))
		if err != nil {
			return err
		}
		end := min(off+chunk, len(content))
		for p := off; p < end; p += 1 << 20 { // 1 MiB writes, as the registry copies
			if _, err := w.Write(content[p:min(p+1<<20, end)]); err != nil {
				return err
			}
		}
		if end == len(content) {
			if err := w.Commit(ctx); err != nil {
				return err
			}
			return w.Close()
		}
		if err := w.Checkpoint(ctx, nil); err != nil {
			return err
		}
		w.Close()
	}
}

func BenchmarkWriter(b *testing.B) {
	content := benchData()
	for _, bc := range []struct {
		partSize int64
		chunk    int
	}{
		{minPartSize, 0},
		{defaultPartSize, 0},
		{64 << 20, 0},
		{defaultPartSize, 32 << 20}, // chunked upload: 8 checkpoints and resumes
		{defaultPartSize, 1 << 20},  // small chunks: every checkpoint stores a tail of up to 5 MiB
	} {
		b.Run(fmt.Sprintf("part=%dMiB/chunk=%dMiB", bc.partSize>>20, bc.chunk>>20), func(b *testing.B) {
			d := benchDriver(b, bc.partSize)
			ctx := testCtx(b)
			b.SetBytes(benchSize)
			for b.Loop() {
				if err := writeBench(ctx, d, "bench/blob", content, bc.chunk); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkReader(b *testing.B) {
	d := benchDriver(b, defaultPartSize)
	ctx := testCtx(b)
	if err := writeBench(ctx, d, "bench/blob", benchData(), 0); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	b.SetBytes(benchSize)
	for b.Loop() {
		rc, err := d.Reader(ctx, "bench/blob", 0)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{rc}, buf)
		rc.Close()
		if err != nil || n != benchSize {
			b.Fatalf("read %d bytes: %v", n, err)
		}
	}
}

// BenchmarkMove is the server-side copy that commits an upload into the
// content store (Move from uploads/ to blobs/).
func BenchmarkMove(b *testing.B) {
	d := benchDriver(b, defaultPartSize)
	ctx := testCtx(b)
	if err := writeBench(ctx, d, "bench/a", benchData(), 0); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(benchSize)
	src, dst := "bench/a", "bench/b"
	for b.Loop() {
		if err := d.Move(ctx, src, dst); err != nil {
			b.Fatal(err)
		}
		src, dst = dst, src
	}
}

// BenchmarkBaselinePutObject is minio-go's own PutObject of the same object
// (multipart, 16 MiB parts, 4 in parallel, in memory): what the object store
// does here without the driver, for comparison.
func BenchmarkBaselinePutObject(b *testing.B) {
	d := benchDriver(b, defaultPartSize)
	ctx := testCtx(b)
	content := benchData()
	b.SetBytes(benchSize)
	for b.Loop() {
		_, err := d.core.Client.PutObject(ctx, d.bucket, d.layout.data("bench/blob"), bytes.NewReader(content),
			benchSize, minio.PutObjectOptions{PartSize: defaultPartSize, NumThreads: 4})
		if err != nil {
			b.Fatal(err)
		}
	}
}
