package drivertest

import (
	"fmt"
	"testing"
)

func (s suite) testPutContent(t *testing.T) {
	big := data(1, 3*mib+17)
	tests := []struct {
		name string
		path string
		puts [][]byte // stored in turn; the last one must remain
	}{
		{"Create", "a", [][]byte{[]byte("hello")}},
		{"Empty", "empty", [][]byte{{}}},
		{"Nested", "a/b/c/d/e/f", [][]byte{[]byte("deep")}},
		{"OddNames", "x.y/z-w_v/sha256:0f.data", [][]byte{[]byte("odd")}},
		{"Binary", "bin", [][]byte{data(2, 64*1024+3)}},
		{"Large", "large", [][]byte{big}},
		// A shorter overwrite must not keep the old content's tail.
		{"OverwriteShorter", "o", [][]byte{[]byte("long old content"), []byte("new")}},
		{"OverwriteLonger", "o", [][]byte{[]byte("old"), []byte("longer new content")}},
		{"OverwriteWithEmpty", "o", [][]byte{[]byte("old"), {}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, d := s.setup(t)
			for _, b := range tt.puts {
				put(t, ctx, d, tt.path, b)
			}
			checkContent(t, ctx, d, tt.path, tt.puts[len(tt.puts)-1])
		})
	}
}

func (s suite) testReader(t *testing.T) {
	ctx, d := s.setup(t)
	content := data(3, 100*1024+1)
	size := int64(len(content))
	put(t, ctx, d, "r/file", content)
	put(t, ctx, d, "r/empty", nil)

	for _, off := range []int64{0, 1, size / 2, size - 1, size} {
		t.Run(fmt.Sprintf("At%d", off), func(t *testing.T) {
			got, err := readFrom(ctx, d, "r/file", off)
			if err != nil {
				t.Fatalf("Reader at %d of %d: %v", off, size, err)
			}
			if err := sameBytes(got, content[off:]); err != nil {
				t.Errorf("Reader at %d: %v", off, err)
			}
		})
	}
	t.Run("BeyondSize", func(t *testing.T) {
		if _, err := readFrom(ctx, d, "r/file", size+1); err == nil {
			t.Errorf("Reader at %d of a %d-byte file: no error", size+1, size)
		}
	})
	t.Run("EmptyFile", func(t *testing.T) {
		got, err := readFrom(ctx, d, "r/empty", 0)
		if err != nil || len(got) != 0 {
			t.Errorf("Reader of an empty file = %d bytes, %v; want 0, nil", len(got), err)
		}
		if _, err := readFrom(ctx, d, "r/empty", 1); err == nil {
			t.Errorf("Reader at 1 of an empty file: no error")
		}
	})
}
