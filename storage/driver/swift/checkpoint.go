package swift

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// checkpoint is a writer's state at one checkpoint, as in the s3 driver. It
// is stored as one object, writers/<path>/checkpoint-<size>: a line of JSON,
// then the tail, the bytes past the last uploaded segment. Tails stay below
// minTailSegment (a checkpoint uploads a larger tail as a segment), so a
// checkpoint costs one small PUT and a resume one small GET.
//
// Each checkpoint is complete in itself (upload id, segments, tail), and is
// written with one atomic PUT: a replica resuming at size N needs nothing but
// checkpoint-N, and no read-modify-write of shared state can race.
type checkpoint struct {
	Version  int    `json:"v"`
	Size     int64  `json:"size"` // content size at this checkpoint
	UploadID string `json:"upload_id,omitempty"`
	// Segments are the segments 1..len(Segments) of UploadID that hold the
	// content before the tail. Their ETags pin the exact bytes: if another
	// writer replaced a segment since, the manifest PUT fails (Swift checks
	// each etag) instead of silently mixing two uploads' bytes.
	Segments []segment `json:"segments,omitempty"`
	// Meta is the caller's (storage: the running hash), kept in the same
	// object as the bytes' description so the two cannot disagree.
	Meta []byte `json:"meta,omitempty"`
}

type segment struct {
	Number int    `json:"n"`
	ETag   string `json:"etag"`
	Size   int64  `json:"size"`
}

const checkpointVersion = 1

// maxCheckpointSize bounds what a resume reads: the JSON of thousands of
// segments is a few hundred KiB, and the tail under minTailSegment.
const maxCheckpointSize = minTailSegment + 4<<20

func encodeCheckpoint(c checkpoint, tail []byte) ([]byte, error) {
	c.Version = checkpointVersion
	j, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, len(j)+1+len(tail))
	b = append(b, j...)
	b = append(b, '\n') // encoding/json escapes newlines inside strings
	return append(b, tail...), nil
}

func decodeCheckpoint(b []byte) (checkpoint, []byte, error) {
	var c checkpoint
	j, tail, ok := bytes.Cut(b, []byte{'\n'})
	if !ok {
		return c, nil, errors.New("no header line")
	}
	if err := json.Unmarshal(j, &c); err != nil {
		return c, nil, err
	}
	if c.Version != checkpointVersion {
		return c, nil, fmt.Errorf("unknown version %d", c.Version)
	}
	n := int64(len(tail))
	for i, p := range c.Segments {
		if p.Number != i+1 || p.ETag == "" || p.Size <= 0 {
			return c, nil, fmt.Errorf("bad segment %d", i+1)
		}
		n += p.Size
	}
	if len(c.Segments) > 0 && !validUploadID(c.UploadID) {
		return c, nil, errors.New("segments without an upload id")
	}
	if n != c.Size {
		return c, nil, fmt.Errorf("segments and tail hold %d bytes, not %d", n, c.Size)
	}
	return c, tail, nil
}
