package registry

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/shadowreg/shadowreg/storage"
)

// byteRange is a resolved, satisfiable range of a blob: [start, end].
type byteRange struct{ start, end int64 }

func (r byteRange) length() int64 { return r.end - r.start + 1 }

var errRangeUnsatisfiable = errors.New("range not satisfiable")

// parseRange resolves a Range header against a blob of size bytes. A missing
// header, a unit other than bytes and multiple ranges give ok=false: serve
// the whole blob (RFC 9110 lets a server ignore Range). A single range that
// the blob cannot satisfy is errRangeUnsatisfiable (416).
func parseRange(header string, size int64) (r byteRange, ok bool, err error) {
	spec, found := strings.CutPrefix(strings.TrimSpace(header), "bytes=")
	if header == "" || !found || strings.Contains(spec, ",") {
		return byteRange{}, false, nil
	}
	first, last, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return byteRange{}, false, errRangeUnsatisfiable
	}
	if first == "" { // suffix: the last N bytes
		n, err := strconv.ParseInt(last, 10, 64)
		if err != nil || n <= 0 || size == 0 {
			return byteRange{}, false, errRangeUnsatisfiable
		}
		return byteRange{start: max(size-n, 0), end: size - 1}, true, nil
	}
	start, err := strconv.ParseInt(first, 10, 64)
	if err != nil || start < 0 || start >= size {
		return byteRange{}, false, errRangeUnsatisfiable
	}
	end := size - 1
	if last != "" {
		e, err := strconv.ParseInt(last, 10, 64)
		if err != nil || e < start {
			return byteRange{}, false, errRangeUnsatisfiable
		}
		end = min(e, size-1)
	}
	return byteRange{start: start, end: end}, true, nil
}

// parseContentRange reads an upload chunk's Content-Range: "start-end",
// inclusive, as docker and the OCI spec send it ("bytes start-end/size" is
// accepted too).
func parseContentRange(header string) (start, end int64, err error) {
	s := strings.TrimSpace(header)
	s = strings.TrimPrefix(s, "bytes ")
	s = strings.TrimPrefix(s, "bytes=")
	s, _, _ = strings.Cut(s, "/")
	a, b, found := strings.Cut(s, "-")
	if !found {
		return 0, 0, fmt.Errorf("Content-Range %q is not start-end", header)
	}
	start, err1 := strconv.ParseInt(strings.TrimSpace(a), 10, 64)
	end, err2 := strconv.ParseInt(strings.TrimSpace(b), 10, 64)
	if err1 != nil || err2 != nil || start < 0 || end < start {
		return 0, 0, fmt.Errorf("Content-Range %q is not start-end", header)
	}
	if end == math.MaxInt64 {
		// end-start+1 would overflow into a negative length, which the
		// size checks below would take for "unknown".
		return 0, 0, fmt.Errorf("Content-Range %q ends beyond any blob", header)
	}
	return start, end, nil
}

// uploadRange is the Range header of an upload (storage.UploadRange).
func uploadRange(size int64) string { return storage.UploadRange(size) }
