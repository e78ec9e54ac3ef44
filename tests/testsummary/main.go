// Command testsummary reads `go test -json` on stdin and keeps the output
// readable: the whole verbose log goes to a file, the terminal gets one line
// per top-level test and package, and the full output of every failing test.
// It adds the counts of passed, failed and skipped tests (subtests included,
// like go test's --- PASS/--- FAIL lines) to a counts file that tools/test.sh
// sums up into its closing "N passed, N failed" line.
//
//	go test -json ./... | go run ./tests/testsummary -log test.log -counts counts.txt
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Time       time.Time
	Action     string
	Package    string
	Test       string
	Elapsed    float64
	Output     string
	ImportPath string // build-output and build-fail events
}

type key struct{ pkg, test string }

type summary struct {
	out        io.Writer
	log        io.Writer
	output     map[key]*strings.Builder
	build      map[string]*strings.Builder
	pkgFailed  map[string]int // failed tests per package
	pkgPassed  map[string]int // passed tests per package
	tests      bool           // print passing top-level tests
	passed     int
	failed     int
	skipped    int
	failedList []string
}

func main() {
	logPath := flag.String("log", "", "file to write the full verbose output to")
	countsPath := flag.String("counts", "", "file to append \"passed failed skipped\" to")
	tests := flag.Bool("tests", false, "print a line for every passing top-level test too")
	flag.Parse()

	s := &summary{
		out:       os.Stdout,
		log:       io.Discard,
		output:    map[key]*strings.Builder{},
		build:     map[string]*strings.Builder{},
		pkgFailed: map[string]int{},
		pkgPassed: map[string]int{},
		tests:     *tests,
	}
	if *logPath != "" {
		f, err := os.Create(*logPath)
		if err != nil {
			fmt.Fprintln(os.Stderr, "testsummary:", err)
			os.Exit(2)
		}
		defer f.Close()
		s.log = f
	}
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			// Not an event (e.g. a build error): pass it through.
			fmt.Fprintf(s.out, "%s\n", line)
			fmt.Fprintf(s.log, "%s\n", line)
			continue
		}
		s.handle(e)
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "testsummary: reading input:", err)
		s.failed++
	}
	if len(s.failedList) > 0 {
		fmt.Fprintf(s.out, "\nFailed:\n")
		for _, n := range s.failedList {
			fmt.Fprintf(s.out, "  %s\n", n)
		}
	}
	fmt.Fprintf(s.out, "%d passed, %d failed, %d skipped\n", s.passed, s.failed, s.skipped)
	if *countsPath != "" {
		f, err := os.OpenFile(*countsPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			fmt.Fprintf(f, "%d %d %d\n", s.passed, s.failed, s.skipped)
			f.Close()
		}
	}
}

func (s *summary) buf(k key) *strings.Builder {
	b := s.output[k]
	if b == nil {
		b = &strings.Builder{}
		s.output[k] = b
	}
	return b
}

func (s *summary) handle(e event) {
	k := key{e.Package, e.Test}
	switch e.Action {
	case "output":
		fmt.Fprint(s.log, e.Output)
		s.buf(k).WriteString(e.Output)
	case "build-output":
		fmt.Fprint(s.log, e.Output)
		b := s.build[e.ImportPath]
		if b == nil {
			b = &strings.Builder{}
			s.build[e.ImportPath] = b
		}
		b.WriteString(e.Output)
	case "build-fail":
		s.failed++
		s.failedList = append(s.failedList, "build of "+e.ImportPath)
		fmt.Fprintf(s.out, "BUILD FAILED %s\n", e.ImportPath)
		if b := s.build[e.ImportPath]; b != nil {
			fmt.Fprint(s.out, indent(b.String()))
		}
	case "pass", "fail", "skip":
		if e.Test == "" {
			s.packageDone(e)
			return
		}
		switch e.Action {
		case "pass":
			s.passed++
			s.pkgPassed[e.Package]++
			if s.tests && !strings.Contains(e.Test, "/") {
				fmt.Fprintf(s.out, "--- PASS: %s (%.2fs)  %s\n", e.Test, e.Elapsed, e.Package)
			}
		case "skip":
			s.skipped++
			if !strings.Contains(e.Test, "/") {
				fmt.Fprintf(s.out, "--- SKIP: %s  %s\n%s", e.Test, e.Package, indent(lastLines(s.buf(k).String(), 5)))
			}
		case "fail":
			s.failed++
			s.pkgFailed[e.Package]++
			s.failedList = append(s.failedList, e.Package+" "+e.Test)
			fmt.Fprintf(s.out, "--- FAIL: %s (%.2fs)  %s\n%s", e.Test, e.Elapsed, e.Package, indent(s.buf(k).String()))
		}
		delete(s.output, k)
	}
}

// packageDone reports a package's result; a package that failed without a
// failing test (build error, panic, timeout, TestMain) counts as one failure.
func (s *summary) packageDone(e event) {
	k := key{e.Package, ""}
	switch e.Action {
	case "pass":
		fmt.Fprintf(s.out, "ok   %s (%.1fs, %d tests)\n", e.Package, e.Elapsed, s.pkgPassed[e.Package])
	case "skip":
		fmt.Fprintf(s.out, "--   %s (no tests)\n", e.Package)
	case "fail":
		fmt.Fprintf(s.out, "FAIL %s (%.1fs)\n", e.Package, e.Elapsed)
		if s.pkgFailed[e.Package] == 0 {
			s.failed++
			s.failedList = append(s.failedList, e.Package+" (package: build error, panic, timeout or TestMain)")
			// Output of tests that never finished (a panic or a timeout).
			var rest strings.Builder
			for kk, b := range s.output {
				if kk.pkg == e.Package && kk.test != "" {
					fmt.Fprintf(&rest, "[%s]\n%s", kk.test, b.String())
				}
			}
			fmt.Fprint(s.out, indent(rest.String()+s.buf(k).String()))
		}
	}
	for kk := range s.output {
		if kk.pkg == e.Package {
			delete(s.output, kk)
		}
	}
}

func indent(s string) string {
	if s == "" {
		return ""
	}
	s = strings.TrimRight(s, "\n")
	return "    " + strings.ReplaceAll(s, "\n", "\n    ") + "\n"
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
