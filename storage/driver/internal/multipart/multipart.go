// Package multipart holds what the object-store drivers (s3, swift) share
// in mapping a resumable writer onto numbered parts: the checkpoint object
// that lets any replica resume a writer, and the part buffer.
//
// A checkpoint is one object per writer and size: a line of JSON, then the
// tail, the bytes past the last uploaded part. Each checkpoint is complete in
// itself (upload id, parts, tail, the caller's meta) and written with one
// atomic PUT: a replica resuming at size N needs nothing but checkpoint N, and
// no read-modify-write of shared state can race.
package multipart

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Checkpoint is a writer's state at one checkpoint.
type Checkpoint struct {
	Version  int    `json:"v"`
	Size     int64  `json:"size"` // content size at this checkpoint
	UploadID string `json:"upload_id,omitempty"`
	// Parts are the parts 1..len(Parts) of UploadID that hold the content
	// before the tail. Their ETags pin the exact bytes: if another writer
	// replaced a part since, completing the upload fails (S3's InvalidPart,
	// Swift's manifest check) instead of silently mixing two writers' bytes.
	Parts []Part `json:"parts,omitempty"`
	// Meta is the caller's (storage: the running hash), kept in the same
	// object as the bytes' description so the two cannot disagree.
	Meta []byte `json:"meta,omitempty"`
}

// Part is one uploaded part (an S3 part, a Swift segment).
type Part struct {
	Number int    `json:"n"`
	ETag   string `json:"etag"`
	Size   int64  `json:"size"`
}

const version = 1

// Encode returns the checkpoint object of c with tail.
func Encode(c Checkpoint, tail []byte) ([]byte, error) {
	c.Version = version
	j, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, len(j)+1+len(tail))
	b = append(b, j...)
	b = append(b, '\n') // encoding/json escapes newlines inside strings
	return append(b, tail...), nil
}

// Decode parses a checkpoint object and checks that it is consistent: parts
// numbered from 1, an upload id when there are parts, and parts and tail
// adding up to its size.
func Decode(b []byte) (Checkpoint, []byte, error) {
	var c Checkpoint
	j, tail, ok := bytes.Cut(b, []byte{'\n'})
	if !ok {
		return c, nil, errors.New("no header line")
	}
	if err := json.Unmarshal(j, &c); err != nil {
		return c, nil, err
	}
	if c.Version != version {
		return c, nil, fmt.Errorf("unknown version %d", c.Version)
	}
	n := int64(len(tail))
	for i, p := range c.Parts {
		if p.Number != i+1 || p.ETag == "" || p.Size <= 0 {
			return c, nil, fmt.Errorf("bad part %d", i+1)
		}
		n += p.Size
	}
	if len(c.Parts) > 0 && c.UploadID == "" {
		return c, nil, errors.New("parts without an upload id")
	}
	if n != c.Size {
		return c, nil, fmt.Errorf("parts and tail hold %d bytes, not %d", n, c.Size)
	}
	return c, tail, nil
}

// AppendBounded appends b to buf, growing it at most to limit, so small
// contents stay small and a large one costs exactly one part of memory.
func AppendBounded(buf, b []byte, limit int) []byte {
	if need := len(buf) + len(b); need > cap(buf) {
		grown := make([]byte, len(buf), min(max(2*cap(buf), need, 64<<10), limit))
		copy(grown, buf)
		buf = grown
	}
	return append(buf, b...)
}
