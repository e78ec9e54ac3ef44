package shadow_test

import (
	"fmt"
	"io"
	"strconv"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func errDigest(got, want v1.Hash) error { return fmt.Errorf("digest %s, want %s", got, want) }

func digests(t *testing.T, layers []v1.Layer) []v1.Hash {
	t.Helper()
	var out []v1.Hash
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func ioReadFull(r io.Reader, buf []byte) (int, error) { return io.ReadFull(r, buf) }
