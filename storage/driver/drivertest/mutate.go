package drivertest

import (
	"bytes"
	"slices"
	"sync"
	"testing"
)

func (s suite) testMove(t *testing.T) {
	t.Run("Basic", func(t *testing.T) {
		ctx, d := s.setup(t)
		content := data(30, 4*mib+1)
		put(t, ctx, d, "m/src", content)
		put(t, ctx, d, "m/other", []byte("other"))
		if err := d.Move(ctx, "m/src", "m/dst"); err != nil {
			t.Fatalf("Move: %v", err)
		}
		checkContent(t, ctx, d, "m/dst", content)
		_, err := d.Stat(ctx, "m/src")
		requireNotFound(t, err, "Stat of the moved source")
	})
	t.Run("ReplacesDst", func(t *testing.T) {
		ctx, d := s.setup(t)
		put(t, ctx, d, "m/src", []byte("new"))
		put(t, ctx, d, "m/dst", []byte("the longer old content"))
		if err := d.Move(ctx, "m/src", "m/dst"); err != nil {
			t.Fatalf("Move over an existing file: %v", err)
		}
		checkContent(t, ctx, d, "m/dst", []byte("new"))
	})
	t.Run("NewParents", func(t *testing.T) {
		ctx, d := s.setup(t)
		put(t, ctx, d, "up/u1/data", []byte("blob"))
		put(t, ctx, d, "up/keep", nil)
		if err := d.Move(ctx, "up/u1/data", "blobs/x/y/z/data"); err != nil {
			t.Fatalf("Move to new parents: %v", err)
		}
		checkContent(t, ctx, d, "blobs/x/y/z/data", []byte("blob"))
		// The source's directory held nothing else, so it is gone too.
		_, err := d.Stat(ctx, "up/u1")
		requireNotFound(t, err, "Stat of the emptied source directory")
		if got, err := d.List(ctx, "up"); err != nil || !slices.Equal(got, []string{"up/keep"}) {
			t.Errorf("List(up) = %q, %v; want [up/keep]", got, err)
		}
	})
	t.Run("MissingSrc", func(t *testing.T) {
		ctx, d := s.setup(t)
		put(t, ctx, d, "m/dst", []byte("kept"))
		requireNotFound(t, d.Move(ctx, "m/missing", "m/dst"), "Move of a missing source")
		checkContent(t, ctx, d, "m/dst", []byte("kept"))
	})
	t.Run("AtomicForReaders", s.testMoveAtomic)
}

// testMoveAtomic moves new versions over a path while a reader reads it: each
// read is one whole version.
func (s suite) testMoveAtomic(t *testing.T) {
	ctx, d := s.setup(t)
	const rounds = 8
	versions := make([][]byte, rounds+1)
	for i := range versions {
		versions[i] = data(uint64(40+i), 64*1024+i*4099)
	}
	put(t, ctx, d, "m/dst", versions[0])

	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for range 10000 { // bounded even if the mover hangs
			select {
			case <-done:
				return
			default:
			}
			got, err := readFrom(ctx, d, "m/dst", 0)
			if err != nil {
				t.Errorf("reading during Move: %v", err)
				return
			}
			if !slices.ContainsFunc(versions, func(v []byte) bool { return bytes.Equal(v, got) }) {
				t.Errorf("read during Move returned %d bytes that are no whole version", len(got))
				return
			}
		}
	})
	for i := 1; i <= rounds; i++ {
		put(t, ctx, d, "m/next", versions[i])
		if err := d.Move(ctx, "m/next", "m/dst"); err != nil {
			t.Errorf("Move round %d: %v", i, err)
			break
		}
	}
	close(done)
	wg.Wait()
	checkContent(t, ctx, d, "m/dst", versions[rounds])
}

func (s suite) testDelete(t *testing.T) {
	t.Run("File", func(t *testing.T) {
		ctx, d := s.setup(t)
		putAll(t, ctx, d, "d/a/f", "d/a/g")
		if err := d.Delete(ctx, "d/a/f"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		_, err := d.Stat(ctx, "d/a/f")
		requireNotFound(t, err, "Stat of a deleted file")
		checkContent(t, ctx, d, "d/a/g", []byte("content of d/a/g"))
		requireNotFound(t, d.Delete(ctx, "d/a/f"), "Delete of a deleted file")
	})
	t.Run("LastFile", func(t *testing.T) {
		// A directory exists only while something is under it.
		ctx, d := s.setup(t)
		putAll(t, ctx, d, "d/x/y/f", "d/keep")
		if err := d.Delete(ctx, "d/x/y/f"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		for _, p := range []string{"d/x/y", "d/x"} {
			_, err := d.Stat(ctx, p)
			requireNotFound(t, err, "Stat("+p+") after deleting its last file")
		}
		if got, err := d.List(ctx, "d"); err != nil || !slices.Equal(got, []string{"d/keep"}) {
			t.Errorf("List(d) = %q, %v; want [d/keep]", got, err)
		}
	})
	t.Run("Directory", func(t *testing.T) {
		ctx, d := s.setup(t)
		putAll(t, ctx, d, "d/b/c", "d/b/d/e", "d/b/d/f/g", "d/b-x", "d/bc", "d/bcd/e")
		put(t, ctx, d, "d/b/big", data(50, 2*mib))
		if err := d.Delete(ctx, "d/b"); err != nil {
			t.Fatalf("Delete of a directory: %v", err)
		}
		_, err := d.Stat(ctx, "d/b")
		requireNotFound(t, err, "Stat of a deleted directory")
		if got := walkAll(t, ctx, d, "d/b"); len(got) != 0 {
			t.Errorf("Walk of a deleted directory reported %q", got)
		}
		want := []string{"d/b-x", "d/bc", "d/bcd/e"}
		if got := walkAll(t, ctx, d, "d"); !slices.Equal(got, want) {
			t.Errorf("after deleting d/b, Walk(d) = %q; want %q", got, want)
		}
	})
	t.Run("Everything", func(t *testing.T) {
		ctx, d := s.setup(t)
		putAll(t, ctx, d, tree...)
		if err := d.Delete(ctx, "t"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		_, err := d.List(ctx, "t")
		requireNotFound(t, err, "List of a deleted tree")
	})
	t.Run("Missing", func(t *testing.T) {
		ctx, d := s.setup(t)
		requireNotFound(t, d.Delete(ctx, "no/such/path"), "Delete of a missing path")
	})
}
