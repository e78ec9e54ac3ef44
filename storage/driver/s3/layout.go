package s3

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/shadowreg/shadowreg/storage/driver"
)

// The bucket, below the configured prefix:
//
//	data/<path>                           content: all that Stat, List, Walk and Reader see
//	writers/<path>/checkpoint-<size>      a writer's checkpoint at <size> bytes (checkpoint.go)
//	writers/<path>/upload-<upload id>     a multipart upload on data/<path> exists
//
// Content and writer state sit under two separate top-level prefixes, so no
// driver path can name a state key and listings of data/ need no filtering.
// Each path's state has its own folder, so one recursive listing of
// writers/<dir>/ finds every writer state below dir. That is how Delete finds
// the multipart uploads to abort: MinIO's ListMultipartUploads only answers
// for one exact key, never for a prefix. <size> is zero-padded so that a
// folder lists in checkpoint order.
//
// Sidecar names below a path's folder cannot clash with another path's
// folder except when a path is both content and a directory, which no driver
// supports (the filesystem cannot, MinIO cannot either).
type layout struct {
	dataRoot  string // "<prefix>data/"
	stateRoot string // "<prefix>writers/"
}

func newLayout(root string) layout {
	return layout{dataRoot: root + "data/", stateRoot: root + "writers/"}
}

// data is the key of path's content.
func (l layout) data(path string) string { return l.dataRoot + path }

// dataDir is the prefix of every key below path.
func (l layout) dataDir(path string) string { return l.dataRoot + path + "/" }

// pathOf maps a content key back to its path.
func (l layout) pathOf(key string) string { return strings.TrimPrefix(key, l.dataRoot) }

// stateDir is the folder of path's writer state.
func (l layout) stateDir(path string) string { return l.stateRoot + path + "/" }

const (
	checkpointPrefix = "checkpoint-"
	uploadPrefix     = "upload-"
)

func (l layout) checkpoint(path string, size int64) string {
	return fmt.Sprintf("%s%s%019d", l.stateDir(path), checkpointPrefix, size)
}

func (l layout) uploadMarker(path, uploadID string) string {
	return l.stateDir(path) + uploadPrefix + url.PathEscape(uploadID)
}

// sidecar is a writer state key, parsed.
type sidecar struct {
	key      string
	path     string
	size     int64  // checkpoint: the content size it records, else -1
	uploadID string // upload marker: the multipart upload, else ""
}

// parseSidecar parses a key below stateRoot; ok is false for keys the driver
// did not write.
func (l layout) parseSidecar(key string) (s sidecar, ok bool) {
	rest, ok := strings.CutPrefix(key, l.stateRoot)
	if !ok {
		return s, false
	}
	i := strings.LastIndexByte(rest, '/')
	if i <= 0 {
		return s, false
	}
	s = sidecar{key: key, path: rest[:i], size: -1}
	base := rest[i+1:]
	if v, ok := strings.CutPrefix(base, checkpointPrefix); ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return s, false
		}
		s.size = n
		return s, true
	}
	if v, ok := strings.CutPrefix(base, uploadPrefix); ok {
		id, err := url.PathUnescape(v)
		if err != nil || id == "" {
			return s, false
		}
		s.uploadID = id
		return s, true
	}
	return s, false
}

// validate checks that p is a driver path (driver.ValidatePath; MinIO
// rejects the keys it refuses anyway).
func validate(p string) error { return driver.ValidatePath(name, p) }
