// Package faulty wraps any storage driver and injects faults into its calls:
// errors (the backend unavailable), timeouts, short reads and a full disk,
// at chosen calls or at random ones with a fixed seed. Tests use it to prove
// that every failure of the storage below reaches clients as an error and
// never as wrong or partial content.
package faulty

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/shadowreg/shadowreg/storage/driver"
)

// Fault is what happens to a call.
type Fault int

const (
	None        Fault = iota
	Unavailable       // an error wrapping driver.ErrUnavailable
	Timeout           // the call hangs until its context ends (or Hang), then fails as unavailable
	NoSpace           // writes fail with ENOSPC (reads: Unavailable)
	ShortRead         // a reader ends early with io.ErrUnexpectedEOF (other calls: Unavailable)
)

func (f Fault) String() string {
	return [...]string{"none", "unavailable", "timeout", "nospace", "shortread"}[f]
}

// Call is one driver call, as a Rule sees it.
type Call struct {
	Op   string // the method: GetContent, PutContent, Reader, Writer, Write, Checkpoint, Commit, Stat, StatFile, List, Walk, Move, Delete, Adopt
	Path string
	N    int64 // the call's number, from 1, over all calls
}

// A Rule decides the fault of a call.
type Rule func(Call) Fault

// On faults calls of op (any op when "") whose path contains substr.
func On(op, substr string, f Fault) Rule {
	return func(c Call) Fault {
		if (op == "" || c.Op == op) && strings.Contains(c.Path, substr) {
			return f
		}
		return None
	}
}

// Random faults a fraction rate of all calls, picking among faults; the
// same seed faults the same calls (of the same sequence).
func Random(seed uint64, rate float64, faults ...Fault) Rule {
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	return func(Call) Fault {
		mu.Lock()
		defer mu.Unlock()
		if rng.Float64() >= rate || len(faults) == 0 {
			return None
		}
		return faults[rng.IntN(len(faults))]
	}
}

// Driver is a driver.Driver whose calls fail as its rule says.
type Driver struct {
	inner driver.Driver
	rule  atomic.Pointer[Rule]
	// Hang bounds a Timeout fault whose context has no deadline.
	Hang    time.Duration
	calls   atomic.Int64
	faulted atomic.Int64
}

// New wraps inner; with no rule (nil) nothing is faulted until SetRule. The
// result implements driver.Adopter and driver.TempSweeper when inner does.
func New(inner driver.Driver, rule Rule) driver.Driver {
	d := &Driver{inner: inner, Hang: 5 * time.Second}
	d.SetRule(rule)
	_, adopts := inner.(driver.Adopter)
	_, sweeps := inner.(driver.TempSweeper)
	switch {
	case adopts && sweeps:
		return &adoptingSweeper{adopting{d}}
	case adopts:
		return &adopting{d}
	}
	return d
}

// Of returns the fault injector of a driver New made.
func Of(d driver.Driver) *Driver {
	switch d := d.(type) {
	case *Driver:
		return d
	case *adopting:
		return d.Driver
	case *adoptingSweeper:
		return d.Driver
	}
	return nil
}

// SetRule replaces the rule; nil stops faulting.
func (d *Driver) SetRule(r Rule) {
	if r == nil {
		r = func(Call) Fault { return None }
	}
	d.rule.Store(&r)
}

// Stats reports the calls seen and how many were faulted.
func (d *Driver) Stats() (calls, faulted int64) { return d.calls.Load(), d.faulted.Load() }

// decide numbers the call and applies a Timeout fault at once (it waits);
// it returns the fault for the caller to act on.
func (d *Driver) decide(ctx context.Context, op, path string) Fault {
	n := d.calls.Add(1)
	f := (*d.rule.Load())(Call{Op: op, Path: path, N: n})
	if f == None {
		return None
	}
	d.faulted.Add(1)
	if f == Timeout {
		t := time.NewTimer(d.Hang)
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
	return f
}

// errFor is the error a fault makes of a call.
func errFor(f Fault, op, path string, write bool) error {
	if f == NoSpace && write {
		return &fs.PathError{Op: "write", Path: path, Err: syscall.ENOSPC}
	}
	return fmt.Errorf("faulty: %s %s: injected %s: %w", op, path, f, driver.ErrUnavailable)
}

func (d *Driver) Name() string { return d.inner.Name() }

func (d *Driver) GetContent(ctx context.Context, path string) ([]byte, error) {
	if f := d.decide(ctx, "GetContent", path); f != None {
		return nil, errFor(f, "GetContent", path, false)
	}
	return d.inner.GetContent(ctx, path)
}

func (d *Driver) PutContent(ctx context.Context, path string, content []byte) error {
	if f := d.decide(ctx, "PutContent", path); f != None {
		return errFor(f, "PutContent", path, true)
	}
	return d.inner.PutContent(ctx, path, content)
}

func (d *Driver) Reader(ctx context.Context, path string, offset int64) (io.ReadCloser, error) {
	f := d.decide(ctx, "Reader", path)
	if f != None && f != ShortRead {
		return nil, errFor(f, "Reader", path, false)
	}
	rc, err := d.inner.Reader(ctx, path, offset)
	if err != nil || f != ShortRead {
		return rc, err
	}
	return &shortReader{rc: rc, left: 1 + int64(rand.IntN(64<<10))}, nil
}

func (d *Driver) Writer(ctx context.Context, path string, offset int64) (driver.FileWriter, error) {
	if f := d.decide(ctx, "Writer", path); f != None {
		return nil, errFor(f, "Writer", path, true)
	}
	w, err := d.inner.Writer(ctx, path, offset)
	if err != nil {
		return nil, err
	}
	return &writer{FileWriter: w, d: d, ctx: ctx, path: path}, nil
}

func (d *Driver) Stat(ctx context.Context, path string) (driver.FileInfo, error) {
	if f := d.decide(ctx, "Stat", path); f != None {
		return driver.FileInfo{}, errFor(f, "Stat", path, false)
	}
	return d.inner.Stat(ctx, path)
}

// StatFile is driver.FileStater, faulted like Stat: the inner driver's
// when it has one, else Stat refusing directories.
func (d *Driver) StatFile(ctx context.Context, path string) (driver.FileInfo, error) {
	if f := d.decide(ctx, "StatFile", path); f != None {
		return driver.FileInfo{}, errFor(f, "StatFile", path, false)
	}
	if fs, ok := d.inner.(driver.FileStater); ok {
		return fs.StatFile(ctx, path)
	}
	fi, err := d.inner.Stat(ctx, path)
	if err == nil && fi.IsDir {
		return driver.FileInfo{}, driver.NotFound(d.inner.Name(), path)
	}
	return fi, err
}

func (d *Driver) List(ctx context.Context, path string) ([]string, error) {
	if f := d.decide(ctx, "List", path); f != None {
		return nil, errFor(f, "List", path, false)
	}
	return d.inner.List(ctx, path)
}

func (d *Driver) Walk(ctx context.Context, path string, fn func(driver.FileInfo) error) error {
	if f := d.decide(ctx, "Walk", path); f != None {
		return errFor(f, "Walk", path, false)
	}
	return d.inner.Walk(ctx, path, fn)
}

func (d *Driver) Move(ctx context.Context, src, dst string) error {
	if f := d.decide(ctx, "Move", dst); f != None {
		return errFor(f, "Move", dst, true)
	}
	return d.inner.Move(ctx, src, dst)
}

func (d *Driver) Delete(ctx context.Context, path string) error {
	if f := d.decide(ctx, "Delete", path); f != None {
		return errFor(f, "Delete", path, false)
	}
	return d.inner.Delete(ctx, path)
}

// shortReader ends a read early, as a connection cut mid-body would.
type shortReader struct {
	rc   io.ReadCloser
	left int64
}

func (r *shortReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, fmt.Errorf("faulty: injected short read: %w", io.ErrUnexpectedEOF)
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n, err := r.rc.Read(p)
	r.left -= int64(n)
	return n, err
}

func (r *shortReader) Close() error { return r.rc.Close() }

// writer faults a FileWriter's writes, checkpoints and commits.
type writer struct {
	driver.FileWriter
	d    *Driver
	ctx  context.Context
	path string
}

func (w *writer) Write(p []byte) (int, error) {
	if f := w.d.decide(w.ctx, "Write", w.path); f != None {
		return 0, errFor(f, "Write", w.path, true)
	}
	return w.FileWriter.Write(p)
}

func (w *writer) Checkpoint(ctx context.Context, meta []byte) error {
	if f := w.d.decide(ctx, "Checkpoint", w.path); f != None {
		return errFor(f, "Checkpoint", w.path, true)
	}
	return w.FileWriter.Checkpoint(ctx, meta)
}

func (w *writer) Commit(ctx context.Context) error {
	if f := w.d.decide(ctx, "Commit", w.path); f != None {
		return errFor(f, "Commit", w.path, true)
	}
	return w.FileWriter.Commit(ctx)
}

// adopting forwards driver.Adopter, faulting Adopt.
type adopting struct{ *Driver }

func (a *adopting) TempFile() (*os.File, error) { return a.inner.(driver.Adopter).TempFile() }

func (a *adopting) Adopt(ctx context.Context, f *os.File, dst string) error {
	if fault := a.decide(ctx, "Adopt", dst); fault != None {
		// Adopt takes f away on success only; on failure the caller still
		// owns it, as with the real driver's errors.
		return errFor(fault, "Adopt", dst, true)
	}
	return a.inner.(driver.Adopter).Adopt(ctx, f, dst)
}

// adoptingSweeper also forwards driver.TempSweeper (never faulted: it runs
// in the collector, whose faults come through Walk and Delete).
type adoptingSweeper struct{ adopting }

func (a *adoptingSweeper) SweepTemp(ctx context.Context, before time.Time, dryRun bool) (int, int64, error) {
	return a.inner.(driver.TempSweeper).SweepTemp(ctx, before, dryRun)
}

// IsInjected reports whether err came from this package.
func IsInjected(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "faulty: ") || errors.Is(err, syscall.ENOSPC))
}
