package shadow

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestSweepSpool(t *testing.T) {
	dir := t.TempDir()
	old := time.Now().Add(-2 * time.Hour)
	write := func(name string, size int, mtime time.Time) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, make([]byte, size), 0o600); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(p, mtime, mtime)
		return p
	}
	crashed := write("shadowreg-fetch-123", 1000, old)
	live := write("shadowreg-fetch-456", 10, time.Now())
	other := write("someone-else-789", 10, old)
	n, b, err := SweepSpool(dir, time.Now().Add(-time.Hour))
	if err != nil || n != 1 || b != 1000 {
		t.Errorf("SweepSpool = %d, %d, %v; want 1 file of 1000 bytes", n, b, err)
	}
	if _, err := os.Stat(crashed); !os.IsNotExist(err) {
		t.Errorf("the crashed fetch's spool survived: %v", err)
	}
	for _, p := range []string{live, other} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s was removed: %v", p, err)
		}
	}
}
