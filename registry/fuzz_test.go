package registry

import (
	"math"
	"testing"
)

// FuzzParseRange: a Range header never panics the parser, and a range it
// accepts lies inside the blob.
func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-99", "bytes=100-", "bytes=-5", "bytes=0-0", "bytes=5-1", "bytes=0-9223372036854775807",
		"bytes=-9223372036854775808", "bytes=1-2,3-4", "bytes=", "items=0-1", " bytes = 0 - 1 "} {
		f.Add(s, int64(1000))
	}
	f.Add("bytes=0-", int64(0))
	f.Fuzz(func(t *testing.T, header string, size int64) {
		if size < 0 {
			size = -size
			if size < 0 {
				size = math.MaxInt64
			}
		}
		r, ok, err := parseRange(header, size)
		if err != nil || !ok {
			return
		}
		if r.start < 0 || r.end < r.start || r.end >= size || r.length() <= 0 {
			t.Fatalf("parseRange(%q, %d) = %+v: outside the blob", header, size, r)
		}
	})
}

// FuzzParseContentRange: an upload chunk's Content-Range is start-end with
// a positive length that does not overflow, or an error.
func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{"0-9", "bytes 0-9/10", "bytes=5-10", "0-9223372036854775807", "9223372036854775806-9223372036854775807",
		"10-9", "-1-5", "a-b", "", "0-", "-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		start, end, err := parseContentRange(header)
		if err != nil {
			return
		}
		if start < 0 || end < start || end-start+1 <= 0 {
			t.Fatalf("parseContentRange(%q) = %d, %d: not a chunk", header, start, end)
		}
	})
}
