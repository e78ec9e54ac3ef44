package client

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Mode is how transfers report their progress.
type Mode int

const (
	// Plain writes one line per finished layer: logs of CI jobs.
	Plain Mode = iota
	// Bars redraws one bar per layer, with bytes and rate, on a terminal.
	Bars
	// Quiet writes nothing.
	Quiet
	// JSON writes one JSON object per finished layer, for scripts.
	JSON
)

// Progress follows the layers of one command. It is safe for concurrent
// use: go-containerregistry moves several layers at once.
type Progress struct {
	mode  Mode
	out   io.Writer
	verb  string // "pushed", "pulled"
	now   func() time.Time
	mu    sync.Mutex
	items []*item
	drawn int // lines drawn by the last redraw (Bars)
	stop  chan struct{}
	done  chan struct{}
}

type item struct {
	name        string
	total, done int64
	start, end  time.Time
	err         error
}

// NewProgress reports to out (stderr, normally) in mode.
func NewProgress(out io.Writer, mode Mode, verb string) *Progress {
	return &Progress{mode: mode, out: out, verb: verb, now: time.Now}
}

// Track returns a reader that counts r's bytes against a layer named name
// (a file name or a short digest) of total bytes. Closing it, or reading it
// to EOF, finishes the layer.
func (p *Progress) Track(name string, total int64, r io.ReadCloser) io.ReadCloser {
	if p == nil {
		return r
	}
	it := &item{name: name, total: total, start: p.now()}
	p.mu.Lock()
	p.items = append(p.items, it)
	if p.mode == Bars && p.stop == nil {
		// Redraw only once there is something to draw (ls, inspect never).
		p.stop, p.done = make(chan struct{}), make(chan struct{})
		go p.redrawEvery(200 * time.Millisecond)
	}
	p.mu.Unlock()
	return &counter{p: p, it: it, r: r}
}

// Close stops redrawing and draws the final state.
func (p *Progress) Close() {
	if p == nil {
		return
	}
	p.mu.Lock()
	stop, done := p.stop, p.done
	p.mu.Unlock()
	if stop == nil {
		return
	}
	close(stop)
	<-done
}

func (p *Progress) redrawEvery(d time.Duration) {
	defer close(p.done)
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			p.redraw()
			return
		case <-t.C:
			p.redraw()
		}
	}
}

// redraw moves the cursor up over the lines drawn before and writes one
// bar per layer.
func (p *Progress) redraw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	if p.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", p.drawn)
	}
	now := p.now()
	for _, it := range p.items {
		b.WriteString("\r\x1b[K")
		b.WriteString(bar(it, now))
		b.WriteByte('\n')
	}
	p.drawn = len(p.items)
	io.WriteString(p.out, b.String())
}

func bar(it *item, now time.Time) string {
	const width = 30
	frac := 1.0
	if it.total > 0 {
		frac = float64(it.done) / float64(it.total)
	}
	frac = min(frac, 1)
	fill := int(frac * width)
	state := fmt.Sprintf("%s / %s  %s/s", HumanBytes(it.done), HumanBytes(it.total), HumanBytes(rate(it, now)))
	if it.err != nil {
		state = "failed: " + it.err.Error()
	} else if !it.end.IsZero() {
		state = fmt.Sprintf("%s  %s/s  done", HumanBytes(it.done), HumanBytes(rate(it, now)))
	}
	return fmt.Sprintf("%-20s [%s%s] %3.0f%%  %s", clipName(it.name, 20),
		strings.Repeat("=", fill), strings.Repeat(" ", width-fill), frac*100, state)
}

// rate is the layer's mean rate in bytes per second so far.
func rate(it *item, now time.Time) int64 {
	end := now
	if !it.end.IsZero() {
		end = it.end
	}
	secs := end.Sub(it.start).Seconds()
	if secs <= 0 {
		return 0
	}
	return int64(float64(it.done) / secs)
}

// finish records the end of a layer; in Plain and JSON modes it writes the
// layer's line.
func (p *Progress) finish(it *item, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !it.end.IsZero() {
		return
	}
	it.end, it.err = p.now(), err
	switch p.mode {
	case Plain:
		if err != nil {
			fmt.Fprintf(p.out, "%s failed after %s: %v\n", it.name, HumanBytes(it.done), err)
			return
		}
		fmt.Fprintf(p.out, "%s %s %s in %s (%s/s)\n", p.verb, it.name, HumanBytes(it.done),
			it.end.Sub(it.start).Round(time.Millisecond), HumanBytes(rate(it, it.end)))
	case JSON:
		ev := map[string]any{"event": p.verb, "name": it.name, "bytes": it.done,
			"seconds": it.end.Sub(it.start).Seconds()}
		if err != nil {
			ev["event"], ev["error"] = "failed", err.Error()
		}
		b, _ := json.Marshal(ev)
		fmt.Fprintf(p.out, "%s\n", b)
	}
}

type counter struct {
	p  *Progress
	it *item
	r  io.ReadCloser
}

func (c *counter) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.p.mu.Lock()
	c.it.done += int64(n)
	c.p.mu.Unlock()
	if err == io.EOF {
		c.p.finish(c.it, nil)
	} else if err != nil {
		c.p.finish(c.it, err)
	}
	return n, err
}

// Close finishes the layer: a reader closed before EOF is one whose
// consumer stopped (the registry had the blob, or an error elsewhere).
func (c *counter) Close() error {
	err := c.r.Close()
	c.p.mu.Lock()
	short := c.it.done < c.it.total
	c.p.mu.Unlock()
	if short {
		c.p.finish(c.it, fmt.Errorf("stopped"))
	} else {
		c.p.finish(c.it, nil)
	}
	return err
}

func clipName(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

// HumanBytes writes a size in binary units (1.5 MiB).
func HumanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
