package s3

import "github.com/shadowreg/shadowreg/storage/driver/internal/multipart"

// A checkpoint is stored as one object, writers/<path>/checkpoint-<size>,
// in the format of package multipart: the upload id, the parts' numbers and
// ETags, the caller's meta, then the tail, the bytes past the last uploaded
// part. Tails stay below 5 MiB (a checkpoint uploads a larger tail as a
// part), so a checkpoint costs one small PUT and a resume one small GET.
type (
	checkpoint = multipart.Checkpoint
	part       = multipart.Part
)

var (
	encodeCheckpoint = multipart.Encode
	decodeCheckpoint = multipart.Decode
	appendBounded    = multipart.AppendBounded
)

// maxCheckpointSize bounds what a resume reads: the JSON of 10 000 parts is
// under 1 MiB, and the tail under minPartSize.
const maxCheckpointSize = minPartSize + 4<<20
