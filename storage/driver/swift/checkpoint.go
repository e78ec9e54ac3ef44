package swift

import (
	"errors"

	"github.com/shadowreg/shadowreg/storage/driver/internal/multipart"
)

// A checkpoint is stored as one object, writers/<path>/checkpoint-<size>,
// in the format of package multipart (the s3 driver's too): the upload id,
// the segments' numbers, ETags and sizes, the caller's meta, then the tail,
// the bytes past the last uploaded segment. Tails stay below minTailSegment
// (a checkpoint uploads a larger tail as a segment), so a checkpoint costs
// one small PUT and a resume one small GET.
type (
	checkpoint = multipart.Checkpoint
	segment    = multipart.Part
)

var (
	encodeCheckpoint = multipart.Encode
	appendBounded    = multipart.AppendBounded
)

// decodeCheckpoint is multipart.Decode, and the upload id must be one of
// the driver's: it names the segments' folder.
func decodeCheckpoint(b []byte) (checkpoint, []byte, error) {
	c, tail, err := multipart.Decode(b)
	if err == nil && c.UploadID != "" && !validUploadID(c.UploadID) {
		err = errors.New("malformed upload id")
	}
	return c, tail, err
}

// maxCheckpointSize bounds what a resume reads: the JSON of thousands of
// segments is a few hundred KiB, and the tail under minTailSegment.
const maxCheckpointSize = minTailSegment + 4<<20
