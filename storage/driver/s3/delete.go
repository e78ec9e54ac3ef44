package s3

import (
	"context"
	"strings"

	"github.com/minio/minio-go/v7"
)

// upload names a multipart upload.
type upload struct{ key, id string }

// Listing and deleting loop over pages; these bound them.
const (
	deleteBatch        = 1000 // keys per DeleteObjects request: S3's maximum
	maxUploadListPages = 1000
)

// Delete implements driver.Driver: the content at path and below it, and
// every writer's state there, whose multipart uploads are aborted. Path is
// missing (ErrNotFound) only when none of these exist.
func (d *Driver) Delete(ctx context.Context, path string) error {
	if err := validate(path); err != nil {
		return err
	}
	found, err := d.deleteAll(ctx, path, nil)
	if err != nil {
		return err
	}
	if !found {
		return notFound(path, "")
	}
	return nil
}

// deleteAll removes everything at and below path, aborting the uploads in
// extra too. Writer state goes first, content last, so that a failure leaves
// markers behind for the next attempt to find the uploads by.
func (d *Driver) deleteAll(ctx context.Context, path string, extra []upload) (found bool, err error) {
	ups := make(map[upload]bool)
	for _, u := range extra {
		ups[u] = true
	}
	// Writer state at and below path: markers name uploads, on any S3.
	var state []string
	for oi := range d.core.ListObjectsIter(ctx, d.bucket, minio.ListObjectsOptions{
		Prefix: d.layout.stateDir(path), Recursive: true, FetchOwner: new(false),
	}) {
		if oi.Err != nil {
			return found, d.wrap("delete", path, oi.Err)
		}
		found = true
		state = append(state, oi.Key)
		if s, ok := d.layout.parseSidecar(oi.Key); ok && s.uploadID != "" {
			ups[upload{key: d.layout.data(s.path), id: s.uploadID}] = true
		}
	}
	if err := ctx.Err(); err != nil {
		return found, err
	}
	// Uploads without a marker (a writer died between creating the upload and
	// storing its marker): AWS lists them by prefix, MinIO for the exact key.
	listed, err := d.listUploads(ctx, path)
	if err != nil {
		return found, err
	}
	for _, u := range listed {
		found = true
		ups[u] = true
	}
	for u := range ups {
		if err := d.abort(ctx, u); err != nil {
			return found, err
		}
	}
	if err := d.remove(ctx, state); err != nil {
		return found, err
	}

	// Content: one listing from the key itself covers the file and everything
	// below path/. Keys between them ("path-x", "path.x") are skipped; the
	// listing stops at the first key past path/.
	key, dir := d.layout.data(path), d.layout.dataDir(path)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batch := make([]string, 0, deleteBatch)
	for oi := range d.core.ListObjectsIter(ctx, d.bucket, minio.ListObjectsOptions{
		Prefix: key, Recursive: true, FetchOwner: new(false),
	}) {
		if oi.Err != nil {
			return found, d.wrap("delete", path, oi.Err)
		}
		if oi.Key != key && !strings.HasPrefix(oi.Key, dir) {
			if oi.Key > dir {
				break
			}
			continue
		}
		found = true
		batch = append(batch, oi.Key)
		if len(batch) == deleteBatch {
			if err := d.remove(ctx, batch); err != nil {
				return found, err
			}
			batch = batch[:0]
		}
	}
	if err := ctx.Err(); err != nil {
		return found, err
	}
	return found, d.remove(ctx, batch)
}

// listUploads lists the multipart uploads S3 reports at or below path.
func (d *Driver) listUploads(ctx context.Context, path string) ([]upload, error) {
	key, dir := d.layout.data(path), d.layout.dataDir(path)
	var out []upload
	var keyMarker, idMarker string
	for range maxUploadListPages {
		res, err := d.core.ListMultipartUploads(ctx, d.bucket, key, keyMarker, idMarker, "", 1000)
		if err != nil {
			return nil, d.wrap("list uploads of", path, err)
		}
		for _, u := range res.Uploads {
			if u.Key == key || strings.HasPrefix(u.Key, dir) {
				out = append(out, upload{key: u.Key, id: u.UploadID})
			}
		}
		if !res.IsTruncated {
			break
		}
		keyMarker, idMarker = res.NextKeyMarker, res.NextUploadIDMarker
	}
	return out, nil
}

// dropState removes path's own checkpoints past keep (all of them, upload
// markers too, when keep < 0) and, when keep < 0, aborts the uploads the
// markers name except the one with id except.
func (d *Driver) dropState(ctx context.Context, path string, keep int64, except string) error {
	var drop []string
	for oi := range d.core.ListObjectsIter(ctx, d.bucket, minio.ListObjectsOptions{
		Prefix: d.layout.stateDir(path), FetchOwner: new(false),
	}) {
		if oi.Err != nil {
			return d.wrap("drop state of", path, oi.Err)
		}
		s, ok := d.layout.parseSidecar(oi.Key)
		if !ok || s.path != path { // a folder of a path below
			continue
		}
		switch {
		case keep < 0 && s.uploadID != "" && s.uploadID != except:
			if err := d.abort(ctx, upload{key: d.layout.data(path), id: s.uploadID}); err != nil {
				return err
			}
			drop = append(drop, oi.Key)
		case keep < 0 || s.size > keep:
			drop = append(drop, oi.Key)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return d.remove(ctx, drop)
}

// abort aborts an upload; one already gone is fine.
func (d *Driver) abort(ctx context.Context, u upload) error {
	err := d.core.AbortMultipartUpload(ctx, d.bucket, u.key, u.id)
	if err != nil && !isNotFound(err) {
		return d.wrap("abort upload of", d.layout.pathOf(u.key), err)
	}
	return nil
}

// remove deletes keys with DeleteObjects requests of up to 1000 keys.
func (d *Driver) remove(ctx context.Context, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	objs := func(yield func(minio.ObjectInfo) bool) {
		for _, k := range keys {
			if !yield(minio.ObjectInfo{Key: k}) {
				return
			}
		}
	}
	res, err := d.core.RemoveObjectsWithIter(ctx, d.bucket, objs, minio.RemoveObjectsOptions{})
	if err != nil {
		return d.wrap("delete", keys[0], err)
	}
	var first error
	for r := range res {
		if r.Err != nil && first == nil && !isNotFound(r.Err) {
			first = d.wrap("delete", r.ObjectName, r.Err)
		}
	}
	if first == nil {
		first = ctx.Err()
	}
	return first
}
