package filesystem

import (
	"fmt"
	"os"
	"sync"
	"testing"
)

// TestNoEmptyDirectoriesLeft checks that removals prune the directories they
// empty, up to but excluding the root.
func TestNoEmptyDirectoriesLeft(t *testing.T) {
	ctx, d := t.Context(), newTestDriver(t)
	steps := []struct {
		name string
		do   func() error
	}{
		{"Delete", func() error {
			if err := d.PutContent(ctx, "a/b/c", nil); err != nil {
				return err
			}
			return d.Delete(ctx, "a/b/c")
		}},
		{"Move", func() error {
			if err := d.PutContent(ctx, "a/b/c", nil); err != nil {
				return err
			}
			if err := d.Move(ctx, "a/b/c", "x/y"); err != nil {
				return err
			}
			return d.Delete(ctx, "x")
		}},
		{"Cancel", func() error {
			w, err := d.Writer(ctx, "a/b/c", 0)
			if err != nil {
				return err
			}
			return w.Cancel(ctx)
		}},
		{"CloseNew", func() error {
			w, err := d.Writer(ctx, "a/b/c", 0)
			if err != nil {
				return err
			}
			w.Write([]byte("x"))
			return w.Close()
		}},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if entries, err := os.ReadDir(d.root); err != nil || len(entries) != 0 {
			t.Errorf("after %s the root holds %v (%v); want nothing", s.name, entries, err)
		}
	}
	if _, err := os.Stat(d.root); err != nil {
		t.Errorf("root pruned: %v", err)
	}
}

// TestCreateWhileDeleting stores files next to directories that are created
// and deleted over and over: the pruning of a directory emptied by Delete
// races with the creation of its neighbours, which share its parents, and
// must never make them fail.
func TestCreateWhileDeleting(t *testing.T) {
	ctx, d := t.Context(), newTestDriver(t)
	const workers, rounds = 4, 100
	var wg sync.WaitGroup
	for g := range workers {
		wg.Go(func() {
			for i := range rounds {
				dir := fmt.Sprintf("p/a/g%d-%d", g, i)
				if err := d.PutContent(ctx, dir+"/f", []byte(dir)); err != nil {
					t.Errorf("PutContent: %v", err)
					return
				}
				w, err := d.Writer(ctx, dir+"/w", 0)
				if err != nil {
					t.Errorf("Writer: %v", err)
					return
				}
				w.Write([]byte(dir))
				if err := w.Commit(ctx); err != nil {
					t.Errorf("Commit: %v", err)
					return
				}
				if err := d.Move(ctx, dir+"/w", fmt.Sprintf("p/b/g%d/m%d", g, i)); err != nil {
					t.Errorf("Move: %v", err)
					return
				}
				if err := d.Delete(ctx, dir); err != nil {
					t.Errorf("Delete: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := d.Delete(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	if entries, err := os.ReadDir(d.root); err != nil || len(entries) != 0 {
		t.Errorf("root holds %v (%v); want nothing", entries, err)
	}
}
