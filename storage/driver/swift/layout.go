package swift

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/shadowreg/shadowreg/storage/driver"
)

// The container, below the configured prefix:
//
//	data/<path>                          content: a plain object, or a static large object's manifest
//	writers/<path>/checkpoint-<size>     a writer's checkpoint at <size> bytes (checkpoint.go)
//	writers/<path>/upload-<id>           segments/<id>/ holds an upload's segments
//	segments/<id>/<n>                    segment n of upload <id>
//
// As on S3 (see the s3 driver's layout), content and writer state live under
// separate top-level prefixes, so listings of data/ need no filtering, and
// one listing of writers/<dir>/ finds all writer state below dir.
//
// Segments are named after their upload, not their path, because content
// moves (uploads/<id>/data becomes blobs/...): a manifest moved by a
// server-side copy keeps pointing at the same segments, and which manifest
// owns them is recorded on the manifest itself (ownerHeader).
type layout struct {
	dataRoot    string // "<prefix>data/"
	stateRoot   string // "<prefix>writers/"
	segmentRoot string // "<prefix>segments/"
}

func newLayout(root string) layout {
	return layout{dataRoot: root + "data/", stateRoot: root + "writers/", segmentRoot: root + "segments/"}
}

func (l layout) data(path string) string     { return l.dataRoot + path }
func (l layout) dataDir(path string) string  { return l.dataRoot + path + "/" }
func (l layout) pathOf(name string) string   { return strings.TrimPrefix(name, l.dataRoot) }
func (l layout) stateDir(path string) string { return l.stateRoot + path + "/" }

const (
	checkpointPrefix = "checkpoint-"
	uploadPrefix     = "upload-"
)

func (l layout) checkpoint(path string, size int64) string {
	return fmt.Sprintf("%s%s%019d", l.stateDir(path), checkpointPrefix, size)
}

func (l layout) uploadMarker(path, id string) string { return l.stateDir(path) + uploadPrefix + id }

// segments is the prefix of upload id's segments; segment the name of one.
func (l layout) segments(id string) string { return l.segmentRoot + id + "/" }
func (l layout) segment(id string, n int) string {
	return fmt.Sprintf("%s%08d", l.segments(id), n)
}

// sidecar is a writer state name, parsed.
type sidecar struct {
	name     string
	path     string
	size     int64  // checkpoint: the content size it records, else -1
	uploadID string // upload marker: the upload, else ""
}

// parseSidecar parses a name below stateRoot; ok is false for names the
// driver did not write.
func (l layout) parseSidecar(name string) (s sidecar, ok bool) {
	rest, ok := strings.CutPrefix(name, l.stateRoot)
	if !ok {
		return s, false
	}
	i := strings.LastIndexByte(rest, '/')
	if i <= 0 {
		return s, false
	}
	s = sidecar{name: name, path: rest[:i], size: -1}
	base := rest[i+1:]
	if v, ok := strings.CutPrefix(base, checkpointPrefix); ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return s, false
		}
		s.size = n
		return s, true
	}
	if v, ok := strings.CutPrefix(base, uploadPrefix); ok && validUploadID(v) {
		s.uploadID = v
		return s, true
	}
	return s, false
}

// validUploadID: upload ids are the driver's own, 32 hex digits.
func validUploadID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for _, c := range id {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// validate checks that p is a driver path; Swift object names are at most
// 1024 bytes, which the prefixes above eat into.
func validate(p string) error {
	if err := driver.ValidatePath(name, p); err != nil {
		return err
	}
	if len(p) > 900 {
		return fmt.Errorf("%s: %q: %w: longer than 900 bytes", name, p, driver.ErrInvalidPath)
	}
	return nil
}
