package e2e

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestClientBigFileProgress: a 1 GiB file goes in and out. Under a
// pseudo-terminal (script, from util-linux) the client redraws a bar with
// bytes and rate; without one it writes one plain line per layer, no
// escape codes; -o json writes JSON lines; --quiet nothing.
func TestClientBigFileProgress(t *testing.T) {
	t.Parallel()
	const size = 1 << 30
	srv := startServer(t)
	sr := newSRCLI(t, srv)
	script := requireTool(t, "script")
	dir := t.TempDir()
	big := filepath.Join(dir, "big.bin")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	if _, err := w.ReadFrom(streamData(12, size)); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	want := streamDigest(t, 12, size)

	// The bars: script gives the command a terminal and copies it to stdout.
	cmdline := serverBin + " push " + big + " e2e/big:1"
	tty := runTool(t, cliTransferTimeout, sr.env, script, "-qec", cmdline, "/dev/null")
	if !strings.Contains(tty, "\x1b[1A") || !strings.Contains(tty, "\x1b[K") {
		t.Errorf("no redrawn bars under a terminal:\n%q", clip(tty))
	}
	bars := regexp.MustCompile(`big\.bin +\[[= ]{30}\] +(\d+)%  [0-9.]+ [KMG]?i?B / 1\.0 GiB  [0-9.]+ [KMG]?i?B/s`).FindAllStringSubmatch(tty, -1)
	percents := map[string]bool{}
	for _, m := range bars {
		percents[m[1]] = true
	}
	if len(percents) < 2 {
		t.Errorf("the bar under a terminal moved through %d percentages (%v), want several with bytes and rate:\n%q", len(percents), percents, clip(tty))
	}
	if !regexp.MustCompile(`big\.bin +\[={30}\] 100%  1\.0 GiB  [0-9.]+ [KMG]?i?B/s  done`).MatchString(tty) {
		t.Errorf("no finished bar:\n%q", clip(tty))
	}

	// Plain: one line, no escape codes.
	r := sr.try("pull", "e2e/big:1", "--unpack", filepath.Join(dir, "out"))
	if r.Err != nil {
		t.Fatalf("pull: %v\n%s", r.Err, r.Stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
	if len(lines) != 1 || strings.Contains(r.Stderr, "\x1b") ||
		!regexp.MustCompile(`^pulled big\.bin 1\.0 GiB in [0-9.]+m?s \([0-9.]+ [KMG]?i?B/s\)$`).MatchString(lines[0]) {
		t.Errorf("plain progress of pull: %q, want one line with size and rate", r.Stderr)
	}
	if d, n := hashFile(t, filepath.Join(dir, "out", "big.bin")); d != want || n != size {
		t.Errorf("pulled big.bin: %s, %d bytes; want %s, %d", d, n, want, size)
	}
	if err := os.Remove(filepath.Join(dir, "out", "big.bin")); err != nil {
		t.Fatal(err)
	}

	// -o json: the result on stdout, one event per layer on stderr.
	r = sr.try("pull", "e2e/big:1", "--unpack", filepath.Join(dir, "out"), "-o", "json")
	var ev struct {
		Event string
		Name  string
		Bytes int64
	}
	var res struct{ Digest string }
	if r.Err != nil || json.Unmarshal([]byte(r.Stderr), &ev) != nil || ev.Event != "pulled" || ev.Name != "big.bin" || ev.Bytes != size ||
		json.Unmarshal([]byte(r.Stdout), &res) != nil || !strings.HasPrefix(res.Digest, "sha256:") {
		t.Errorf("pull -o json: %v\nstdout %q\nstderr %q", r.Err, r.Stdout, r.Stderr)
	}
	// --quiet: nothing on stderr.
	if r := sr.try("push", big, "e2e/big:2", "-q"); r.Err != nil || r.Stderr != "" {
		t.Errorf("push -q: %v, stderr %q", r.Err, r.Stderr)
	}
}
