package registry

import (
	"errors"
	"testing"
)

func TestParseRange(t *testing.T) {
	t.Parallel()
	type want struct {
		r       byteRange
		partial bool
		err     error
	}
	whole := want{}
	unsat := want{err: errRangeUnsatisfiable}
	tests := []struct {
		header string
		size   int64
		want   want
	}{
		// No range, or one the server may ignore: the whole blob.
		{"", 2048, whole},
		{"items=0-10", 2048, whole},
		{"bytes=0-1,5-9", 2048, whole},
		{"bytes=0-1, 5-9", 2048, whole},
		{"bytes 0-10", 2048, whole}, // "bytes " is Content-Range syntax, not Range
		// One satisfiable range.
		{"bytes=0-", 2048, want{byteRange{0, 2047}, true, nil}},
		{"bytes=0-0", 2048, want{byteRange{0, 0}, true, nil}},
		{"bytes=500-1499", 2048, want{byteRange{500, 1499}, true, nil}},
		{" bytes=500-1499 ", 2048, want{byteRange{500, 1499}, true, nil}},
		{"bytes= 500-1499", 2048, want{byteRange{500, 1499}, true, nil}},
		{"bytes=2047-", 2048, want{byteRange{2047, 2047}, true, nil}},
		{"bytes=2047-2047", 2048, want{byteRange{2047, 2047}, true, nil}},
		{"bytes=-500", 2048, want{byteRange{1548, 2047}, true, nil}},
		{"bytes=-1", 2048, want{byteRange{2047, 2047}, true, nil}},
		{"bytes=-2048", 2048, want{byteRange{0, 2047}, true, nil}},
		{"bytes=-5000", 2048, want{byteRange{0, 2047}, true, nil}}, // a suffix longer than the blob is all of it
		{"bytes=2000-5000", 2048, want{byteRange{2000, 2047}, true, nil}},
		{"bytes=0-99999999999", 2048, want{byteRange{0, 2047}, true, nil}},
		{"bytes=-1", 1, want{byteRange{0, 0}, true, nil}},
		{"bytes=0-", 1, want{byteRange{0, 0}, true, nil}},
		// Unsatisfiable or malformed: 416.
		{"bytes=500-0", 2048, unsat},
		{"bytes=5000-10000", 2048, unsat},
		{"bytes=2048-", 2048, unsat},
		{"bytes=-0", 2048, unsat},
		{"bytes=", 2048, unsat},
		{"bytes=-", 2048, unsat},
		{"bytes=abc", 2048, unsat},
		{"bytes=a-b", 2048, unsat},
		{"bytes=1-b", 2048, unsat},
		{"bytes=-x", 2048, unsat},
		{"bytes=--5", 2048, unsat},
		// An empty blob has no bytes to range over.
		{"", 0, whole},
		{"bytes=0-", 0, unsat},
		{"bytes=0-0", 0, unsat},
		{"bytes=-1", 0, unsat},
	}
	for _, tt := range tests {
		r, partial, err := parseRange(tt.header, tt.size)
		if r != tt.want.r || partial != tt.want.partial || !errors.Is(err, tt.want.err) || (err == nil) != (tt.want.err == nil) {
			t.Errorf("parseRange(%q, %d) = %+v, %v, %v; want %+v, %v, %v", tt.header, tt.size, r, partial, err, tt.want.r, tt.want.partial, tt.want.err)
		}
		if partial && (r.start < 0 || r.end >= tt.size || r.length() <= 0) {
			t.Errorf("parseRange(%q, %d) = %+v: outside the blob", tt.header, tt.size, r)
		}
	}
}

func TestByteRangeLength(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		r    byteRange
		want int64
	}{{byteRange{0, 0}, 1}, {byteRange{0, 2047}, 2048}, {byteRange{500, 1499}, 1000}, {byteRange{0, -1}, 0}} {
		if got := tt.r.length(); got != tt.want {
			t.Errorf("%+v.length() = %d, want %d", tt.r, got, tt.want)
		}
	}
}

func TestParseContentRange(t *testing.T) {
	t.Parallel()
	tests := []struct {
		header     string
		start, end int64
		ok         bool
	}{
		{"0-99", 0, 99, true},
		{"0-0", 0, 0, true},
		{"100-199", 100, 199, true},
		{"bytes 0-99/100", 0, 99, true},
		{"bytes 0-99/*", 0, 99, true},
		{"bytes=0-99", 0, 99, true},
		{" 5 - 9 ", 5, 9, true},
		{"", 0, 0, false},
		{"bad", 0, 0, false},
		{"0", 0, 0, false},
		{"-5", 0, 0, false},
		{"5-", 0, 0, false},
		{"9-5", 0, 0, false},
		{"a-b", 0, 0, false},
		{"-1-5", 0, 0, false},
		{"bytes */100", 0, 0, false},
	}
	for _, tt := range tests {
		start, end, err := parseContentRange(tt.header)
		if (err == nil) != tt.ok || (tt.ok && (start != tt.start || end != tt.end)) {
			t.Errorf("parseContentRange(%q) = %d, %d, %v; want %d, %d, ok=%v", tt.header, start, end, err, tt.start, tt.end, tt.ok)
		}
	}
}

func TestUploadRange(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		size int64
		want string
	}{{0, "0-0"}, {1, "0-0"}, {2, "0-1"}, {11, "0-10"}, {1 << 32, "0-4294967295"}} {
		if got := uploadRange(tt.size); got != tt.want {
			t.Errorf("uploadRange(%d) = %q, want %q", tt.size, got, tt.want)
		}
	}
}
