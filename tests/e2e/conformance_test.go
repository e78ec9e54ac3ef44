package e2e

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// A conformanceProfile is one way of running the suite and exactly what it
// must report. The gate is exact: any failed or skipped check, a disabled
// check not named in Disabled, or a total other than Total fails it — a
// feature that stops working must not pass as a quiet skip (removing the
// OCI-Filters-Applied header used to turn 3 checks into skips, and the old
// gate, which counted only failures, passed).
type conformanceProfile struct {
	Name    string   // in the "OCI conformance (<label>, <name>)" line
	Version string   // OCI_VERSION
	Env     []string // more OCI_* settings
	Total   int      // checks the pinned suite (tools/install.sh) runs with it
	// Disabled names the checks the profile turns off by design, by their
	// full test case name; every other disabled check fails the gate.
	Disabled []string
}

var (
	// profileFull is the main gate: distribution-spec 1.1 plus what the
	// suite files under "dev" — upload cancel, the ?tag= parameter and
	// digest headers on blobs and manifests. Nothing is disabled. (Sparse
	// manifests, an index naming manifests the registry does not hold, stay
	// off: shadowreg refuses them with MANIFEST_BLOB_UNKNOWN, which the spec
	// allows, so that no tag names content that cannot be pulled.)
	profileFull = conformanceProfile{Name: "1.1+dev", Version: "1.1+dev", Total: 986}
	// profileRedirect is the full profile for a registry that redirects
	// blob GETs to its object store (presigned S3 URLs, Swift TempURLs):
	// the bytes then come from the store, which cannot send
	// Docker-Content-Digest, so the suite is told not to expect it on blob
	// reads (the 307 itself carries it). That setting drops an assertion
	// inside the blob checks, not checks: the same 986 run, none disabled.
	profileRedirect = conformanceProfile{Name: "1.1+dev-redirect", Version: "1.1+dev",
		Env: []string{"OCI_API_BLOBS_DIGEST_HEADER=false"}, Total: 986}
	// profileDefault is the suite's default, 1.1: upload cancel is off in
	// it, which disables its two checks.
	profileDefault = conformanceProfile{Name: "1.1", Version: "1.1", Total: 862, Disabled: []string{
		"OCI Conformance Test/sha256 blobs/post cancel/blob-post-cancel",
		"OCI Conformance Test/sha512 blobs/post cancel/blob-post-cancel",
	}}
)

const (
	// referenceFailures is how many checks of the default profile
	// distribution v3.1.2 fails (sha512, referrers/subject, non-distributable
	// layers, empty referrers), which checks this file's parsing when the
	// tests run against it (SHADOWREG_E2E_TARGET=reference).
	referenceFailures  = 91
	conformanceTimeout = 10 * time.Minute
)

// junit.xml as written by the conformance suite.
type junitSuites struct {
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Disabled int          `xml:"disabled,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Disabled int         `xml:"disabled,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string `xml:"name,attr"`
	Status    string `xml:"status,attr"`
	SystemOut string `xml:"system-out"`
	SystemErr string `xml:"system-err"`
}

type conformanceCounts struct {
	Total, Passed, Failed, Errors, Skipped, Disabled int
}

func (c conformanceCounts) String() string {
	return fmt.Sprintf("%d total, %d passed, %d failed, %d errors, %d skipped, %d disabled",
		c.Total, c.Passed, c.Failed, c.Errors, c.Skipped, c.Disabled)
}

// TestConformance runs the OCI distribution-spec conformance suite against
// a fresh server in both profiles, the full one (the main gate) and the
// default. The reports are copied to <repo>/.cache/conformance/<target>-<profile>/.
func TestConformance(t *testing.T) {
	t.Parallel()
	requireTool(t, "oci-conformance")
	srv := startServer(t)
	runConformance(t, srv, target, profileFull)
	if !isReference() {
		runConformance(t, srv, target, profileDefault)
	}
}

// TestConformanceGateBites proves the gate fails when a feature breaks: the
// suite runs through a proxy that drops the OCI-Filters-Applied header from
// every response (a registry that filters referrers without saying so),
// which the suite reports as skipped checks, not failed ones. The gate must
// refuse that result.
func TestConformanceGateBites(t *testing.T) {
	t.Parallel()
	if isReference() {
		t.Skip("a check of the gate, not of the registry")
	}
	requireTool(t, "oci-conformance")
	srv := startServer(t)
	proxy := stripHeaderProxy(t, srv.URL, "OCI-Filters-Applied")
	res, err := runSuite(t, proxy, profileFull, "gate-mutation")
	if err != nil {
		t.Fatal(err)
	}
	problems := profileFull.check(res)
	t.Logf("the gate on a registry without OCI-Filters-Applied (%s):\n  %s", res.counts, strings.Join(problems, "\n  "))
	if len(problems) == 0 {
		t.Fatalf("the gate passed a registry that drops OCI-Filters-Applied: %s", res.counts)
	}
	if res.counts.Skipped == 0 || !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, "skipped") }) {
		t.Errorf("the mutation was expected to show as skipped checks that the gate refuses; got %s, problems %q", res.counts, problems)
	}
}

// stripHeaderProxy forwards to backend and removes header from every
// response; it returns the proxy's host:port.
func stripHeaderProxy(t *testing.T, backend, header string) string {
	t.Helper()
	u, err := url.Parse(backend)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(r *http.Response) error { r.Header.Del(header); return nil }
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return ln.Addr().String()
}

// suiteResult is one run of the suite, parsed.
type suiteResult struct {
	counts   conformanceCounts
	failing  []string          // "[failure] name\n reason"
	skipped  map[string]string // skipped (not disabled) checks: name → reason
	disabled map[string]string // disabled checks: name → reason
	dir      string            // where the reports were copied
	runErr   error
	stdout   string
}

// runConformance runs the suite in profile p against srv and fails t unless
// the result is exactly what p says. label names the run in the
// "OCI conformance (<label>, <profile>): …" line and the report folder,
// <repo>/.cache/conformance/<label>-<profile>/.
func runConformance(t *testing.T, srv *Server, label string, p conformanceProfile) conformanceCounts {
	t.Helper()
	res, err := runSuite(t, srv.Addr, p, label)
	if err != nil {
		t.Fatal(err)
	}
	c := res.counts
	t.Logf("OCI conformance (%s, %s): %s", label, p.Name, c)
	fmt.Printf("OCI conformance (%s, %s): %s\n", label, p.Name, c) // also in go test -json output as a plain line
	for _, kind := range []struct {
		what string
		m    map[string]string
	}{{"disabled", res.disabled}, {"skipped", res.skipped}} {
		for _, name := range slices.Sorted(maps.Keys(kind.m)) {
			t.Logf("%s: %s: %s", kind.what, name, kind.m[name])
		}
	}
	if isReference() {
		// The reference registry's known result checks this test's parsing.
		if c.Total != p.Total || c.Failed+c.Errors != referenceFailures {
			t.Errorf("reference registry: got %s, want %d total and %d failed", c, p.Total, referenceFailures)
		}
		return c
	}
	if problems := p.check(res); len(problems) > 0 {
		t.Errorf("OCI conformance (%s, %s) does not pass the gate (reports in %s):\n  %s",
			label, p.Name, res.dir, strings.Join(problems, "\n  "))
		if i := strings.Index(res.stdout, "OCI Conformance Result"); i >= 0 {
			t.Logf("suite summary:\n%s", clip(res.stdout[i:]))
		}
	}
	return c
}

// check lists why res does not pass the profile's gate; none when it does.
func (p conformanceProfile) check(res suiteResult) []string {
	var out []string
	c := res.counts
	if c.Total != p.Total {
		out = append(out, fmt.Sprintf("%d checks ran, want exactly %d (a new suite version? an aborted run?)", c.Total, p.Total))
	}
	if c.Failed+c.Errors > 0 || len(res.failing) > 0 {
		out = append(out, fmt.Sprintf("%d checks failed:\n    %s", c.Failed+c.Errors, strings.Join(res.failing, "\n    ")))
	}
	for _, name := range slices.Sorted(maps.Keys(res.skipped)) {
		out = append(out, fmt.Sprintf("skipped: %s: %s", name, res.skipped[name]))
	}
	for _, name := range slices.Sorted(maps.Keys(res.disabled)) {
		if !slices.Contains(p.Disabled, name) {
			out = append(out, fmt.Sprintf("disabled, and not on the profile's list: %s: %s", name, res.disabled[name]))
		}
	}
	for _, name := range p.Disabled {
		if _, ok := res.disabled[name]; !ok {
			out = append(out, fmt.Sprintf("expected disabled, but it was not: %s (update the profile)", name))
		}
	}
	// The suite's own counts must agree with its test cases, so that a
	// change in how it reports cannot slip past the parsing above.
	if c.Skipped != len(res.skipped) || c.Disabled != len(res.disabled) {
		out = append(out, fmt.Sprintf("the suite counts %d skipped and %d disabled, its test cases show %d and %d",
			c.Skipped, c.Disabled, len(res.skipped), len(res.disabled)))
	}
	if res.runErr != nil && c.Failed+c.Errors == 0 {
		out = append(out, fmt.Sprintf("oci-conformance exited with %v although no check failed", res.runErr))
	}
	return out
}

// runSuite runs oci-conformance in profile p against addr (host:port) and
// parses its junit.xml.
func runSuite(t *testing.T, addr string, p conformanceProfile, label string) (suiteResult, error) {
	t.Helper()
	bin := requireTool(t, "oci-conformance")
	res := t.TempDir()

	// The profile only: drop any OCI_* the caller may have set, and run in
	// an empty directory (the suite reads ./oci-conformance.yaml if present).
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OCI_") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"OCI_REGISTRY="+addr,
		"OCI_TLS=disabled",
		"OCI_REPO1=conformance/repo1",
		"OCI_REPO2=conformance/repo2",
		"OCI_RESULTS_DIR="+res,
		"OCI_VERSION="+p.Version,
	)
	env = append(env, p.Env...)
	ctx, cancel := context.WithTimeout(context.Background(), conformanceTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Dir = res
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	runErr := cmd.Run()
	t.Logf("oci-conformance (%s) ran in %.1fs (exit: %v)", p.Name, time.Since(start).Seconds(), runErr)
	if ctx.Err() != nil {
		return suiteResult{}, fmt.Errorf("oci-conformance timed out after %v\nstderr:\n%s", conformanceTimeout, clip(stderr.String()))
	}
	_ = os.WriteFile(filepath.Join(res, "stdout.txt"), stdout.Bytes(), 0o644)
	_ = os.WriteFile(filepath.Join(res, "stderr.txt"), stderr.Bytes(), 0o644)
	keep := filepath.Join(repoRoot, ".cache", "conformance", label+"-"+p.Name)
	if err := copyDir(res, keep); err != nil {
		t.Logf("copying the reports to %s: %v", keep, err)
	} else {
		t.Logf("conformance reports: %s/{report.html,junit.xml,results.yaml,stdout.txt}", keep)
	}
	junit, err := os.ReadFile(filepath.Join(res, "junit.xml"))
	if err != nil {
		return suiteResult{}, fmt.Errorf("the suite wrote no junit.xml (%v); exit: %v\nstdout:\n%s\nstderr:\n%s", err, runErr, clip(stdout.String()), clip(stderr.String()))
	}
	out, err := parseJunit(junit)
	if err != nil {
		return suiteResult{}, err
	}
	out.dir, out.runErr, out.stdout = keep, runErr, stdout.String()
	return out, nil
}

// parseJunit reads the suite's junit.xml. The suite writes disabled and
// skipped checks alike as status "skipped", with the reason in system-err
// after "skipping test:"; a disabled check's reason says it "is disabled in
// the configuration" (or excluded by a test filter).
func parseJunit(data []byte) (suiteResult, error) {
	var js junitSuites
	if err := xml.Unmarshal(data, &js); err != nil {
		return suiteResult{}, fmt.Errorf("parsing junit.xml: %v", err)
	}
	res := suiteResult{
		counts:   conformanceCounts{Total: js.Tests, Failed: js.Failures, Errors: js.Errors, Skipped: js.Skipped, Disabled: js.Disabled},
		skipped:  map[string]string{},
		disabled: map[string]string{},
	}
	res.counts.Passed = js.Tests - js.Failures - js.Errors - js.Skipped - js.Disabled
	for _, s := range js.Suites {
		for _, tc := range s.Cases {
			switch tc.Status {
			case "failure", "error":
				msg := strings.TrimSpace(tc.SystemOut)
				res.failing = append(res.failing, fmt.Sprintf("[%s] %s\n      %s", tc.Status, tc.Name, strings.ReplaceAll(clipLine(msg, 1500), "\n", "\n      ")))
			case "skipped":
				reason := skipReason(tc.SystemOut, tc.SystemErr)
				if strings.Contains(reason, "is disabled in the configuration") || strings.Contains(reason, "test filter") {
					res.disabled[tc.Name] = reason
				} else {
					res.skipped[tc.Name] = reason
				}
			}
		}
	}
	return res, nil
}

// skipReason is the reason the suite gave for skipping a check: the errors
// it recorded (system-out: a check that found the registry does not support
// something), else the lines after "skipping test:" in its output
// (system-err: a check it did not run), else the output's end, so that an
// empty reason is never printed.
func skipReason(errs, out string) string {
	if errs = strings.TrimSpace(errs); errs != "" {
		return clipLine(strings.ReplaceAll(errs, "\n", " / "), 500)
	}
	_, after, ok := strings.Cut(out, "skipping test:")
	if !ok {
		return "(no reason given) " + clipLine(strings.TrimSpace(out[max(0, len(out)-300):]), 300)
	}
	var lines []string
	for _, l := range strings.Split(after, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return clipLine(strings.Join(lines, " / "), 500)
}

func clipLine(s string, max int) string {
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}

// copyDir copies the regular files of src into dst (replacing dst).
func copyDir(src, dst string) error {
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// TestConformanceGateRules checks the gate's rules on made-up results, so
// that each one is known to bite without running the suite.
func TestConformanceGateRules(t *testing.T) {
	p := conformanceProfile{Total: 3, Disabled: []string{"a/cancel"}}
	ok := suiteResult{counts: conformanceCounts{Total: 3, Passed: 2, Disabled: 1},
		skipped: map[string]string{}, disabled: map[string]string{"a/cancel": "api X is disabled in the configuration"}}
	if problems := p.check(ok); len(problems) > 0 {
		t.Fatalf("the gate refuses a good result: %q", problems)
	}
	tests := map[string]func(r *suiteResult){
		"a check failed":  func(r *suiteResult) { r.counts.Failed, r.failing = 1, []string{"[failure] a/b"} },
		"fewer checks":    func(r *suiteResult) { r.counts.Total = 2 },
		"more checks":     func(r *suiteResult) { r.counts.Total = 4 },
		"a check skipped": func(r *suiteResult) { r.counts.Skipped, r.skipped = 1, map[string]string{"a/b": "unsupported"} },
		"disabled, not listed": func(r *suiteResult) {
			r.counts.Disabled, r.disabled = 2, map[string]string{"a/cancel": "", "a/other": ""}
		},
		"listed, not disabled": func(r *suiteResult) { r.counts.Disabled, r.disabled = 0, map[string]string{} },
		"counts disagree":      func(r *suiteResult) { r.counts.Skipped = 1 },
		"exit status":          func(r *suiteResult) { r.runErr = errors.New("exit status 1") },
	}
	for name, mutate := range tests {
		r := ok
		r.skipped, r.disabled = maps.Clone(ok.skipped), maps.Clone(ok.disabled)
		mutate(&r)
		if problems := p.check(r); len(problems) == 0 {
			t.Errorf("%s: the gate passed it", name)
		}
	}
	const out = "==== request dump ====\nname: skipping test:\n  api Blob upload cancel is disabled in the configuration\n"
	if got := skipReason("", out); got != "api Blob upload cancel is disabled in the configuration" {
		t.Errorf("skipReason = %q", got)
	}
	if got := skipReason("registry does not support X\n", out); got != "registry does not support X" {
		t.Errorf("skipReason = %q", got)
	}
}
