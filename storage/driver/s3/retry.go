package s3

import (
	"bytes"
	"context"
	"time"

	"github.com/minio/minio-go/v7"
)

// A single-drive MinIO keeps objects as files, and deleting an object removes
// its emptied parent folders. A write that lands in such a folder at that
// moment fails with AccessDenied (MinIO retries the rename once, not more).
// That is routine here: the garbage collector deletes uploads/<id> while
// other uploads write beside it. So the calls that create keys in the bucket
// (PutObject, CompleteMultipartUpload, CopyObject) retry AccessDenied a few
// times; a real permission error costs ~150 ms more before it is reported.
const raceRetries = 4

// retryRace runs op until it succeeds, fails otherwise than AccessDenied,
// or has been retried raceRetries times (after 10, 20, 40, 80 ms).
func retryRace(ctx context.Context, op func() error) error {
	for i := 0; ; i++ {
		err := op()
		if err == nil || errCode(err) != "AccessDenied" || i == raceRetries {
			return err
		}
		t := time.NewTimer(time.Duration(10<<i) * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// put stores b at key with one PutObject.
func (d *Driver) put(ctx context.Context, key string, b []byte) error {
	return retryRace(ctx, func() error {
		_, err := d.core.PutObject(ctx, d.bucket, key, bytes.NewReader(b), int64(len(b)), "", "",
			minio.PutObjectOptions{ContentType: contentType})
		return err
	})
}
